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
