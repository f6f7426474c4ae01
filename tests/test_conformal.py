"""Tests for conformal inference for synthetic control (Chernozhukov, Wüthrich and Zhu 2021):
primarycare.methods.conformal through SyntheticControl.conformal.

Oracle: diff-diff 3.13.0 (oracles.md: its per-period intervals, moving-block permutations with p > alpha
kept, match an independent implementation of the paper exactly on Prop 99). Both run the same test on
the same grid of hypothesised effects, so the intervals must be equal to rounding, with our bisection
refinement switched off. Data: California Proposition 99 (shipped in synthdid-py's data folder) and a
simulated two-factor panel with the Basque study's shape (17 regions, 1955-1997, treated from 1970). The
Basque data themselves ship with no installable package, so CI runs the Basque check on that panel; given
the data (R Synth's ``basque`` table as CSV: regionno, regionname, year, gdpcap, ...) in the environment
variable PRIMARYCARE_BASQUE_CSV, the same check also runs on them. mlsynth is a different method
(ridge-augmented fit, p >= alpha) and is not used.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from test_synth import factor_panel

from primarycare.errors import UserInputError
from primarycare.methods.conformal import ConformalSC, conformal_arrays
from primarycare.methods.synth import synthetic_control

BASQUE = "u00"  # the treated unit of the Basque-shaped simulated panel


@pytest.fixture(scope="module")
def prop99():
    from synthdid import load_california_prop99

    return load_california_prop99()


@pytest.fixture(scope="module")
def basque():
    """A simulated panel shaped like the Basque study (simulation settings, not data)."""
    b = factor_panel(n_units=17, years=range(1955, 1998), seed=3, effect=-1.0, t0=1970, noise=0.3)
    b = b.rename(columns={"unit": "regionname", "y": "gdpcap"})[["regionname", "year", "gdpcap"]]
    b["D"] = ((b.regionname == BASQUE) & (b.year >= 1970)).astype(int)
    return b


@pytest.fixture(scope="module")
def basque_data():
    """The Basque study's data (Abadie and Gardeazabal 2003; R Synth's ``basque``), if given: the 17
    regions (not Spain's total), per-capita GDP, the Basque Country treated from 1970."""
    path = os.environ.get("PRIMARYCARE_BASQUE_CSV")
    if not path:
        pytest.skip("the Basque data ship with no installable package: set PRIMARYCARE_BASQUE_CSV to run this")
    d = pd.read_csv(path)
    d = d[d.regionname != "Spain (Espana)"][["regionname", "year", "gdpcap"]].copy()
    d["regionname"] = d.regionname.astype(str)
    d["year"] = d.year.astype(int)
    d["D"] = ((d.regionname == BASQUE_COUNTRY) & (d.year >= 1970)).astype(int)
    assert d.regionname.nunique() == 17 and (d.year.min(), d.year.max()) == (1955, 1997)
    return d.reset_index(drop=True)


BASQUE_COUNTRY = "Basque Country (Pais Vasco)"


@pytest.fixture(scope="module")
def prop99_fits(prop99):
    """Our synthetic control and diff-diff's fit on Prop 99, shared by the tests below."""
    sc = _quiet(synthetic_control, prop99, "PacksPerCapita", "State", "Year", "California", 1989)
    return sc, _quiet(_diff_diff_fit, prop99, "PacksPerCapita", "treated", "State", "Year", "California")


def _diff_diff_fit(df, outcome, treat, unit, time, treated):
    """diff-diff's conformal layer uses the raw outcome panel only (not V), so the fastest V method is
    used for the fit itself."""
    from diff_diff import SyntheticControl

    return SyntheticControl(v_method="inverse_variance").fit(df, outcome, treat, unit, time, treated_unit=treated)


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


@pytest.mark.parametrize("alpha", [0.1, 0.05])
def test_prop99_per_period_intervals_equal_diff_diff(prop99_fits, alpha):
    """alpha = 0.1: both automatic grids (same centre and half-width); alpha = 0.05: diff-diff's automatic
    grid is too narrow for some periods (it reports them "grid_limited", ours widens), so a shared wide
    grid is given to both."""
    sc, dd = prop99_fits
    if alpha == 0.1:
        ours = sc.conformal(alpha=alpha, refine=False)
        ref = _quiet(dd.conformal_confidence_intervals, alpha=alpha)
    else:
        ours = sc.conformal(alpha=alpha, refine=False, grid=np.linspace(-80, 20, 101))
        ref = _quiet(dd.conformal_confidence_intervals, alpha=alpha, bounds=(-80, 20), n_grid=101)
    assert list(ours.table["period"]) == list(ref["period"]) == list(range(1989, 2001))
    np.testing.assert_allclose(ours.table["estimate"], ref["point_estimate"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.table["lower"], ref["lower"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.table["upper"], ref["upper"], rtol=1e-9, atol=1e-9)
    assert (ours.table["status"] == "bounded").all() and (ref["status"] == "ran").all()
    # 20 periods per test (19 pre + 1): p-values are multiples of 1/20; every post period has an effect
    # below zero at the 10% level (upper < 0), as in the paper's application
    assert (ours.table["n_perms"] == 20).all() and ((ours.table["upper"] < 0).all() or alpha == 0.05)
    if alpha == 0.1:  # measured, 1989: [-13.1162, -4.5663] around -8.44
        assert ours.table["lower"].iloc[0] == pytest.approx(-13.11623, abs=1e-4)


def _basque_check(panel, treated, every):
    """Our per-period intervals and constant-effect p-values against diff-diff's on a shared grid
    (every ``every``-th hypothesised effect for the p-values); our fit, diff-diff's, and our intervals."""
    sc = _quiet(synthetic_control, panel, "gdpcap", "regionname", "year", treated, 1970)
    dd = _quiet(_diff_diff_fit, panel, "gdpcap", "D", "regionname", "year", treated)
    grid = np.linspace(-3.0, 2.0, 51)  # 16 periods per per-period test: 1/16 <= 0.1
    ours = sc.conformal(alpha=0.1, grid=grid, refine=False, average="constant")
    ref = _quiet(dd.conformal_confidence_intervals, alpha=0.1, bounds=(-3.0, 2.0), n_grid=51)
    assert list(ours.table["period"]) == list(ref["period"]) == list(range(1970, 1998))
    np.testing.assert_allclose(ours.table["estimate"], ref["point_estimate"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.table["lower"], ref["lower"], atol=1e-12)
    np.testing.assert_allclose(ours.table["upper"], ref["upper"], atol=1e-12)
    assert list(ours.table["status"]) == list(ref["status"].replace({"ran": "bounded"}))
    # the constant-effect average inverts diff-diff's joint test of a constant effect path
    g = ours.grid[ours.grid.target == "average"]
    for theta, p in g.iloc[::every][["theta", "p_value"]].itertuples(index=False):
        assert p == pytest.approx(_quiet(dd.conformal_test, effect=theta, q=1)["p_value"], abs=1e-12)
    return sc, dd, ours, grid


def test_basque_shaped_panel_per_period_and_constant_effect_equal_diff_diff(basque):
    sc, dd, ours, grid = _basque_check(basque, BASQUE, 8)
    assert (ours.table["status"] == "bounded").sum() >= 20
    c = sc.conformal(alpha=0.1, grid=grid[::10], refine=False, average="constant", q=2)
    p_ref = [_quiet(dd.conformal_test, effect=t, q=2)["p_value"] for t in grid[::10]]
    np.testing.assert_allclose(c.grid[c.grid.target == "average"]["p_value"], p_ref, atol=1e-12)
    # q = inf: with 28 of 43 periods in the post window the smallest attainable p-value is 28/43, so we
    # return an unbounded interval; diff-diff's p-values are indeed never below that
    c = sc.conformal(alpha=0.1, average="constant", q="inf")
    assert c.average["status"] == "unbounded"
    assert min(_quiet(dd.conformal_test, effect=t, q=np.inf)["p_value"] for t in (-50, -1, 0, 50)) >= 28 / 43 - 1e-12


def test_basque_data_per_period_and_constant_effect_equal_diff_diff(basque_data):
    """The check above on the Basque data themselves (skipped unless they are given)."""
    _basque_check(basque_data, BASQUE_COUNTRY, 5)


def test_block_average_equals_diff_diff_when_blocks_exist(prop99):
    """CWZ Appendix A.1 on Prop 99 cut at 1991 (T* = 3, 19 pre-periods: the earliest one dropped, 6 pre
    blocks + 1 post block, p in multiples of 1/7)."""
    d = prop99[prop99.Year <= 1991]
    sc = _quiet(synthetic_control, d, "PacksPerCapita", "State", "Year", "California", 1989)
    ours = sc.conformal(alpha=0.2, grid=np.linspace(-40, 10, 101), refine=False)
    dd = _quiet(_diff_diff_fit, d, "PacksPerCapita", "treated", "State", "Year", "California")
    ref = _quiet(dd.conformal_average_effect, alpha=0.2, bounds=(-40, 10), n_grid=101)
    assert ref["n_blocks"] == 7 and ref["n_dropped_pre"] == 1 and ours.average["n_perms"] == 7
    assert ours.average["lower"] == pytest.approx(ref["lower"], abs=1e-12)
    assert ours.average["upper"] == pytest.approx(ref["upper"], abs=1e-12)
    assert ours.average["status"] == "bounded" and np.isfinite(ours.ci_low) and ours.ci_high < 0
    assert any("dropped" in w for w in ours.warnings)
    # i.i.d. block permutations: 7! = 5040 enumerated by both; with one post slot the p-value is still the
    # rank of the post residual, so the interval is the same
    iid = sc.conformal(alpha=0.2, grid=np.linspace(-40, 10, 101), refine=False, scheme="iid")
    ref_iid = _quiet(dd.conformal_average_effect, alpha=0.2, bounds=(-40, 10), n_grid=101, scheme="iid")
    assert iid.average["n_perms"] == ref_iid["n_perms"] == 5040
    assert (iid.average["lower"], iid.average["upper"]) == pytest.approx((ref_iid["lower"], ref_iid["upper"]))
    assert (iid.average["lower"], iid.average["upper"]) == pytest.approx((ours.ci_low, ours.ci_high))


def test_refinement_finds_the_switch_points(prop99, prop99_fits):
    sc = prop99_fits[0]
    coarse = sc.conformal(alpha=0.1, refine=False)
    fine = sc.conformal(alpha=0.1, refine=True)
    step = coarse.grid.groupby("target").theta.apply(lambda t: t.diff().max())
    for (_, c), (_, f) in zip(coarse.table.iterrows(), fine.table.iterrows(), strict=True):
        s = step[c.period]
        assert c.lower - s <= f.lower <= c.lower and c.upper <= f.upper <= c.upper + s
    # the refined end is accepted and a value just beyond it is rejected (1989 sub-series)
    y = prop99.pivot(index="Year", columns="State", values="PacksPerCapita")
    sub = y.loc[list(range(1970, 1989)) + [1989]]
    y1, Y0 = sub["California"].to_numpy(), sub.drop(columns="California").to_numpy()
    for end, out in ((fine.table["upper"].iloc[0], 1.0), (fine.table["lower"].iloc[0], -1.0)):
        eps = 1e-6 * max(1.0, abs(end))
        _, _, g, _ = conformal_arrays(y1, Y0, 19, alpha=0.1, grid=[end, end + out * eps], refine=False)
        p = g[g.target == 19].set_index("theta")["p_value"]
        assert p[end] > 0.1 and p[end + out * eps] <= 0.1


def test_unbounded_when_too_few_permutations_says_so():
    """A 14-year panel reformed in 2018 (8 pre-periods): each per-period test permutes 9 periods, so the
    smallest p-value is 1/9 > 0.05 and nothing can be rejected; at alpha = 0.2 the intervals are finite."""
    d = factor_panel(seed=2, effect=1.0)
    sc = _quiet(synthetic_control, d, "y", "unit", "year", "u00", 2018)
    c = sc.conformal(alpha=0.05)
    assert isinstance(c, ConformalSC)
    assert np.isneginf(c.table["lower"]).all() and np.isposinf(c.table["upper"]).all()
    assert (c.table["status"] == "unbounded").all() and (c.table["n_perms"] == 9).all()
    assert any("1/9 = 0.111 > alpha = 0.05" in w for w in c.warnings)
    assert np.isinf(c.ci_low) and c.average["status"] == "unbounded"
    assert any("only 2 block(s) to permute" in w for w in c.warnings)  # 8 = 2 dropped + 1 block of 6
    assert "inf" in c.summary() and "Per-period intervals" in c.summary()
    # iid permutations do not help a single post slot: the p-value is still the rank among 9 residuals
    assert (sc.conformal(alpha=0.05, scheme="iid").table["status"] == "unbounded").all()
    wide = sc.conformal(alpha=0.2)
    assert (wide.table["status"] == "bounded").all()
    assert (wide.table["lower"] < wide.table["estimate"]).all() and (wide.table["estimate"] < wide.table["upper"]).all()
    # the constant-effect average permutes all 14 periods: 1/14 <= 0.1, so it is finite and covers the
    # planted effect of 1
    k = sc.conformal(alpha=0.1, average="constant")
    assert k.average["status"] == "bounded" and k.ci_low < 1.0 < k.ci_high and k.average["n_perms"] == 14
    # with q = inf (the largest post residual) a shift that keeps that one period in the post window
    # ties: the smallest p-value is 6/14 > 0.1, so nothing can be rejected
    kinf = sc.conformal(alpha=0.1, average="constant", q="inf")
    assert kinf.average["status"] == "unbounded" and np.isinf(kinf.ci_high)
    assert sc.conformal(alpha=0.45, average="constant", q="inf").average["status"] != "unbounded"


def test_per_period_test_has_exact_size_under_exchangeable_errors():
    """Chernozhukov et al. (2021), Theorem 1: with i.i.d. errors the per-period test of the true effect
    rejects with probability alpha (p-values in multiples of 1/m). 200 null panels, 20 periods each test:
    the rejection rate at alpha = 0.1 lies within 3 binomial SDs of 0.1 (simulation settings, not data)."""
    rng = np.random.default_rng(0)
    n_rep, T0, J = 200, 19, 10
    rejections = 0
    for _ in range(n_rep):
        F = rng.normal(size=(T0 + 1, 2)).cumsum(axis=0)
        load = rng.dirichlet(np.ones(J))
        Y0 = F @ rng.normal(1, 0.3, size=(2, J)) + rng.normal(0, 0.5, size=(T0 + 1, J))
        y1 = Y0 @ load + rng.normal(0, 0.5, size=T0 + 1)
        table, *_ = conformal_arrays(y1, Y0, T0, alpha=0.1, grid=[0.0], refine=False)
        rejections += bool(table["p_value"].iloc[0] <= 0.1)
    rate = rejections / n_rep
    assert abs(rate - 0.1) <= 3 * np.sqrt(0.1 * 0.9 / n_rep), rate


def test_user_errors(prop99_fits):
    sc = prop99_fits[0]
    with pytest.raises(UserInputError, match="alpha"):
        sc.conformal(alpha=5)
    with pytest.raises(UserInputError, match="scheme"):
        sc.conformal(scheme="blocks")
    with pytest.raises(UserInputError, match="average"):
        sc.conformal(average="mean")
    with pytest.raises(UserInputError, match="q must be"):
        sc.conformal(q=3)
    with pytest.raises(UserInputError, match="grid must be"):
        sc.conformal(grid=[0.0, float("nan")])
    with pytest.raises(UserInputError, match="grid must be"):
        sc.conformal(grid=["a"])


def test_plot_marks_simulated_data_and_unbounded_intervals():
    from matplotlib.figure import Figure

    d = factor_panel(seed=2, effect=1.0).assign(status="simulated")
    sc = _quiet(synthetic_control, d, "y", "unit", "year", "u00", 2018)
    fig = sc.conformal(alpha=0.05).plot()
    assert isinstance(fig, Figure) and any(t.get_text() == "SIMULATED DATA" for t in fig.texts)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "Unbounded interval (too few periods)" in labels
    fig2 = sc.conformal(alpha=0.2).plot()
    assert "Unbounded interval (too few periods)" not in fig2.axes[0].get_legend_handles_labels()[1]


def test_non_interval_sets_are_found_and_flagged():
    """Few pre-periods, a near-exact pre-treatment fit and post effects of alternating sign (simulation
    settings): no constant effect fits, so values near the estimate are rejected while far-off values
    are accepted (the refitted proxy then fits badly everywhere). The automatic grid must widen until it
    finds the accepted values, report the hull, and say that the set is not an interval."""
    rng = np.random.default_rng(1)
    T0, Ts, J = 9, 5, 30
    Y0 = rng.normal(size=(T0 + Ts, J)).cumsum(axis=0) + rng.normal(0, 3, J)
    y1 = Y0[:, :3].mean(axis=1) + rng.normal(0, 0.01, T0 + Ts)
    y1[T0:] += np.array([1, -1, 1, -1, 1]) * 0.5
    _, avg, grid, notes = conformal_arrays(y1, Y0, T0, alpha=0.1, average="constant")
    assert avg["status"] == "bounded" and avg["lower"] < avg["effect"] < avg["upper"]
    g = grid[grid.target == "average"]
    inside = g[(g.theta > avg["lower"]) & (g.theta < avg["upper"])]
    assert (~inside.in_set).any() and (g.p_value[~g.in_set] <= 0.1).all() and (g.p_value[g.in_set] > 0.1).all()
    assert any("not an interval" in n for n in notes)
