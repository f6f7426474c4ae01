"""The simulated teaching panel (parallel trends, calibration rule, truth, determinism) and the
one-reform and staggered simulators."""


import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from primarycare import provinces
from primarycare.data.simulate import (
    PANEL_INDICATORS,
    calibration_targets,
    default_effects,
    first_planted_start,
    load_config,
    national,
    simulate_one_reform,
    simulate_panel,
    simulate_staggered,
)
from primarycare.errors import UserInputError

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
    targets = calibration_targets()
    assert set(targets["primary_care_visit_share"]) == {"Beijing", "Chongqing"}
    assert targets["gps_per_10000"] == {} and targets["primary_care_staff_per_1000"] == {}
    for prov, tg in targets["primary_care_visit_share"].items():
        for year, target in tg.items():
            v = value(sim.panel, prov, "primary_care_visit_share", year)
            assert abs(v - target) <= TOL["province_share_pp"], (prov, year, v)


def test_targets_are_the_reported_figures():
    """The calibration targets in simulation.yml are the figures named in the brief (not retyped)."""
    share = CFG["indicators"]["primary_care_visit_share"]
    assert {y: t["value"] for y, t in share["national_targets"].items()} == {2014: 57.4, 2015: 56.4, 2021: 50.2}
    assert [t["value"] for t in share["province_targets"]["Beijing"].values()] == [29.92, 30.09, 28.93, 28.07, 27.99]
    assert {y: t["value"] for y, t in share["province_targets"]["Chongqing"].items()} == {2019: 50.72}
    gps = CFG["indicators"]["gps_per_10000"]["national_targets"]
    assert {y: t["value"] for y, t in gps.items()} == {2015: 1.38, 2019: 2.61, 2021: 3.08, 2022: 3.28, 2023: 3.99}


# ---------- calibration rule: only pre-reform levels ----------

def test_no_province_target_in_or_after_a_planted_reform():
    """Every province target predates every reform planted in its province (read from the config)."""
    first = first_planted_start(default_effects())
    assert first["Chongqing"] == (2020, "chongqing_ccmc_2020") and first["Jiangsu"][0] == 2017
    assert "Beijing" not in first
    for ind, by_prov in calibration_targets().items():
        for prov, tg in by_prov.items():
            if prov in first:
                assert max(tg) < first[prov][0], (ind, prov)


def test_post_reform_reports_are_documented_not_calibrated():
    share = CFG["indicators"]["primary_care_visit_share"]
    gps = CFG["indicators"]["gps_per_10000"]
    assert 2022 not in share["province_targets"]["Chongqing"]
    assert "Jiangsu" not in (gps["province_targets"] or {})
    chq = share["reported_not_calibrated"]["Chongqing"][2022]
    jsu = gps["reported_not_calibrated"]["Jiangsu"][2022]
    assert chq["value"] == 54.73 and jsu["value"] == 5.38
    for entry in (chq, jsu):
        assert "not used for calibration" in entry["reason"] and entry["source"].startswith("seed 000")


def test_putting_a_post_reform_report_back_is_refused():
    cfg = copy.deepcopy(CFG)
    cfg["indicators"]["primary_care_visit_share"]["province_targets"]["Chongqing"][2022] = {
        "value": 54.73, "source": "seed 000"}
    with pytest.raises(UserInputError, match="Chongqing: the target for 2022 is in or after 2020"):
        simulate_panel(seed=1, years=YEARS, config=cfg)
    cfg = copy.deepcopy(CFG)
    cfg["indicators"]["gps_per_10000"]["province_targets"] = {"Jiangsu": {2022: {"value": 5.38, "source": "x"}}}
    with pytest.raises(UserInputError, match="jiangsu_first_contact"):
        calibration_targets(cfg)


def test_chongqing_claim_is_not_built_into_the_panel(sim):
    """The panel's 2019-2022 change in Chongqing is whatever the simulation gives, not the reported +4.01.

    Its expected value is the common trend's change plus the planted effect (a simulation setting); the
    check is that the planted effect is not tuned to the claim: removing it moves the change by exactly
    the planted amount and the reported change sits outside what the panel shows.
    """
    null = simulate_panel(seed=CFG["seed"], years=YEARS, effects=None)
    chg = value(sim.panel, "Chongqing", "primary_care_visit_share", 2022) - value(
        sim.panel, "Chongqing", "primary_care_visit_share", 2019)
    chg0 = value(null.panel, "Chongqing", "primary_care_visit_share", 2022) - value(
        null.panel, "Chongqing", "primary_care_visit_share", 2019)
    planted = CFG["effects"]["chongqing_ccmc_2020"]["full_effect"]["primary_care_visit_share"]
    assert chg - chg0 == pytest.approx(planted)
    assert abs(chg - 4.01) > 1.0


