"""Case configuration validation (primarycare.cases): good cases load, bad ones name the case and key."""

from __future__ import annotations

import pytest
import yaml

from primarycare import cases
from primarycare.errors import UserInputError

DEFAULTS = {"outcomes": ["primary_care_visit_share"], "window": [2010, 2023]}


def write(tmp_path, cases_block, defaults=DEFAULTS):
    p = tmp_path / "cases.yml"
    p.write_text(yaml.safe_dump({"defaults": defaults, "cases": cases_block}, allow_unicode=True), encoding="utf-8")
    return p


def test_shipped_cases_are_valid():
    c = cases.load_cases()
    assert {"anhui", "zhejiang", "chongqing", "guizhou"} <= set(c)
    assert c["anhui"].reform_year == 2015 and c["anhui"].reform_year_source == "policy (inferred)"
    assert c["zhejiang"].reform_year == 2018
    g = c["guizhou"]
    assert g.reform_year_source == "assumed in case config" and g.reform_year_reasoning and g.robustness_years
    ch = c["chongqing"]
    assert 2019 in ch.compare_years and 2022 in ch.compare_years
    assert ch.window[0] <= 2019 and ch.window[1] >= 2022


def test_auto_exclusions_come_from_policies():
    ex = cases.auto_exclusions("Anhui")
    assert "Anhui" not in ex
    assert {"Zhejiang", "Chongqing", "Guizhou", "Shanghai", "Jiangsu", "Fujian", "Henan"} <= set(ex)
    assert "zhejiang_ccmc" in ex["Zhejiang"]
    c = cases.load_cases()["anhui"]
    assert "Anhui" not in c.donors and "Zhejiang" not in c.donors and "Beijing" in c.donors


def test_chinese_province_name_resolves(tmp_path):
    c = cases.load_cases(write(tmp_path, {"ah": {"province": "安徽", "reform": "anhui_ccmc"}}))
    assert c["ah"].province == "Anhui"


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"province": "Anhiu", "reform": "anhui_ccmc"}, ["'bad'", "province", "Anhui"]),
        ({"province": "Anhui", "reform": "zhejiang_ccmc"}, ["'bad'", "reform", "belongs to Zhejiang"]),
        ({"province": "Anhui", "reform": "no_such_reform"}, ["'bad'", "reform", "anhui_ccmc"]),
        ({"province": "Guizhou", "reform": "guizhou_subcentres"}, ["'bad'", "reform_year", "unknown",
                                                                  "reform_year_reasoning", "robustness_years"]),
        ({"province": "Guizhou", "reform": "guizhou_subcentres", "reform_year": 2019},
         ["reform_year", "reform_year_reasoning"]),
        ({"province": "Anhui", "reform": "anhui_ccmc", "reform_year": 2011, "reform_year_reasoning": "x",
          "robustness_years": [2014]}, ["reform_year", "pre-reform years"]),
        ({"province": "Anhui", "reform": "anhui_ccmc", "reform_year": 2030, "reform_year_reasoning": "x",
          "robustness_years": [2016]}, ["reform_year", "after the last year"]),
        ({"province": "Anhui", "reform": "anhui_ccmc", "n_permutations": "many"}, ["n_permutations", "whole number"]),
        ({"province": "Anhui", "reform": "anhui_ccmc", "window": [2023, 2010]}, ["window", "first < last"]),
        ({"province": "Anhui", "reform": "anhui_ccmc", "outcomes": ["visits_per_cat"]}, ["outcomes", "visits_per_cat"]),
        ({"province": "Anhui", "reform": "anhui_ccmc", "colour": "red"}, ["colour", "unknown key"]),
        ({"province": "Anhui", "reform": "anhui_ccmc", "robustness_years": [2011]}, ["robustness_years", "2011"]),
        ({"reform": "anhui_ccmc"}, ["province", "missing"]),
    ],
)
def test_bad_case_names_case_and_key(tmp_path, spec, words):
    with pytest.raises(UserInputError) as err:
        cases.load_cases(write(tmp_path, {"bad": spec}))
    msg = str(err.value)
    for w in words:
        assert w in msg, (w, msg)
    assert "\n" not in msg


def test_too_few_donors(tmp_path):
    from primarycare import provinces

    others = [p for p in provinces.names() if p != "Anhui"][:-1]
    with pytest.raises(UserInputError, match="donors_exclude"):
        cases.load_cases(write(tmp_path, {"bad": {"province": "Anhui", "reform": "anhui_ccmc",
                                                  "donors_exclude": others}}))


