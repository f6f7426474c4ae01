"""DiD estimators against peer packages (pyfixest, differences) and their defining identities."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from primarycare import did
from primarycare.data.simulate import simulate_staggered
from primarycare.errors import UserInputError

pf = pytest.importorskip("pyfixest")


def _panel(seed: int = 1, **kw) -> pd.DataFrame:
    args = dict(n_units=40, n_periods=10, n_cohorts=3, heterogeneous=True, dynamic=0.2, seed=seed)
    args.update(kw)
    df = simulate_staggered(**args)
    df["region"] = df["unit"] % 6
    return df


PANELS = {
    "balanced": dict(),
    "unbalanced": dict(drop_share=0.08),
    "no_never_treated": dict(never_share=0.0),
    "unbalanced_no_never": dict(never_share=0.0, drop_share=0.08, seed=3),
}


def _rel(a: float, b: float) -> float:
    return abs(a / b - 1)


@pytest.mark.parametrize("name", list(PANELS))
@pytest.mark.parametrize("cluster", ["unit", "region"])
@pytest.mark.parametrize("small_sample", ["nonnested", "none"])
def test_twfe_matches_pyfixest_crv1(name, cluster, small_sample):
    df = _panel(**PANELS[name])
    r = did.twfe(df, "y", "unit", "time", "treated", cluster=cluster, small_sample=small_sample)
    m = pf.feols("y ~ treated | unit + time", df, vcov={"CRV1": cluster},
                 ssc=pf.ssc(k_adj=True, k_fixef=small_sample, G_adj=True))
    assert _rel(r.estimate, m.coef().iloc[0]) < 1e-8
    assert _rel(r.se, m.se().iloc[0]) < 1e-8
    assert abs(r.p_value - m.pvalue().iloc[0]) < 1e-7
    assert r.n_obs == m._N


def test_twfe_default_ssc_is_pyfixest_default_and_iid():
    df = _panel(drop_share=0.05)
    r = did.twfe(df, "y", "unit", "time", "treated", cluster="unit")
    m = pf.feols("y ~ treated | unit + time", df, vcov={"CRV1": "unit"})
    assert _rel(r.se, m.se().iloc[0]) < 1e-8
    r = did.twfe(df, "y", "unit", "time", "treated")
    m = pf.feols("y ~ treated | unit + time", df, vcov="iid")
    assert _rel(r.se, m.se().iloc[0]) < 1e-8
    assert any("no clustering" in w for w in r.warnings)


def test_twfe_weights_match_pyfixest():
    df = _panel(drop_share=0.05)
    df["w"] = 0.5 + (df["unit"] % 5) / 4
    r = did.twfe(df, "y", "unit", "time", "treated", cluster="unit", weights="w")
    m = pf.feols("y ~ treated | unit + time", df, vcov={"CRV1": "unit"}, weights="w")
    assert _rel(r.estimate, m.coef().iloc[0]) < 1e-8
    assert _rel(r.se, m.se().iloc[0]) < 1e-8


def test_twfe_one_treated_cluster_warns_and_points_to_randomization():
    df = _panel(n_units=31, n_periods=14, cohorts={2016: 1 / 31})
    r = did.twfe(df, "y", "unit", "time", "treated", cluster="unit")
    assert r.n_treated_clusters == 1
    assert any("randomization_test" in w for w in r.warnings)
    assert "WARNING" in r.summary() and "randomization_test" in r.summary()
    assert "randomization_test" in r.to_frame()["warnings"].iloc[0]


def test_twfe_user_errors():
    df = _panel()
    with pytest.raises(UserInputError, match="not in the data"):
        did.twfe(df, "nope", "unit", "time", "treated")
    bad = df.copy()
    bad.loc[3, "treated"] = 2
    with pytest.raises(UserInputError, match="0/1"):
        did.twfe(bad, "y", "unit", "time", "treated")
    with pytest.raises(UserInputError, match="one row"):
        did.twfe(pd.concat([df, df.head(1)]), "y", "unit", "time", "treated")


@pytest.mark.parametrize("name", ["balanced", "no_never_treated"])
def test_event_study_twfe_matches_pyfixest(name):
    df = _panel(**PANELS[name])
    r = did.event_study(df, "y", "unit", "time", "first_treated", window=(-3, 4), method="twfe")
    df["rel"] = np.where(df.first_treated > 0, df.time - df.first_treated, -1).clip(-3, 4)
    m = pf.feols("y ~ i(rel, ref=-1) | unit + time", df, vcov={"CRV1": "unit"})
    t = r.table[~r.table.reference]
    np.testing.assert_allclose(t.estimate.to_numpy(), m.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(t.se.to_numpy(), m.se().to_numpy(), rtol=1e-8)
    assert set(r.table.columns) >= {"rel_time", "estimate", "se", "ci_low", "ci_high"}
    assert {"statistic", "df", "p_value"} <= set(r.pretrend)


@pytest.mark.parametrize("name", ["balanced", "unbalanced"])
def test_sun_abraham_matches_pyfixest_saturated(name):
    df = _panel()
    if name == "unbalanced":
        # pyfixest takes a unit's first *observed* treated period as its cohort, so keep that row
        rng = np.random.default_rng(0)
        drop = (rng.random(len(df)) < 0.08) & (df.time != df.first_treated)
        df = df.loc[~drop].reset_index(drop=True)
    r = did.event_study(df, "y", "unit", "time", "first_treated", window=(-20, 20), method="sun_abraham")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.event_study(df, yname="y", idname="unit", tname="time", gname="first_treated",
                             estimator="saturated")
        agg = fit.aggregate()
    agg.index = agg.index.astype(int)
    t = r.table[~r.table.reference].set_index("rel_time")
    common = t.index.intersection(agg.index)
    assert len(common) == len(t)
    np.testing.assert_allclose(t.loc[common, "estimate"], agg.loc[common, "Estimate"].astype(float), rtol=1e-7)
    np.testing.assert_allclose(t.loc[common, "se"], agg.loc[common, "Std. Error"].astype(float), rtol=1e-6)


def test_imputation_matches_pyfixest_did2s():
    df = _panel()
    r = did.event_study(df, "y", "unit", "time", "first_treated", window=(-3, 20), method="imputation")
    df["relpost"] = np.where(df.treated == 1, df.time - df.first_treated, -1)
    m = pf.did2s(df, yname="y", first_stage="~ 0 | unit + time", second_stage="~ i(relpost, ref=-1)",
                 treatment="treated", cluster="unit")
    t = r.table[r.table.rel_time >= 0]
    np.testing.assert_allclose(t.estimate.to_numpy(), m.coef().to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(t.se.to_numpy(), m.se().to_numpy(), rtol=1e-6)
    # aggregate = average imputed effect over all treated observations
    assert r.estimate == pytest.approx(np.average(t.estimate, weights=t.n_obs))


def test_imputation_unbalanced_recovers_twfe_free_effects():
    df = _panel(drop_share=0.1, heterogeneous=False, dynamic=0.0, seed=7)
    r = did.event_study(df, "y", "unit", "time", "first_treated", method="imputation")
    assert np.isfinite(r.estimate) and np.isfinite(r.se) and r.se > 0
    assert np.isfinite(r.pretrend["p_value"])


def test_event_study_window_and_method_errors():
    df = _panel()
    with pytest.raises(UserInputError):
        did.event_study(df, "y", "unit", "time", "first_treated", window=(0, 5))
    with pytest.raises(UserInputError):
        did.event_study(df, "y", "unit", "time", "first_treated", method="magic")


# Callaway and Sant'Anna against the `differences` package -----------------------------------------


@pytest.fixture(scope="module")
def cs_panel() -> pd.DataFrame:
    return simulate_staggered(n_units=50, n_periods=8, n_cohorts=3, seed=2, heterogeneous=True)


@pytest.mark.parametrize("control", ["never", "not_yet"])
@pytest.mark.parametrize("base_period", ["varying", "universal"])
@pytest.mark.parametrize("anticipation", [0, 1])
def test_callaway_santanna_matches_differences(cs_panel, control, base_period, anticipation):
    differences = pytest.importorskip("differences")
    dd = cs_panel.copy()
    dd["cohort"] = dd.first_treated.replace(0, np.nan)
    dd = dd.set_index(["unit", "time"])
    att = differences.ATTgt(data=dd, cohort_column="cohort", base_period=base_period, anticipation=anticipation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        att.fit(formula="y", control_group={"never": "never_treated", "not_yet": "not_yet_treated"}[control],
                progress_bar=False)
    theirs = att.results()
    theirs.columns = ["att", "se", "lo", "hi", "star"]
    theirs = theirs.reset_index()
    mine = did.callaway_santanna(cs_panel, "y", "unit", "time", "first_treated", control=control,
                                 anticipation=anticipation, base_period=base_period)
    m = mine.attgt.merge(theirs, on=["cohort", "time"], suffixes=("", "_d"))
    assert len(m) == len(mine.attgt) == len(theirs)
    np.testing.assert_allclose(m.att, m.att_d, atol=1e-6)
    nz = m.se_d > 0
    np.testing.assert_allclose(m.se[nz], m.se_d[nz], rtol=0.05)
    for kind, theirs_kind in [("simple", "simple"), ("dynamic", "event"), ("group", "cohort"), ("calendar", "time")]:
        a = mine.aggregate(kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b = att.aggregate(theirs_kind)
        est, se = b.iloc[:, 0].to_numpy(float), b.iloc[:, 1].to_numpy(float)
        if kind == "simple":
            assert a.estimate == pytest.approx(est[0], abs=1e-6)
            assert a.se == pytest.approx(se[0], rel=0.05)
        else:
            np.testing.assert_allclose(a.table.estimate, est, atol=1e-6)
            ok = se > 0
            np.testing.assert_allclose(a.table.se.to_numpy()[ok], se[ok], rtol=0.05)


def test_cs_dynamic_uniform_band_is_wider_and_seeded(cs_panel):
    r = did.callaway_santanna(cs_panel, "y", "unit", "time", "first_treated")
    a1, a2 = r.aggregate("dynamic", seed=5), r.aggregate("dynamic", seed=5)
    assert a1.critical_value == a2.critical_value
    assert a1.critical_value > 1.96
    assert (a1.table.band_high - a1.table.band_low >= a1.table.ci_high - a1.table.ci_low).all()


def test_cs_no_valid_comparison_is_reported(cs_panel):
    everyone = cs_panel.loc[cs_panel.first_treated > 0]
    with pytest.raises(UserInputError, match="not_yet"):
        did.callaway_santanna(everyone, "y", "unit", "time", "first_treated", control="never")
    r = did.callaway_santanna(everyone, "y", "unit", "time", "first_treated", control="not_yet")
    assert any("no comparison units" in w for w in r.warnings)  # the last cohort's late periods
    assert r.attgt["att"].notna().all() and np.isfinite(r.estimate)
    last = everyone.first_treated.max()
    assert (r.attgt.loc[r.attgt.cohort == last, "time"] < last).all()
    one = everyone.loc[everyone.first_treated == last]
    with pytest.raises(UserInputError, match="no ATT"):
        did.callaway_santanna(one, "y", "unit", "time", "first_treated", control="not_yet")


# Goodman-Bacon ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [dict(), dict(never_share=0.0), dict(cohorts={2012: 0.3, 2015: 0.3})])
def test_bacon_weights_sum_to_one_and_reproduce_twfe(kw):
    df = _panel(**kw)
    b = did.bacon_decomposition(df, "y", "unit", "time", "first_treated")
    t = did.twfe(df, "y", "unit", "time", "treated", cluster="unit")
    assert b.table.weight.sum() == pytest.approx(1.0, abs=1e-10)
    assert (b.table.weight >= 0).all()
    assert b.estimate == pytest.approx(t.estimate, rel=1e-10)
    assert set(b.table.columns) >= {"type", "estimate", "weight"}


def test_bacon_always_treated_and_unbalanced():
    df = _panel()
    df.loc[df.unit < 4, "first_treated"] = df.time.min()  # always treated from the first period
    df["treated"] = ((df.first_treated > 0) & (df.time >= df.first_treated)).astype(int)
    b = did.bacon_decomposition(df, "y", "unit", "time", "first_treated")
    assert "later vs always treated" in set(b.table.type)
    assert b.estimate == pytest.approx(did.twfe(df, "y", "unit", "time", "treated").estimate, rel=1e-10)
    ub = _panel(drop_share=0.01)
    r = did.bacon_decomposition(ub, "y", "unit", "time", "first_treated")
    assert any("unbalanced" in w for w in r.warnings)
    assert r.estimate == pytest.approx(r.twfe_estimate, rel=1e-10)


# Callaway and Sant'Anna against `moderndid` (a port of R did): edge conventions ------------------------


def _edge_panel(drop_share: float = 0.0) -> pd.DataFrame:
    """Staggered panel with units first treated after the sample (2 and 1 periods after the last one)
    and one unit treated from the first period, optionally with unit-periods missing at random."""
    df = simulate_staggered(n_units=40, n_periods=8, n_cohorts=3, seed=2, heterogeneous=True)
    tmax = df.time.max()
    never = sorted(df.loc[df.first_treated == 0, "unit"].unique())
    df.loc[df.unit.isin(never[:3]), "first_treated"] = tmax + 2
    df.loc[df.unit.isin(never[3:4]), "first_treated"] = tmax + 1
    df.loc[df.unit.isin(never[4:5]), "first_treated"] = df.time.min()
    if drop_share:
        rng = np.random.default_rng(1)
        df = df.loc[~(rng.random(len(df)) < drop_share)].reset_index(drop=True)
    return df


def _moderndid(df: pd.DataFrame, control: str):
    md = pytest.importorskip("moderndid")
    pl = pytest.importorskip("polars")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = md.att_gt(pl.from_pandas(df[["unit", "time", "first_treated", "y"]]), yname="y", tname="time",
                      idname="unit", gname="first_treated", est_method="reg", boot=False, cband=False,
                      control_group={"never": "nevertreated", "not_yet": "notyettreated"}[control])
        aggs = {k: md.aggte(m, type=k, cband=False, boot=False) for k in ("simple", "dynamic", "group")}
    t = pd.DataFrame({"cohort": np.asarray(m.groups, float), "time": np.asarray(m.times, float),
                      "att_r": m.att_gt, "se_r": m.se_gt})
    return t, aggs


@pytest.mark.parametrize("control", ["never", "not_yet"])
@pytest.mark.parametrize("drop_share", [0.0, 0.06])
def test_callaway_santanna_edges_match_moderndid(control, drop_share):
    """R did conventions: first treated after the sample = never treated; treated in the first period =
    dropped; unbalanced panel -> balanced (units observed in every period). Target: ATT(g, t) by outcome
    regression without covariates, analytic standard errors, simple/dynamic/group aggregations."""
    df = _edge_panel(drop_share)
    theirs, aggs = _moderndid(df, control)
    mine = did.callaway_santanna(df, "y", "unit", "time", "first_treated", control=control)
    late = df.time.max() + 1
    assert (mine.attgt.cohort < late).all()  # the after-sample units form no cohort
    assert mine.extra["n_first_treated_after_sample"] == 4
    assert not any("no base period" in w for w in mine.warnings)
    assert any("treated in the first period" in w for w in mine.warnings)
    first = df.groupby("unit").first_treated.first()
    full = (df.groupby("unit").size() == df.time.nunique())[first != df.time.min()]
    assert mine.extra["n_units"] == int(full.sum())
    if drop_share:
        w = [w for w in mine.warnings if "unbalanced panel" in w]
        assert w and f"{int((~full).sum())} of {len(full)} units" in w[0]
    m = mine.attgt.merge(theirs, on=["cohort", "time"])
    assert len(m) == len(mine.attgt) == len(theirs)
    np.testing.assert_allclose(m.att, m.att_r, atol=1e-9)
    np.testing.assert_allclose(m.se, m.se_r, rtol=1e-6)
    assert mine.aggregate("simple").estimate == pytest.approx(aggs["simple"].overall_att, abs=1e-9)
    assert mine.aggregate("simple").se == pytest.approx(aggs["simple"].overall_se, rel=1e-6)
    dyn = mine.aggregate("dynamic")
    np.testing.assert_allclose(dyn.table.estimate, aggs["dynamic"].att_by_event, atol=1e-9)
    np.testing.assert_allclose(dyn.table.se, aggs["dynamic"].se_by_event, rtol=1e-6)
    assert dyn.estimate == pytest.approx(aggs["dynamic"].overall_att, abs=1e-9)
    grp = mine.aggregate("group")
    np.testing.assert_allclose(grp.table.estimate, aggs["group"].att_by_event, atol=1e-9)
    assert grp.se == pytest.approx(aggs["group"].overall_se, rel=1e-6)


def test_callaway_santanna_unbalanced_pairs_option():
    df = _edge_panel(0.06)
    bal = did.callaway_santanna(df, "y", "unit", "time", "first_treated")
    pairs = did.callaway_santanna(df, "y", "unit", "time", "first_treated", panel="unbalanced_pairs")
    assert not any("unbalanced panel" in w for w in pairs.warnings)
    assert pairs.extra["n_units"] > bal.extra["n_units"]
    # each cell uses the units observed in both of its periods: recompute one by hand
    row = pairs.attgt.query("rel_time == 1").iloc[0]
    w = df.pivot(index="unit", columns="time", values="y")
    g = df.groupby("unit").first_treated.first().reindex(w.index)
    dy = w[row.time] - w[row.base_period]
    tr, co = dy[(g == row.cohort)].dropna(), dy[(g == 0) | (g > df.time.max())].dropna()
    assert row.att == pytest.approx(tr.mean() - co.mean(), abs=1e-12)
    assert row.n_control == len(co)
    with pytest.raises(UserInputError, match="panel"):
        did.callaway_santanna(df, "y", "unit", "time", "first_treated", panel="pairs")


@pytest.mark.parametrize("method", ["sun_abraham", "imputation", "twfe"])
def test_event_study_first_treated_after_sample_is_never_treated(method):
    """fixest's sunab and R did count units first treated after the last period as never treated: the
    result must equal the one with those units coded 0, and (Sun-Abraham) pyfixest's saturated event
    study on the recoded data."""
    df = _panel()
    never = sorted(df.loc[df.first_treated == 0, "unit"].unique())
    late = df.copy()
    late.loc[late.unit.isin(never[:4]), "first_treated"] = df.time.max() + 3
    r = did.event_study(late, "y", "unit", "time", "first_treated", window=(-20, 20), method=method)
    r0 = did.event_study(df, "y", "unit", "time", "first_treated", window=(-20, 20), method=method)
    assert not any("no base period" in w or "from the first period" in w for w in r.warnings)
    pd.testing.assert_frame_equal(r.table, r0.table)
    if method == "sun_abraham":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            agg = pf.event_study(df, yname="y", idname="unit", tname="time", gname="first_treated",
                                 estimator="saturated").aggregate()
        agg.index = agg.index.astype(int)
        t = r.table[~r.table.reference].set_index("rel_time")
        np.testing.assert_allclose(t.estimate, agg.loc[t.index, "Estimate"].astype(float), rtol=1e-7)


# Event-study aggregate (post average) and joint pre-trend test, every method, against pyfixest -----


def _lincomb(b: np.ndarray, V: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    return float(w @ b), float(np.sqrt(w @ V @ w))


def _wald(b: np.ndarray, V: np.ndarray) -> float:
    return float(b @ np.linalg.solve(V, b))


def test_event_study_aggregate_and_pretrend_twfe_vs_pyfixest():
    df = _panel(drop_share=0.05)
    r = did.event_study(df, "y", "unit", "time", "first_treated", window=(-3, 4), method="twfe")
    df["rel"] = np.where(df.first_treated > 0, df.time - df.first_treated, -1).clip(-3, 4)
    m = pf.feols("y ~ i(rel, ref=-1) | unit + time", df, vcov={"CRV1": "unit"})
    rel = np.array([int(c.split("::")[1]) for c in m.coef().index])
    n = np.array([(df.rel == e).sum() for e in rel], float) * (rel >= 0)
    est, se = _lincomb(m.coef().to_numpy(), m._vcov, n / n.sum())  # post average, obs-share weights
    a = r.aggregate
    assert a["estimate"] == pytest.approx(est, rel=1e-8) and a["se"] == pytest.approx(se, rel=1e-8)
    assert (a["estimate"], a["se"], a["p_value"]) == (r.estimate, r.se, r.p_value)
    assert sum(a["weights"].values()) == pytest.approx(1.0) and min(a["weights"]) == 0
    assert a["ci_low"] < a["estimate"] < a["ci_high"] and a["df"] == df.unit.nunique() - 1
    pre = rel < 0
    R = np.eye(len(rel))[pre]
    chi2 = float(m.wald_test(R=R, distribution="chi2")["statistic"])
    assert r.pretrend["chi2"] == pytest.approx(chi2, rel=1e-7)
    assert r.pretrend["statistic"] == pytest.approx(chi2 / pre.sum(), rel=1e-7)
    assert r.pretrend["df"] == pre.sum() and r.pretrend["df_denom"] == df.unit.nunique() - 1


def test_event_study_aggregate_and_pretrend_sun_abraham_vs_pyfixest():
    """Interaction-weighted aggregate: cohort x relative-time coefficients of pyfixest's saturated
    regression, weighted by each cell's share of the post-period treated observations (in the window)."""
    df = _panel()
    window = (-3, 4)
    r = did.event_study(df, "y", "unit", "time", "first_treated", window=window, method="sun_abraham")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.event_study(df, yname="y", idname="unit", tname="time", gname="first_treated",
                             estimator="saturated")
    names = fit.coef().index
    e = np.array([float(c.split("::")[1].split(":")[0]) for c in names])
    g = np.array([float(c.split("::")[-1]) for c in names])
    cnt = np.array([((df.first_treated == gg) & (df.time - df.first_treated == ee)).sum() for gg, ee in zip(g, e, strict=True)], float)
    post = (e >= 0) & (e <= window[1])
    est, se = _lincomb(fit.coef().to_numpy(), fit._vcov, np.where(post, cnt, 0) / cnt[post].sum())
    assert r.aggregate["estimate"] == pytest.approx(est, rel=1e-7)
    assert r.aggregate["se"] == pytest.approx(se, rel=1e-6)
    # pre-trend: the interaction-weighted lead estimates -3, -2 jointly zero
    leads = [-3, -2]
    A = np.array([np.where(e == ll, cnt, 0) / cnt[e == ll].sum() for ll in leads])
    b, V = A @ fit.coef().to_numpy(), A @ fit._vcov @ A.T
    assert r.pretrend["chi2"] == pytest.approx(_wald(b, V), rel=1e-6)
    assert r.pretrend["df"] == 2