# ---------- parallel trends in levels ----------

R_CRIT_99 = float(stats.t.ppf(0.995, 29) / np.sqrt(29 + stats.t.ppf(0.995, 29) ** 2))  # |r|, n = 31


def level_change_corr(panel: pd.DataFrame, ind: str, start: int = 2010, end: int = 2017) -> tuple[float, np.ndarray,
                                                                                                     np.ndarray]:
    w = panel[panel.indicator == ind].pivot(index="province", columns="year", values="value")
    lv, ch = w[start].to_numpy(), (w[end] - w[start]).to_numpy()
    return float(np.corrcoef(lv, ch)[0, 1]), lv, ch


@pytest.mark.parametrize("seed", [CFG["seed"], 1, 99])
def test_level_does_not_predict_change_without_planted_effects(seed):
    """With the planted effects removed, the 2010 level does not predict the 2010-2017 change.

    Bound: the two-sided 1% critical value of Pearson's r for n = 31 (about 0.456) under independence.
    Under the DGP the only link is the AR(1) noise in the 2010 level (expected r about
    -sd(u) / (sqrt(2) province_sd), under 0.1 in size). The old multiplicative DGP gave 0.96 (GPs) and
    0.71 (staff) and fails this test.
    """
    null = simulate_panel(seed=seed, years=YEARS, effects=None).panel
    assert 0.45 < R_CRIT_99 < 0.46
    for ind in PANEL_INDICATORS:
        r, _, _ = level_change_corr(null, ind)
        assert abs(r) < R_CRIT_99, (ind, seed, r)


def test_noise_free_expected_trends_are_identical():
    """Noise-free and without planted effects, every province has exactly the same change between any years."""
    null = simulate_panel(seed=CFG["seed"], years=YEARS, effects=None, noise_scale=0.0).panel
    assert null["source"].str.contains("noise_scale=0").all()
    for ind in PANEL_INDICATORS:
        w = null[null.indicator == ind].pivot(index="province", columns="year", values="value")
        change = w.sub(w[2010], axis=0)  # each province's change from 2010, every year
        dev = change.sub(change.mean(axis=0), axis=1)
        assert np.abs(dev.to_numpy()).mean() < 1e-9, ind
        assert w[2010].std() > 0.1 * CFG["indicators"][ind]["province_sd"]  # levels differ, changes do not


def test_switch_violates_parallel_trends_detectably():
    viol = simulate_panel(seed=CFG["seed"], years=YEARS, effects=None, parallel_trends=False)
    assert not viol.parallel_trends
    assert viol.panel["source"].str.contains("parallel trends violated on purpose").all()
    for ind in PANEL_INDICATORS:
        r, _, _ = level_change_corr(viol.panel, ind)
        assert r > max(R_CRIT_99, 0.8), (ind, r)
    # noise-free: the change deviates from the common change by exactly the configured divergence
    free = simulate_panel(seed=CFG["seed"], years=YEARS, effects=None, parallel_trends=False, noise_scale=0.0)
    for ind in PANEL_INDICATORS:
        spec = CFG["indicators"][ind]
        _, lv, ch = level_change_corr(free.panel, ind)
        expected = spec["divergence_per_year"] / spec["province_sd"] * 7 * (lv - lv.mean())
        np.testing.assert_allclose(ch - ch.mean(), expected, atol=1e-9)
        assert np.abs(expected).max() > 3 * spec["divergence_per_year"]


def test_switch_keeps_national_calibration_and_truth():
    viol = simulate_panel(seed=3, years=YEARS, parallel_trends=False)
    nat = national(viol.panel).set_index(["indicator", "year"])["value"]
    for ind in ("primary_care_visit_share", "gps_per_10000"):
        for year, t in CFG["indicators"][ind]["national_targets"].items():
            assert abs(nat[(ind, int(year))] - t["value"]) <= TOL["national"], (ind, year)
    null = simulate_panel(seed=3, years=YEARS, effects=None, parallel_trends=False)
    diff = viol.panel["value"].to_numpy() - null.panel["value"].to_numpy()
    assert np.isclose(diff.sum(), viol.truth["effect"].sum())
    share = viol.panel[viol.panel.indicator == "primary_care_visit_share"]["value"]
    assert share.between(0, 100).all() and (viol.panel["value"] > 0).all()


