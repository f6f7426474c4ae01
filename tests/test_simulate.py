"""The simulated teaching panel (calibration, truth, determinism) and the staggered simulator."""


from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from primarycare import provinces
from primarycare.data.simulate import (
    PANEL_INDICATORS,
    default_effects,
    load_config,
    national,
    simulate_panel,
    simulate_staggered,
)

ROOT = Path(__file__).resolve().parent.parent
CFG = load_config()
TOL = CFG["tolerances"]
YEARS = range(2010, 2024)


@pytest.fixture(scope="module")
def sim():
    return simulate_panel(seed=CFG["seed"], years=YEARS)


def value(panel, province, indicator, year):
    sel = panel[(panel.province == province) & (panel.indicator == indicator) & (panel.year == year)]
    assert len(sel) == 1
    return float(sel["value"].iloc[0])


def test_shape_and_status(sim):
    p = sim.panel
    assert len(p) == 31 * 14 * 3
    assert set(p["province"]) == set(provinces.names())
    assert set(p["indicator"]) == set(PANEL_INDICATORS)
    assert (p["status"] == "simulated").all()
    assert (p["source"] == f"simulated: primarycare.simulate seed={CFG['seed']}").all()
    assert not p.duplicated(["province", "year", "indicator"]).any()
    share = p[p.indicator == "primary_care_visit_share"]["value"]
    assert share.between(0, 100).all() and (p["value"] > 0).all()


def test_deterministic_and_seed_matters(sim):
    again = simulate_panel(seed=CFG["seed"], years=YEARS)
    pd.testing.assert_frame_equal(sim.panel, again.panel)
    pd.testing.assert_frame_equal(sim.truth, again.truth)
    other = simulate_panel(seed=CFG["seed"] + 1, years=YEARS)
    assert not np.allclose(sim.panel["value"], other.panel["value"])


@pytest.mark.parametrize("seed", [CFG["seed"], 1, 99])
def test_national_targets_met_for_any_seed(seed):
    nat = national(simulate_panel(seed=seed, years=YEARS).panel).set_index(["indicator", "year"])["value"]
    for ind in ("primary_care_visit_share", "gps_per_10000"):
        for year, t in CFG["indicators"][ind]["national_targets"].items():
            assert abs(nat[(ind, int(year))] - t["value"]) <= TOL["national"], (ind, year)


def test_province_targets_met_default_seed(sim):
    share = CFG["indicators"]["primary_care_visit_share"]["province_targets"]
    for prov, targets in share.items():
        for year, t in targets.items():
            v = value(sim.panel, prov, "primary_care_visit_share", int(year))
            assert abs(v - t["value"]) <= TOL["province_share_pp"], (prov, year, v)
    v = value(sim.panel, "Jiangsu", "gps_per_10000", 2022)
    assert abs(v - 5.38) <= TOL["province_gps"]


def test_targets_are_the_reported_figures():
    """The calibration targets in simulation.yml are the figures named in the brief (not retyped)."""
    share = CFG["indicators"]["primary_care_visit_share"]
    assert {y: t["value"] for y, t in share["national_targets"].items()} == {2014: 57.4, 2015: 56.4, 2021: 50.2}
    assert [t["value"] for t in share["province_targets"]["Beijing"].values()] == [29.92, 30.09, 28.93, 28.07, 27.99]
    gps = CFG["indicators"]["gps_per_10000"]["national_targets"]
    assert {y: t["value"] for y, t in gps.items()} == {2015: 1.38, 2019: 2.61, 2021: 3.08, 2022: 3.28, 2023: 3.99}


def test_truth_equals_panel_minus_null_panel(sim):
    null = simulate_panel(seed=CFG["seed"], years=YEARS, effects=None)
    assert null.truth.empty
    diff = sim.panel.copy()
    diff["effect"] = sim.panel["value"].to_numpy() - null.panel["value"].to_numpy()
    summed = sim.truth.groupby(["province", "indicator", "year"])["effect"].sum()
    d = diff.set_index(["province", "indicator", "year"])["effect"]
    np.testing.assert_allclose(d.reindex(summed.index), summed, atol=1e-9)
    untouched = d.drop(summed.index)
    assert np.abs(untouched).max() < 1e-9


def test_truth_shape_and_buildup(sim):
    t = sim.truth
    assert set(t["reform_id"]) >= {"anhui_ccmc", "zhejiang_ccmc", "chongqing_ccmc_2020", "guizhou_subcentres",
                                   "shanghai_fd_fee", "jiangsu_first_contact", "fujian_sanming",
                                   "henan_kaifeng_ccmc"}
    assert not t["reform_id"].str.startswith("national").any()
    a = t[(t.reform_id == "anhui_ccmc") & (t.indicator == "primary_care_visit_share")].set_index("year")
    assert (a.loc[:2014, "effect"] == 0).all()
    assert a.loc[2015, "effect"] == pytest.approx(1.0) and a.loc[2017, "effect"] == pytest.approx(3.0)
    assert (a.loc[2017:, "effect"] == a["full_effect"].iloc[0]).all()
    # assumed years are labelled as simulation assumptions
    g = t[t.reform_id == "guizhou_subcentres"]
    assert (g["start_year_basis"] == "assumed in simulation").all()


