"""The real-data importer: every fixture format (fake numbers), malformed files, merging and load_panel."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from primarycare.data import panel as data
from primarycare.data.importer import import_files, merge, parse_file, parse_nbs
from primarycare.errors import UserInputError

ROOT = Path(__file__).resolve().parent.parent
FIX = Path(__file__).parent / "fixtures"


def val(df, province, year, indicator="primary_care_visit_share"):
    sel = df[(df.province == province) & (df.year == year) & (df.indicator == indicator)]
    assert len(sel) == 1
    return float(sel["value"].iloc[0])


@pytest.mark.parametrize("name", ["nbs_share.csv", "nbs_share_bom.csv", "nbs_share_gbk.csv", "nbs_share.xlsx"])
def test_share_export_in_every_encoding_and_format(name):
    res = parse_file(FIX / name)
    p = res.panel
    assert len(p) == 6 and (p["status"] == "observed").all()
    assert val(p, "Anhui", 2022) == 11.1 and val(p, "Zhejiang", 2020) == 66.6
    assert p["source"].iloc[0] == f"{name}: NBS 指标 基层医疗卫生机构诊疗量占比(%)"
    assert any("mapped to primary_care_visit_share" in n for n in res.notes)


def test_wan_units_footnotes_and_empty_cells():
    res = parse_nbs(FIX / "nbs_visits_wan.csv")
    p = res.panel
    assert set(p["indicator"]) == {"primary_care_visits"} and set(p["unit"]) == {"visits"}
    assert val(p, "Beijing", 2022, "primary_care_visits") == 111.1 * 10_000
    assert len(p) == 8  # 9 cells, one empty; footnote rows ignored
    notes = " ".join(res.notes)
    assert "x 10,000" in notes and "1 empty cell(s) skipped: 安徽省 2021 (line 6)" in notes


def test_yi_units():
    p = parse_nbs(FIX / "nbs_visits_yi.csv").panel
    assert val(p, "Zhejiang", 2021, "primary_care_visits") == pytest.approx(4.4e8)


def test_unit_column_per_row():
    res = parse_nbs(FIX / "nbs_unit_column.csv")
    assert val(res.panel, "Anhui", 2022, "beds") == pytest.approx(11_000)
    assert val(res.panel, "Henan", 2021, "beds") == pytest.approx(444.4)


def test_missing_header_needs_indicator_flag():
    with pytest.raises(UserInputError, match="no '指标：' header line.*--indicator"):
        parse_file(FIX / "nbs_no_header.csv")
    res = parse_file(FIX / "nbs_no_header.csv", indicator="primary_care_visit_share")
    assert len(res.panel) == 2 and any("--indicator" in n for n in res.notes)
    with pytest.raises(UserInputError, match="Unknown indicator 'nonsense'"):
        parse_file(FIX / "nbs_no_header.csv", indicator="nonsense")


@pytest.mark.parametrize("name,phrases", [
    ("nbs_unknown_province.csv", ["nbs_unknown_province.csv, line 5, column 地区", "安微省", "Did you mean Anhui"]),
    ("nbs_duplicate_year.csv", ["nbs_duplicate_year.csv, line 4", "year 2021 appears twice"]),
    ("nbs_text_value.csv", ["nbs_text_value.csv, line 5, column 2021年", "'abc' is not a number"]),
    ("not_text.csv", ["not_text.csv", "neither UTF-8 nor GBK"]),
    ("empty.csv", ["empty.csv: the file is empty"]),
    ("tidy_bad.csv", ["tidy_bad.csv: 3 problems", "row 1, column 'province'"]),
])
def test_malformed_files_give_readable_errors(name, phrases):
    with pytest.raises(UserInputError) as e:
        parse_file(FIX / name)
    for ph in phrases:
        assert ph in str(e.value)


def test_unknown_nbs_indicator(tmp_path):
    p = tmp_path / "odd.csv"
    p.write_text("数据库：分省年度数据\n指标：基层医疗卫生机构诊疗人数(万人)\n地区,2022年\n安徽省,1.1\n", encoding="utf-8")
    with pytest.raises(UserInputError, match="not in data/nbs_indicators.csv.*--indicator"):
        parse_file(p)


def test_rate_with_wan_prefix_rejected(tmp_path):
    p = tmp_path / "rate.csv"
    p.write_text("指标：每万人口全科医生数(万人)\n地区,2022年\n安徽省,1.1\n", encoding="utf-8")
    with pytest.raises(UserInputError, match="prefix 万 but gps_per_10000 is a rate"):
        parse_file(p)


def test_tidy_import_resolves_provinces_and_requires_observed(tmp_path):
    p = parse_file(FIX / "tidy_observed.csv").panel
    assert p["province"].tolist() == ["Anhui", "Anhui"]
    assert p["source"].str.startswith("tidy_observed.csv: ").all()
    sim = tmp_path / "sim.csv"
    sim.write_text((FIX / "tidy_observed.csv").read_text(encoding="utf-8").replace(",observed,", ",simulated,"),
                   encoding="utf-8")
    with pytest.raises(UserInputError, match="expected 'observed'"):
        parse_file(sim)


def test_merge_replaces_and_reports(tmp_path):
    target = tmp_path / "observed.csv"
    r1 = import_files([FIX / "nbs_share.csv"], observed_path=target)
    assert (r1.changes["change"] == "added").all() and target.exists()
    r2 = import_files([FIX / "tidy_observed.csv", FIX / "nbs_share.csv"], observed_path=target)
    counts = r2.changes["change"].value_counts().to_dict()
    # the tidy file's Anhui 2020 share (22.2) is overridden by the later NBS file (33.3): later file wins
    assert counts == {"unchanged": 6, "added": 1}
    assert val(r2.merged, "Anhui", 2020) == 33.3
    # a changed value replaces the old one and is reported
    changed = tmp_path / "nbs_share.csv"
    changed.write_text((FIX / "nbs_share.csv").read_text(encoding="utf-8").replace("11.1", "99.9"), encoding="utf-8")
    r3 = import_files([changed], observed_path=target, dry_run=True)
    assert "replaced Anhui 2022 primary_care_visit_share: 11.1 -> 99.9" in r3.text()
    assert "DRY RUN" in r3.text()
    assert val(pd.read_csv(target), "Anhui", 2022) == 11.1  # dry run wrote nothing
    import_files([changed], observed_path=target)
    out = pd.read_csv(target)
    assert val(out, "Anhui", 2022) == 99.9 and len(out) == 7
    assert not out.duplicated(["province", "year", "indicator"]).any()


def test_merge_function_directly():
    new = parse_file(FIX / "nbs_share.csv").panel
    merged, changes = merge(None, new)
    assert len(merged) == 6 and (changes["change"] == "added").all()


def test_import_turns_rows_observed_in_load_panel(tmp_path, monkeypatch):
    target = tmp_path / "observed.csv"
    import_files([FIX / "nbs_share.csv"], observed_path=target)
    monkeypatch.setattr(data, "OBSERVED_FILE", target)
    panel = data.load_panel()
    share = panel[panel.indicator == "primary_care_visit_share"]
    obs = share[share.status == "observed"]
    assert len(obs) == 6
    assert set(obs["province"]) == {"Anhui", "Zhejiang"} and set(obs["year"]) == {2020, 2021, 2022}
    assert val(panel, "Anhui", 2022) == 11.1
    other = panel[~panel.set_index(["province", "year", "indicator"]).index.isin(
        obs.set_index(["province", "year", "indicator"]).index)]
    assert (other["status"] == "simulated").all() and len(panel) == 31 * 14 * 3
    assert (data.load_panel(observed=False)["status"] == "simulated").all()


def test_load_panel_with_user_panel_path():
    panel = data.load_panel(observed=False, panel_path=FIX / "nbs_visits_wan.csv")
    visits = panel[panel.indicator == "primary_care_visits"]
    assert len(visits) == 8 and (visits["status"] == "observed").all()
    with pytest.raises(UserInputError, match="tidy_bad.csv"):
        data.load_panel(panel_path=FIX / "tidy_bad.csv")


def test_script_dry_run_and_error_exit(tmp_path):
    target = tmp_path / "obs.csv"
    ok = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_data.py"), str(FIX / "nbs_share.csv"),
                         "--dry-run", "--observed", str(target)], capture_output=True, text=True)
    assert ok.returncode == 0 and "6 added" in ok.stdout and not target.exists()
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_data.py"),
                          str(FIX / "nbs_unknown_province.csv"), "--observed", str(target)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Did you mean Anhui" in bad.stderr and "Traceback" not in bad.stderr


# ---------- yearbook tables, HTML .xls, derived outcomes (fixtures: FAKE NUMBERS FOR TESTS) ----------

from tests.fixtures.yearbook.make_fixtures import YEARS, expected, write_all  # noqa: E402


@pytest.fixture(scope="module")
def yearbook(tmp_path_factory):
    return write_all(tmp_path_factory.mktemp("yearbook"))


def test_yearbook_table_every_institution_type_padded_names_and_units(yearbook):
    path = next(p for p in yearbook if p.name == "visits_2019.csv")
    assert path.read_bytes().decode("gbk").startswith("2-2-1 各地区医疗卫生机构诊疗人次（2019年）")
    res = parse_file(path)
    p = res.panel
    exp = expected().set_index(["province", "year"])
    assert len(p) == 31 * 7 and set(p["year"]) == {2019}
    assert set(p["indicator"]) == {"total_visits", "hospital_visits", "primary_care_visits", "other_visits",
                                   "community_centre_station_visits", "township_health_centre_visits",
                                   "village_clinic_visits"}
    assert val(p, "Beijing", 2019, "primary_care_visits") == exp.loc[("Beijing", 2019), "primary_care_visits"] * 1e4
    assert val(p, "Inner Mongolia", 2019, "village_clinic_visits") == pytest.approx(
        exp.loc[("Inner Mongolia", 2019), "village_visits"] * 1e4)
    assert (p["source"] == "visits_2019.csv: 2-2-1 各地区医疗卫生机构诊疗人次（2019年）").all()
    notes = " ".join(res.notes)
    assert "national row" in notes and "regional subtotal" in notes and "x 10,000" in notes
    assert "year 2019 from the title" in notes


def test_yearbook_year_from_file_name_and_every_format(yearbook):
    by_name = {p.name: p for p in yearbook}
    assert "year 2021 from the file name" in " ".join(parse_file(by_name["visits_2021.csv"]).notes)
    exp = expected().set_index(["province", "year"])
    for name, y in (("visits_2012.xlsx", 2012), ("visits_2015.xls", 2015), ("visits_2021.csv", 2021)):
        p = parse_file(by_name[name]).panel
        assert len(p) == 31 * 7, name
        assert val(p, "Xinjiang", y, "total_visits") == pytest.approx(exp.loc[("Xinjiang", y), "total_visits"] * 1e4)


def test_staff_and_gp_tables_map_by_institution_and_skip_unknown_columns(yearbook):
    by_name = {p.name: p for p in yearbook}
    res = parse_file(by_name["staff_2016.csv"])
    assert set(res.panel["indicator"]) == {"health_staff_total", "hospital_staff", "primary_care_staff",
                                           "other_institution_staff"}
    assert "skipped: 注册护士" in " ".join(res.notes)
    gps = parse_file(by_name["gps_2016.csv"])
    assert set(gps.panel["indicator"]) == {"general_practitioners", "hospital_gps", "primary_care_gps"}
    assert "每万人口全科医生数" in " ".join(gps.notes)  # a per-capita column is derived, never imported as a count
    exp = expected().set_index(["province", "year"])
    assert val(gps.panel, "Anhui", 2016, "general_practitioners") == exp.loc[("Anhui", 2016), "gps_total"]


def test_table_of_one_institution_type_with_staff_category_columns(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("表 5-3 各地区基层医疗卫生机构人员数（2020年）\n单位：人\n地区,合计,卫生技术人员,#执业(助理)医师,注册护士\n"
                 "安　徽,10,6,3,2\n注：FAKE NUMBERS FOR TESTS\n", encoding="utf-8")
    p = parse_file(f).panel.set_index("indicator")["value"].to_dict()
    assert p == {"primary_care_staff": 10.0, "primary_care_health_technicians": 6.0, "primary_care_physicians": 3.0}


def test_corps_row_skipped_and_unknown_province_named_with_its_line(tmp_path):
    f = tmp_path / "visits_2020.csv"
    f.write_text("各地区医疗卫生机构诊疗人次（2020年）\n单位：万人次\n地区,医院\n新　疆,1\n新疆生产建设兵团,2\n安　微,3\n",
                 encoding="utf-8")
    with pytest.raises(UserInputError) as e:
        parse_file(f)
    assert "visits_2020.csv, line 6, column 地区" in str(e.value) and "Did you mean Anhui" in str(e.value)
    f.write_text(f.read_text(encoding="utf-8").replace("安　微", "安　徽"), encoding="utf-8")
    res = parse_file(f)
    assert len(res.panel) == 2 and "not one of the 31 provinces" in " ".join(res.notes)


def test_table_needs_table_flag_when_ambiguous_and_year_flag(tmp_path):
    f = tmp_path / "odd.csv"
    f.write_text("各地区情况\n地区,医院,基层医疗卫生机构\n安徽,1,2\n", encoding="utf-8")
    with pytest.raises(UserInputError, match="no year in the title.*--year"):
        parse_file(f)
    with pytest.raises(UserInputError, match="do not say what is counted.*--table"):
        parse_file(f, year=2018)
    p = parse_file(f, table="visits", year=2018).panel
    assert set(p["indicator"]) == {"hospital_visits", "primary_care_visits"} and set(p["year"]) == {2018}


def test_html_saved_as_xls_detected_by_content(tmp_path, yearbook):
    html = yearbook[0].parent / "population_html.xls"
    assert html.read_bytes().lstrip().startswith(b"<html")
    res = parse_file(html)
    assert len(res.panel) == 31 * len(YEARS) and set(res.panel["indicator"]) == {"resident_population"}
    assert val(res.panel, "Guangxi", 2011, "resident_population") == pytest.approx(
        expected().set_index(["province", "year"]).loc[("Guangxi", 2011), "population"] * 1e4)
    # the same page with a .csv name or no extension: detected by content, not extension
    for name in ("pop.csv", "pop"):
        copy = tmp_path / name
        copy.write_bytes(html.read_bytes())
        assert len(parse_file(copy).panel) == 31 * len(YEARS)


def test_html_parser_agrees_with_pandas_read_html(yearbook):
    from primarycare.data.importer import read_grid

    html = yearbook[0].parent / "population_html.xls"
    ours = read_grid(html).rows
    theirs = pd.read_html(html, header=None)[0].fillna("").astype(str)  # test oracle (lxml)
    assert len(ours) == len(theirs)
    hdr = next(i for i, r in enumerate(ours) if r[0] == "地区")
    for a, b in zip(ours[hdr:hdr + 5], theirs.values[hdr:hdr + 5], strict=True):
        assert a[:3] == [str(x) for x in b[:3]]


def test_fourteen_yearbook_years_to_an_observed_panel_with_derived_outcomes(yearbook, tmp_path, monkeypatch):
    target = tmp_path / "observed.csv"
    files = yearbook + [yearbook[0].parent / "population.csv"]
    report = import_files(files, observed_path=target)
    assert (report.changes["change"] == "added").all()
    monkeypatch.setattr(data, "OBSERVED_FILE", target)
    panel = data.load_panel()
    exp = expected().set_index(["province", "year"])
    for outcome in ("primary_care_visit_share", "primary_care_staff_per_1000", "gps_per_10000"):
        rows = panel[panel["indicator"] == outcome]
        obs = rows[rows["year"].isin(YEARS)]
        assert len(obs) == 31 * 14 and (obs["status"] == "observed").all(), outcome
    share = val(panel, "Anhui", 2016)
    e = exp.loc[("Anhui", 2016)]
    assert share == pytest.approx(e["primary_care_visits"] / e["total_visits"] * 100, abs=1e-6)
    assert val(panel, "Anhui", 2016, "primary_care_staff_per_1000") == pytest.approx(
        e["primary_care_staff"] / (e["population"] * 1e4) * 1000, abs=1e-6)
    assert val(panel, "Anhui", 2016, "gps_per_10000") == pytest.approx(
        e["gps_total"] / (e["population"] * 1e4) * 10000, abs=1e-6)
    src = panel[(panel.province == "Anhui") & (panel.year == 2016) & (panel.indicator == "gps_per_10000")]["source"]
    assert src.iloc[0] == ("derived from general_practitioners (gps_2016.csv: 4-2-1 各地区全科医生数（2016年）) and "
                           "resident_population (population.csv: NBS 指标 年末常住人口(万人))")


def test_derived_from_shipped_real_population_when_none_imported(yearbook, tmp_path, monkeypatch):
    from primarycare.data.real import real_population

    target = tmp_path / "observed.csv"
    import_files([p for p in yearbook if p.name.startswith("gps_")], observed_path=target)
    monkeypatch.setattr(data, "OBSERVED_FILE", target)
    panel = data.load_panel()
    gp = panel[(panel.indicator == "gps_per_10000") & (panel.status == "observed")]
    assert set(gp["year"]) == set(YEARS)  # the real population covers 2010-2024
    pop = real_population().set_index(["province", "year"])["value"]
    exp = expected().set_index(["province", "year"])
    assert val(panel, "Zhejiang", 2020, "gps_per_10000") == pytest.approx(
        exp.loc[("Zhejiang", 2020), "gps_total"] / pop[("Zhejiang", 2020)] * 10000, abs=1e-6)
    assert "resident_population (github:pik-piam" in gp["source"].iloc[0]


def test_imported_outcome_wins_over_derived_and_simulated_inputs_are_not_observed(tmp_path):
    base = pd.DataFrame({"province": ["Anhui"] * 3, "year": [2020] * 3,
                         "indicator": ["primary_care_visits", "total_visits", "primary_care_visit_share"],
                         "value": [50.0, 200.0, 30.0], "unit": ["visits", "visits", "%"],
                         "status": ["observed", "observed", "observed"], "source": ["a", "b", "c"]})
    out = data.derive(base)
    assert val(out, "Anhui", 2020) == 30.0  # imported share kept
    out = data.derive(base.iloc[:2])
    assert val(out, "Anhui", 2020) == 25.0
    assert out[out.indicator == "primary_care_visit_share"]["source"].iloc[0] == \
        "derived from primary_care_visits (a) and total_visits (b)"
    mixed = base.iloc[:2].assign(status=["observed", "simulated"])
    got = data.derive(mixed)
    assert got[got.indicator == "primary_care_visit_share"]["status"].iloc[0] == "simulated"


def test_cli_imports_many_files_in_one_command(yearbook, tmp_path):
    target = tmp_path / "obs.csv"
    files = [str(p) for p in yearbook if p.name.startswith("visits_201")][:3]
    ok = subprocess.run([sys.executable, "-m", "primarycare", "import", *files, "--observed", str(target)],
                        capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert f"{3 * 31 * 7} added" in ok.stdout and len(pd.read_csv(target)) == 3 * 31 * 7


# ---------- bad input: non-finite values, file lines, file-system errors ----------

@pytest.mark.parametrize("cell", ["inf", "-inf", "1e400", "nan", "NaN", "Infinity"])
def test_non_finite_values_refused_with_the_file_line(tmp_path, cell):
    nbs = tmp_path / "nbs.csv"
    nbs.write_text(f"指标：基层医疗卫生机构诊疗量占比(%)\n地区,2022年,2021年\n安徽省,1.1,2.2\n浙江省,3.3,{cell}\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=rf"nbs.csv, line 4, column 2021年: '{cell}' is not a finite number"):
        parse_file(nbs)
    yb = tmp_path / "visits_2019.csv"
    yb.write_text(f"各地区医疗卫生机构诊疗人次（2019年）\n单位：万人次\n地区,医院\n全　国,1\n\n安　徽,{cell}\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"visits_2019.csv, line 6, column 医院: .* not a finite number"):
        parse_file(yb)
    tidy = tmp_path / "tidy.csv"
    tidy.write_text("province,year,indicator,value,unit,status,source\n"
                    f"Anhui,2020,primary_care_visit_share,{cell},%,observed,x\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"row 1, column 'value'"):
        parse_file(tidy)


def test_errors_after_reshaping_point_at_the_file_line_and_column(tmp_path):
    f = tmp_path / "share.csv"
    f.write_text("数据库：分省年度数据\n指标：基层医疗卫生机构诊疗量占比(%)\n地区,2022年,2021年\n安徽省,11.1,22.2\n\n"
                 "浙江省,33.3,133.3\n", encoding="utf-8")
    with pytest.raises(UserInputError) as e:
        parse_file(f)
    msg = str(e.value)
    assert "line 6, column 2021年 (浙江省 2021), panel column 'value': found 133.3" in msg
    assert "between 0 and 100" in msg and "row 4" not in msg


def test_tidy_errors_name_the_file_line_when_blank_lines_shift_rows(tmp_path):
    f = tmp_path / "tidy.csv"
    f.write_text("province,year,indicator,value,unit,status,source\n\n"
                 "Anhui,2020,primary_care_visit_share,1,%,observed,x\n\n\n"
                 "Anhui,2021,primary_care_visit_share,200,%,observed,x\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"row 2 \(line 6\), panel column 'value': found '200'"):
        parse_file(f)


def test_folder_given_as_file(tmp_path):
    with pytest.raises(UserInputError, match="is a folder, not a file"):
        parse_file(tmp_path)
    with pytest.raises(UserInputError, match="is a folder, not a file"):
        import_files([tmp_path], observed_path=tmp_path / "o.csv")


def test_unreadable_file(tmp_path, monkeypatch):
    f = tmp_path / "x.csv"
    f.write_text("a", encoding="utf-8")

    def deny(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(UserInputError, match="cannot be read: permission denied"):
        parse_file(f)


@pytest.mark.parametrize("err,words", [(28, "the disk is full"), (30, "read-only"), (13, "permission denied")])
def test_full_or_read_only_target_leaves_the_old_file(tmp_path, monkeypatch, err, words):
    import os

    target = tmp_path / "observed.csv"
    import_files([FIX / "nbs_share.csv"], observed_path=target)
    before = target.read_bytes()

    def fail(src, dst):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(UserInputError) as e:
        import_files([FIX / "nbs_visits_wan.csv"], observed_path=target)
    assert words in str(e.value) and "Nothing was changed" in str(e.value)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["observed.csv"]  # no temporary file left behind


def test_target_is_a_folder(tmp_path):
    with pytest.raises(UserInputError, match="it is a folder"):
        import_files([FIX / "nbs_share.csv"], observed_path=tmp_path)


def test_odd_non_utf8_file_name(tmp_path):
    import os

    raw = os.fsencode(str(tmp_path)) + b"/\xff\xfeshare.csv"
    path = Path(os.fsdecode(raw))
    path.write_bytes((FIX / "nbs_share.csv").read_bytes())
    res = parse_file(path)
    assert res.panel["source"].iloc[0].startswith("\ufffd\ufffdshare.csv: ")
    target = tmp_path / "o.csv"
    import_files([path], observed_path=target)  # the source cell is writable as UTF-8
    assert "share.csv" in target.read_text(encoding="utf-8")
    bad = Path(os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff\xfebad.csv"))
    bad.write_text("指标：基层医疗卫生机构诊疗量占比(%)\n地区,2022年\n安微省,1\n", encoding="utf-8")
    with pytest.raises(UserInputError) as e:
        parse_file(bad)
    str(e.value).encode("utf-8")  # printable: no lone surrogates in the message
    assert "bad.csv, line 3" in str(e.value)