def test_default_files_are_written_with_parallel_trends():
    assert CFG["parallel_trends"] is True
    committed = pd.read_csv(ROOT / "data" / "panel" / "simulated.csv")
    assert not committed["source"].str.contains("violated").any()
    null = committed.merge(pd.read_csv(ROOT / "data" / "panel" / "truth.csv").groupby(
        ["province", "indicator", "year"], as_index=False)["effect"].sum(), how="left",
        on=["province", "indicator", "year"])
    null["value"] -= null["effect"].fillna(0.0)
    for ind in PANEL_INDICATORS:
        r, _, _ = level_change_corr(null, ind)
        assert abs(r) < R_CRIT_99, (ind, r)


def test_noise_scale_must_be_non_negative():
    with pytest.raises(UserInputError, match="noise_scale"):
        simulate_panel(seed=1, years=YEARS, noise_scale=-1)


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


# ---------- one treated province (Monte Carlo of a case) ----------

def _did(d: pd.DataFrame, reform_year: int = 2017) -> np.ndarray:
    """2x2 DiD per draw: (treated post - pre) - (comparison post - pre)."""
    g = d.assign(post=d.year >= reform_year, trt=d.first_treated > 0).groupby(
        ["draw", "trt", "post"])["outcome"].mean().unstack(["trt", "post"])
    return ((g[(True, True)] - g[(True, False)]) - (g[(False, True)] - g[(False, False)])).to_numpy()


def test_one_reform_columns_and_assignment():
    d = simulate_one_reform(seed=4)
    assert list(d.columns) == ["province", "year", "outcome", "treated", "first_treated"]
    assert len(d) == 25 * 14 and d["province"].nunique() == 25 and d["year"].min() == 2010
    ft = d.groupby("province")["first_treated"].first()
    assert (ft > 0).sum() == 1 and ft["P01"] == 2017
    assert ((d["treated"] == 1) == ((d.province == "P01") & (d.year >= 2017))).all()
    pd.testing.assert_frame_equal(d, simulate_one_reform(seed=4))
    assert not np.allclose(d["outcome"], simulate_one_reform(seed=5)["outcome"])


