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