def test_bad_case_id_and_bad_yaml(tmp_path):
    with pytest.raises(UserInputError, match="Case id"):
        cases.load_cases(write(tmp_path, {"Bad Id": {"province": "Anhui", "reform": "anhui_ccmc"}}))
    p = tmp_path / "broken.yml"
    p.write_text("cases: [unclosed", encoding="utf-8")
    with pytest.raises(UserInputError, match="not valid YAML"):
        cases.load_cases(p)


def test_user_specified_reform(tmp_path):
    c = cases.load_cases(write(tmp_path, {"hb": {"province": "Hubei", "reform": "hubei_test", "reform_year": 2017,
                                                 "reform_name": "A user's reform"}}))["hb"]
    assert c.reform_year_source == "user" and c.reform_name == "A user's reform"


def test_roundtrip_dict():
    c = cases.load_cases()["guizhou"]
    assert cases.CaseConfig.from_dict(c.to_dict()) == c


# ---- scripts/build_book.py: plan, cache keys, failing-cell index (reviewer defects 1, 2, 6) ----------


def _bb():
    from primarycare.book import build

    return build


def test_plan_keeps_each_cases_own_donor_exclusions(tmp_path, monkeypatch):
    bb = _bb()
    text = cases.CASES_FILE.read_text(encoding="utf-8")
    text += "\n  anhui_mine:\n    province: Anhui\n    reform: anhui_ccmc\n    donors_exclude: [auto, Jiangsu]\n"
    path = tmp_path / "cases.yml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(cases, "CASES_FILE", path)
    selected = cases.load_cases(path)
    params = {j.name: j.parameters for j in bb.plan(selected, 5) if j.kind == "case"}
    assert params["case anhui_mine"]["donors_exclude"] == ["auto", "Jiangsu"]
    assert params["case anhui"]["donors_exclude"] == "auto"
    # what the notebook rebuilds from these parameters keeps the exclusion
    p = params["case anhui_mine"]
    cfg = cases.from_parameters("anhui_mine", p["province"], p["reform_id"], donors_exclude=p["donors_exclude"])
    assert "Jiangsu" in cfg.excluded and cfg.excluded == selected["anhui_mine"].excluded


def test_case_keys_do_not_depend_on_other_cases():
    bb = _bb()
    all_cases = cases.load_cases()
    keys = {j.name: j.key for j in bb.keyed_plan(all_cases, 5)}
    fewer = dict(list(all_cases.items())[:-1])
    keys_fewer = {j.name: j.key for j in bb.keyed_plan(fewer, 5)}
    for name, key in keys_fewer.items():
        if name.startswith("case "):
            assert keys[name] == key, name  # removing (or adding) one case leaves the others cached
    assert keys["synthesis"] != keys_fewer["synthesis"]  # the synthesis does re-run
    cid, cfg = next(iter(all_cases.items()))
    assert bb.case_key(cfg, 5) == keys[f"case {cid}"]  # the key run_case.py records for a saved case
    assert bb.case_key(cfg, 6) != keys[f"case {cid}"]


def test_failing_cell_is_named_by_its_index_in_the_source_notebook(tmp_path):
    """Papermill's saved notebook: error banner, md, parameters, injected, anchor, failing setup cell."""
    import json

    bb = _bb()

    def cell(tags=(), src=""):
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": src, "outputs": []}

    err = "papermill-error-cell-tag"
    saved = [cell([err]), cell(src="# title"), cell(["parameters"]), cell(["injected-parameters"]),
             cell([err]), cell(src="import x\nraise RuntimeError")]
    path = tmp_path / "out.ipynb"
    path.write_text(json.dumps({"cells": saved}))
    # executed notebook (no error cells): md 0, parameters 1, injected 2, setup 3 -> source notebook cell 2
    assert bb._source_cell_index(path, 3) == 2
    assert bb._source_cell_index(path, 1) == 1  # before the injected cell nothing shifts
    msg = bb.failure_message({"name": "case x", "cell": 2, "exec_count": 3, "notebook": "notebooks/case_study.ipynb",
                              "where": bb._first_code_line("# setup\nimport x"), "error": "RuntimeError: boom"})
    assert "cell 2 of notebooks/case_study.ipynb" in msg and "`import x`" in msg