def test_one_reform_noise_free_parallel_trends_shock_and_effect():
    d = simulate_one_reform(n_provinces=10, effect=1.5, seed=2, noise_sd=0.0, n_draws=3, shock_2020=-1.0,
                            trend=0.2)
    np.testing.assert_allclose(_did(d), 1.5, atol=1e-12)
    w = d[d.draw == 0].pivot(index="province", columns="year", values="outcome")
    change = w.sub(w[2010], axis=0).drop(index="P01")
    np.testing.assert_allclose(change.sub(change.mean(axis=0), axis=1).to_numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(change[2020] - (change[2019] + change[2021]) / 2, -1.0, atol=1e-12)
    np.testing.assert_allclose(change[2013], 0.6, atol=1e-12)


def test_one_reform_monte_carlo_is_unbiased_with_ar1_noise():
    """200 panels in one vectorised call: the noise is AR(1) with the asked rho and sd, DiD centres on the effect."""
    kw = dict(n_provinces=25, effect=1.0, seed=11, rho=0.6, noise_sd=0.5, n_draws=200)
    d = simulate_one_reform(**kw)
    assert list(d.columns)[0] == "draw" and d["draw"].nunique() == 200 and len(d) == 200 * 25 * 14
    u = (d["outcome"] - simulate_one_reform(**{**kw, "noise_sd": 0.0})["outcome"]).to_numpy().reshape(200, 25, 14)
    lag = np.corrcoef(u[..., 1:].ravel(), u[..., :-1].ravel())[0, 1]
    assert abs(lag - 0.6) < 0.02
    assert abs(u.std() / (0.5 / np.sqrt(1 - 0.36)) - 1) < 0.03
    est = _did(d)
    assert len(np.unique(est)) == 200
    assert abs(est.mean() - 1.0) < 4 * est.std() / np.sqrt(200)
    null = _did(simulate_one_reform(**{**kw, "effect": 0.0}))
    np.testing.assert_allclose(est - null, 1.0, atol=1e-12)  # same draws: the effect is added exactly


def test_one_reform_bad_inputs():
    with pytest.raises(UserInputError, match="reform_year 2010 must be after"):
        simulate_one_reform(reform_year=2010)
    with pytest.raises(UserInputError, match="n_provinces"):
        simulate_one_reform(n_provinces=1)
    with pytest.raises(UserInputError, match="rho"):
        simulate_one_reform(rho=1.0)
    with pytest.raises(UserInputError, match="n_draws"):
        simulate_one_reform(n_draws=0)


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
    with pytest.raises(UserInputError, match="cohort 2030 is outside"):
        simulate_staggered(cohorts={2030: 0.5})
    with pytest.raises(UserInputError, match="sum to at most 1"):
        simulate_staggered(cohorts={2013: 0.7, 2015: 0.6})




def test_truth_table_is_the_effect_path_of_each_reform_row_by_row():
    """The vectorised truth table equals one effect_path per reform row, in the order of the effects."""
    from primarycare.data import simulate as S

    custom = pd.DataFrame({"reform_id": ["a", "b", "c"], "province": ["Anhui", "Anhui", "Guizhou"],
                           "indicator": ["primary_care_visit_share"] * 2 + ["gps_per_10000"],
                           "start_year": [2015, 2019.0, 2012], "full_effect": [2.5, -1, 0.3],
                           "buildup_years": [3, 1, 4], "start_year_basis": ["policy", None, "assumed"]})
    for effects in (S.default_effects(), custom):
        years = np.arange(2010, 2024)
        got = S.truth_table(effects, years)
        assert list(got.columns) == S.TRUTH_COLUMNS and len(got) == len(effects) * len(years)
        for i, r in enumerate(effects.itertuples(index=False)):
            rows = got.iloc[i * len(years):(i + 1) * len(years)]
            assert (rows["reform_id"] == r.reform_id).all() and (rows["province"] == r.province).all()
            assert rows["year"].tolist() == years.tolist()
            want = S.effect_path(years, int(r.start_year), float(r.full_effect), int(r.buildup_years))
            assert np.array_equal(rows["effect"].to_numpy(), want)
            assert (rows["start_year"] == int(r.start_year)).all() and (rows["buildup_years"] == int(r.buildup_years)).all()
    assert S.truth_table(custom.iloc[:0], range(2010, 2012)).columns.tolist() == S.TRUTH_COLUMNS


def test_effect_matrix_adds_each_provinces_reforms_in_order():
    """The planted-effect matrix equals the sum of effect_path over the reforms, added row after row (the
    same floating-point sums as a loop over the effects table)."""
    from primarycare.data import simulate as S

    provs, years = provinces.names(), np.arange(2010, 2024)
    custom = pd.DataFrame({"reform_id": list("abcd"), "province": ["Anhui", "Anhui", "Guizhou", "Anhui"],
                           "indicator": ["primary_care_visit_share"] * 2 + ["gps_per_10000", "primary_care_visit_share"],
                           "start_year": [2015, 2019.0, 2012, 2011], "full_effect": [2.5, -1.1, 0.3, 0.7],
                           "buildup_years": [3, 1, 4, 7], "start_year_basis": ["policy", None, "assumed", "x"]})
    for effects in (S.default_effects(), custom):
        for ind in S.PANEL_INDICATORS:
            want = np.zeros((len(provs), len(years)))
            for r in effects[effects["indicator"] == ind].itertuples(index=False):
                want[provs.index(r.province)] += S.effect_path(years, int(r.start_year), float(r.full_effect),
                                                               int(r.buildup_years))
            assert np.array_equal(S._effect_matrix(effects, ind, provs, years), want), ind
    assert not S._effect_matrix(None, "gps_per_10000", provs, years).any()


@pytest.mark.parametrize("seed", [2024, 7])
def test_one_indicator_is_drawn_as_in_the_full_panel(seed):
    """simulate_panel(indicators=...) gives, exactly, the full panel's rows of those indicators and their
    truth (each indicator has a random stream of its own), for either parallel-trends setting."""
    for pt in (True, False):
        full = simulate_panel(seed=seed, parallel_trends=pt)
        for ind in PANEL_INDICATORS:
            one = simulate_panel(seed=seed, parallel_trends=pt, indicators=[ind])
            want = full.panel[full.panel["indicator"] == ind].reset_index(drop=True)
            pd.testing.assert_frame_equal(one.panel, want, check_exact=True)
            truth = full.truth[full.truth["indicator"] == ind].reset_index(drop=True)
            pd.testing.assert_frame_equal(one.truth.reset_index(drop=True), truth, check_exact=True)
    two = simulate_panel(seed=seed, indicators=("gps_per_10000", "primary_care_visit_share"))
    assert list(two.panel["indicator"].unique()) == ["primary_care_visit_share", "gps_per_10000"]  # panel order
    same = simulate_panel(seed=seed, indicators="gps_per_10000")  # one name as a string
    assert set(same.panel["indicator"]) == {"gps_per_10000"}


def test_unknown_indicators_are_refused():
    with pytest.raises(UserInputError, match="indicators must be some of .*'visits'"):
        simulate_panel(indicators=["visits"])
    with pytest.raises(UserInputError, match="got none"):
        simulate_panel(indicators=[])