def test_event_study_aggregate_and_pretrend_imputation_vs_pyfixest():
    df = _panel()
    r = did.event_study(df, "y", "unit", "time", "first_treated", window=(-3, 20), method="imputation")
    df["relpost"] = np.where(df.treated == 1, df.time - df.first_treated, -1)
    m = pf.did2s(df, yname="y", first_stage="~ 0 | unit + time", second_stage="~ i(relpost, ref=-1)",
                 treatment="treated", cluster="unit")
    rel = np.array([int(c.split("::")[1]) for c in m.coef().index])
    n = np.array([(df.relpost == e).sum() for e in rel], float)
    est, se = _lincomb(m.coef().to_numpy(), m._vcov, n / n.sum())
    assert r.aggregate["estimate"] == pytest.approx(est, rel=1e-7)
    assert r.aggregate["se"] == pytest.approx(se, rel=1e-6)
    # BJS pre-trend test: untreated observations, unit + year effects and lead dummies, CRV1 by unit
    u = df.loc[df.treated == 0].copy()
    u["lead"] = np.where(u.first_treated > 0, u.time - u.first_treated, -99).clip(-99)
    u.loc[u.lead < -3, "lead"] = -99
    mp = pf.feols("y ~ i(lead, ref=-99) | unit + time", u, vcov={"CRV1": "unit"})
    chi2 = float(mp.wald_test(R=np.eye(len(mp.coef())), distribution="chi2")["statistic"])
    assert r.pretrend["chi2"] == pytest.approx(chi2, rel=1e-6)
    assert r.pretrend["df"] == 3