def test_custom_effects_table():
    eff = pd.DataFrame([{"reform_id": "x", "province": "安徽", "indicator": "gps_per_10000", "start_year": 2018,
                         "full_effect": 1.0, "buildup_years": 1}])
    a = simulate_panel(seed=5, years=YEARS, effects=eff)
    b = simulate_panel(seed=5, years=YEARS, effects=None)
    d = a.panel["value"] - b.panel["value"]
    hit = (a.panel.province == "Anhui") & (a.panel.indicator == "gps_per_10000") & (a.panel.year >= 2018)
    np.testing.assert_allclose(d[hit], 1.0)
    assert np.abs(d[~hit]).max() < 1e-12


def test_effects_have_no_national_reforms_and_assumptions_have_reasons():
    eff = default_effects()
    assert not eff["province"].eq("national").any()
    for rid, spec in CFG["effects"].items():
        if spec["start_year"] != "policy":
            assert "SIMULATION ASSUMPTION" in spec["start_year_reason"], rid


def test_wide_view(sim):
    w = sim.wide()
    assert len(w) == 31 * 14
    assert {"gps_per_10000", "gps_per_10000_status"} <= set(w.columns)


def test_committed_files_reproduce_exactly(tmp_path):
    from primarycare.data.simulate import write_outputs

    write_outputs(tmp_path, int(CFG["seed"]))
    for name in ("simulated.csv", "truth.csv"):
        committed = (ROOT / "data" / "panel" / name).read_text(encoding="utf-8")
        assert (tmp_path / name).read_text(encoding="utf-8") == committed, name


# ---------- generic staggered simulator ----------

def test_staggered_columns_and_cohorts():
    df = simulate_staggered(n_units=100, n_periods=10, cohorts={2013: 0.3, 2016: 0.3}, seed=1)
    assert list(df.columns) == ["unit", "time", "first_treated", "treated", "y", "true_effect"]
    units = df.groupby("unit")["first_treated"].first()
    assert units.value_counts().to_dict() == {0: 40, 2013: 30, 2016: 30}
    assert ((df["treated"] == 1) == ((df.first_treated > 0) & (df.time >= df.first_treated))).all()
    assert (df.loc[df.treated == 0, "true_effect"] == 0).all()


def test_staggered_deterministic_at_county_scale():
    a = simulate_staggered(n_units=2800, n_periods=15, n_cohorts=4, seed=3)
    assert len(a) == 2800 * 15
    pd.testing.assert_frame_equal(a, simulate_staggered(n_units=2800, n_periods=15, n_cohorts=4, seed=3))


def test_staggered_designs():
    dyn = simulate_staggered(n_units=50, n_periods=10, cohorts={2014: 0.5}, effect=1.0, dynamic=0.5, seed=0)
    tr = dyn[dyn.treated == 1]
    np.testing.assert_allclose(tr["true_effect"], 1.0 + 0.5 * (tr["time"] - tr["first_treated"]))
    het = simulate_staggered(n_units=90, n_periods=12, cohorts={2013: 1 / 3, 2016: 1 / 3, 2019: 1 / 3},
                             effect=2.0, heterogeneous=True, seed=0)
    by = het[het.treated == 1].groupby("first_treated")["true_effect"].first()
    assert by[2013] > by[2016] > by[2019] and np.isclose(by.mean(), 2.0)
    null = simulate_staggered(n_units=50, effect=0.0, seed=0)
    assert (null["true_effect"] == 0).all()
    unb = simulate_staggered(n_units=200, n_periods=10, drop_share=0.2, seed=0)
    assert 0.7 * 2000 < len(unb) < 0.9 * 2000


def test_staggered_null_twfe_is_unbiased_on_average():
    """Under the null a simple DiD on many draws centres on zero (vectorised Monte Carlo check)."""
    ests = []
    for s in range(40):
        d = simulate_staggered(n_units=60, n_periods=8, cohorts={2014: 0.5}, effect=0.0, seed=s)
        post, trt = d.time >= 2014, d.first_treated > 0
        m = d.groupby([trt, post])["y"].mean()
        ests.append((m[(True, True)] - m[(True, False)]) - (m[(False, True)] - m[(False, False)]))
    assert abs(np.mean(ests)) < 3 * np.std(ests) / np.sqrt(len(ests))
    est_effect = []
    for s in range(40):
        d = simulate_staggered(n_units=60, n_periods=8, cohorts={2014: 0.5}, effect=2.0, seed=s)
        post, trt = d.time >= 2014, d.first_treated > 0
        m = d.groupby([trt, post])["y"].mean()
        est_effect.append((m[(True, True)] - m[(True, False)]) - (m[(False, True)] - m[(False, False)]))
    assert abs(np.mean(est_effect) - 2.0) < 0.3


def test_staggered_bad_inputs():
    from primarycare.errors import UserInputError

    with pytest.raises(UserInputError, match="cohort 2030 is outside"):
        simulate_staggered(cohorts={2030: 0.5})
    with pytest.raises(UserInputError, match="sum to at most 1"):
        simulate_staggered(cohorts={2013: 0.7, 2015: 0.6})


