"""Data loaders: the default panel, truth, policies, wide view and status summary."""

import pandas as pd
import pytest

from primarycare.data import panel as data
from primarycare.data import provinces
from primarycare.data.simulate import PANEL_INDICATORS
from primarycare.errors import UserInputError


def test_default_panel_for_anhui_is_complete_and_simulated():
    panel = data.load_panel(observed=False)
    anhui = panel[panel.province == "Anhui"]
    assert sorted(anhui["year"].unique()) == list(range(2010, 2024))
    assert set(anhui["indicator"]) == set(PANEL_INDICATORS)
    assert len(anhui) == 14 * 3
    assert (anhui["status"] == "simulated").all()
    assert list(panel.columns) == data.PANEL_COLUMNS


def test_shipped_observed_file_if_any_is_valid():
    if data.OBSERVED_FILE.exists():
        from primarycare.data.schema import read_panel_csv

        obs = read_panel_csv(data.OBSERVED_FILE)
        assert (obs["status"] == "observed").all()


def test_truth_matches_panel_reforms():
    truth = data.load_truth()
    assert {"reform_id", "province", "indicator", "year", "effect", "start_year", "full_effect",
            "buildup_years"} <= set(truth.columns)
    pol = data.load_policies().set_index("id")
    for rid, g in truth.groupby("reform_id"):
        assert rid in pol.index
        assert (g["province"] == provinces.resolve(pol.loc[rid, "province"])).all()
        assert (g.loc[g.year < g.start_year, "effect"] == 0).all()


def test_policies_valid():
    pol = data.load_policies()
    assert pol["id"].is_unique
    assert set(pol["certainty"]) <= {"stated", "inferred", "unknown"}
    assert (pol["start_year"].isna() == (pol["certainty"] == "unknown")).all()
    for p in pol["province"]:
        if p != "national":
            provinces.resolve(p)
    assert {"anhui_ccmc", "zhejiang_ccmc", "fujian_sanming", "national_tight_ccmc_pilot_2019"} <= set(pol["id"])


def test_policy_lookup_and_miss():
    assert int(data.policy("zhejiang_ccmc")["start_year"]) == 2018
    with pytest.raises(UserInputError) as e:
        data.policy("anhui")
    assert "Unknown reform id 'anhui'" in str(e.value) and "anhui_ccmc" in str(e.value)


def test_policies_validation_catches_bad_rows(tmp_path, monkeypatch):
    bad = pd.read_csv(data.POLICIES_FILE)
    bad.loc[0, "certainty"] = "probably"
    p = tmp_path / "policies.csv"
    bad.to_csv(p, index=False)
    monkeypatch.setattr(data, "POLICIES_FILE", p)
    data._policies.cache_clear()
    try:
        with pytest.raises(UserInputError, match="line 2 .*certainty: 'probably'"):
            data.load_policies()
        bad = pd.read_csv(data.POLICIES_FILE.parent / "policies.csv")
        bad.loc[0, "certainty"] = "unknown"  # a year with certainty unknown
        bad.to_csv(p, index=False)
        data._policies.cache_clear()
        with pytest.raises(UserInputError, match="start_year must be empty exactly when"):
            data.load_policies()
    finally:
        data._policies.cache_clear()


def test_wide_and_status_summary():
    panel = data.load_panel(observed=False)
    w = data.wide(panel)
    assert len(w) == 31 * 14
    assert list(w.columns[:4]) == ["province", "year", "gps_per_10000", "gps_per_10000_status"]
    w1 = data.wide(panel, indicators=["gps_per_10000"])
    assert list(w1.columns) == ["province", "year", "gps_per_10000", "gps_per_10000_status"]
    with pytest.raises(UserInputError, match="Unknown indicator"):
        data.wide(panel, indicators=["nope"])
    s = data.status_summary(panel, province="安徽")
    assert set(s["status"]) == {"simulated"} and (s["n"] == 14).all() and len(s) == 3


def test_load_facts_is_reexported():
    from primarycare import facts

    assert data.load_facts().equals(facts.load_facts())