@pytest.mark.parametrize("sorted_rows", [True, False])
def test_crv1_direct_equals_statsmodels_cluster(sorted_rows):
    """The numpy CRV1 path (used for speed) gives statsmodels' cluster sandwich (no correction)."""
    from statsmodels.regression.linear_model import OLS

    from primarycare.methods._vcov import crv1_direct

    rng = np.random.default_rng(3)
    n, k, G = 600, 4, 37
    codes = np.sort(rng.integers(0, G, n)) if sorted_rows else rng.integers(0, G, n)
    X = rng.normal(size=(n, k))
    y = X @ rng.normal(size=k) + rng.normal(size=G)[codes] + rng.normal(size=n)
    b, V, u = crv1_direct(y, X, codes, G)
    res = OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": codes, "use_correction": False})
    np.testing.assert_allclose(b, res.params, rtol=1e-10)
    np.testing.assert_allclose(V, res.cov_params(), rtol=1e-9)
    np.testing.assert_allclose(u, res.resid, rtol=1e-9, atol=1e-12)


def test_balanced_grid_demean_equals_alternating_projections():
    from primarycare.methods._fe import TwoWay

    df = _panel()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(df), 3))
    grid = TwoWay.from_frame(df, "unit", "time")
    assert grid._grid()
    shuffled = df.sample(frac=1.0, random_state=1)
    other = TwoWay.from_frame(shuffled, "unit", "time")
    assert not other._grid()
    pos = df.index.get_indexer(shuffled.index)
    np.testing.assert_allclose(grid.demean(X)[pos], other.demean(X[pos]), atol=1e-12)
