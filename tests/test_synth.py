"""Tests for primarycare.synth: exactness of the weights (against pysyncon and a brute-force QP),
recovery of a planted effect, size of the placebo test, robustness checks and user errors.

All panels here are simulated (simulation settings: factor loadings, noise sd); none is data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from primarycare.errors import UserInputError
from primarycare.methods.synth import simplex_least_squares, synthetic_control


def factor_panel(
    n_units: int = 31,
    years: range = range(2010, 2024),
    seed: int = 0,
    effect: float = 0.0,
    t0: int = 2018,
    noise: float = 0.3,
) -> pd.DataFrame:
    """Exchangeable units from a two-factor model (simulation settings, not data); unit u00 gets
    ``effect`` from ``t0`` on. Columns unit, year, y, x1, x2, x3, status."""
    rng = np.random.default_rng(seed)
    yrs = np.array(list(years))
    T = len(yrs)
    f = rng.normal(size=(T, 2)).cumsum(0) * 0.3
    lam = rng.uniform(0, 1, size=(n_units, 2))
    a = rng.normal(10, 2, size=n_units)
    y = a[None, :] + f @ lam.T + 0.1 * np.arange(T)[:, None] + rng.normal(0, noise, size=(T, n_units))
    y[yrs >= t0, 0] += effect
    units = [f"u{i:02d}" for i in range(n_units)]
    df = pd.DataFrame({"unit": np.repeat(units, T), "year": np.tile(yrs, n_units), "y": y.T.ravel()})
    df["x1"] = np.repeat(a + rng.normal(0, 0.5, n_units), T)
    df["x2"] = np.repeat(lam[:, 0] + rng.normal(0, 0.2, n_units), T)
    df["x3"] = rng.normal(size=len(df))
    df["status"] = "simulated"
    return df


# ---------------------------------------------------------------- the inner QP


@pytest.mark.parametrize("seed", range(6))
def test_simplex_least_squares_is_optimal(seed):
    """The NNLS-based simplex solver beats or matches a tight SLSQP solve and satisfies the simplex."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(6, 15))
    b = rng.normal(size=6) * 2
    w = simplex_least_squares(A, b)
    assert w.min() >= 0 and abs(w.sum() - 1) < 1e-12
    res = minimize(
        lambda x: np.sum((A @ x - b) ** 2),
        np.full(15, 1 / 15),
        method="SLSQP",
        bounds=[(0, 1)] * 15,
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    assert np.sum((A @ w - b) ** 2) <= res.fun + 1e-10
    # KKT: the gradient is equal on the support and not smaller off it
    g = A.T @ (A @ w - b)
    on = w > 1e-9
    assert np.ptp(g[on]) < 1e-8
    assert (g[~on] >= g[on].min() - 1e-8).all()


# ---------------------------------------------------------------- against pysyncon


def _pysyncon_weights(d: pd.DataFrame, V: np.ndarray, v_scale: float) -> tuple[pd.Series, float]:
    from pysyncon import Synth

    pre = list(range(2010, 2018))
    w = d.pivot(index="year", columns="unit", values="y")
    X = d[d.year.isin(pre)].groupby("unit")[["x1", "x2", "x3"]].mean().T
    X.loc["y2011"] = w.loc[2011]
    X.loc["y2015"] = w.loc[2015]
    s = Synth()
    s.fit(
        X0=X.drop(columns="u00"),
        X1=X["u00"],
        Z0=w.loc[pre].drop(columns="u00"),
        Z1=w.loc[pre, "u00"],
        custom_V=V * v_scale,
    )
    W = pd.Series(s.W, index=X.drop(columns="u00").columns)
    gap = w["u00"] - w.drop(columns="u00") @ W
    return W, float(gap[gap.index >= 2018].mean())


PREDICTORS = ["x1", "x2", "x3", ("y", [2011]), ("y", [2015])]
V_FIXED = np.array([0.3, 0.2, 0.1, 0.2, 0.2])


# seeds where the treated unit is outside the donors' hull in predictor space, so the weights are unique
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 7, 8, 9, 10])
def test_weights_equal_pysyncon_with_same_v(seed):
    """Same predictors (pre-period means of x1..x3, y in 2011 and 2015, scaled by their SD across units as
    pysyncon does) and the same V: weights and ATT agree within 1e-3. pysyncon's SLSQP stops on an
    absolute tolerance of 1e-6 on the objective, so it is given V x 100 (the weights do not depend on the
    scale of V) to make its stopping rule tight enough for the comparison."""
    d = factor_panel(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = synthetic_control(d, "y", "unit", "year", "u00", 2018, predictors=PREDICTORS, V=V_FIXED)
    bal = r.predictor_balance
    assert ((bal.treated - bal.synthetic) ** 2).sum() > 1e-3  # really outside the hull (unique weights)
    W, att = _pysyncon_weights(d, V_FIXED, 100.0)
    assert np.abs(W - r.weights.reindex(W.index)).max() < 1e-3
    assert abs(att - r.att) < 1e-3


@pytest.mark.parametrize("seed", range(6))
def test_weights_never_worse_than_pysyncon(seed):
    """With pysyncon's own defaults (unscaled V) our inner solution is at least as good on the simplex."""
    d = factor_panel(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = synthetic_control(d, "y", "unit", "year", "u00", 2018, predictors=PREDICTORS, V=V_FIXED)
    W, _ = _pysyncon_weights(d, V_FIXED, 1.0)
    bal = r.predictor_balance
    pre = d[d.year.isin(range(2010, 2018))]
    wide = d.pivot(index="year", columns="unit", values="y")
    X = pre.groupby("unit")[["x1", "x2", "x3"]].mean().T
    X.loc["y2011"] = wide.loc[2011]
    X.loc["y2015"] = wide.loc[2015]
    Xs = X.divide(X.std(axis=1), axis=0)
    X1, X0 = Xs["u00"].to_numpy(), Xs.drop(columns="u00")

    def loss(w: np.ndarray) -> float:
        return float((V_FIXED * (X1 - X0.to_numpy() @ w) ** 2).sum())

    ours = loss(r.weights.reindex(X0.columns).to_numpy())
    assert ours <= loss(W.to_numpy()) + 1e-10
    assert bal.index.tolist() == ["x1", "x2", "x3", "y[2011]", "y[2015]"]


# ---------------------------------------------------------------- recovery of a planted effect


def test_gap_recovers_planted_path_on_simulated_panel():
    """On the project's simulated panel with one planted effect: the gap minus the gap of the same panel
    without the effect is exactly the planted path, and the gap is within noise of it."""
    from primarycare.data.simulate import simulate_panel

    ind = "primary_care_visit_share"
    null = simulate_panel(seed=7, effects=None).wide()
    # a province near the middle of the distribution, so it lies inside the donors' range
    pre_mean = null[null.year < 2016].groupby("province")[ind].mean().sort_values()
    prov = pre_mean.index[len(pre_mean) // 2]
    effects = pd.DataFrame(
        [
            {
                "reform_id": "fujian_sanming",
                "province": prov,
                "indicator": ind,
                "start_year": 2016,
                "full_effect": 3.0,
                "buildup_years": 3,
            }
        ]
    )
    sim = simulate_panel(seed=7, effects=effects)
    truth = sim.truth.query("indicator == @ind").set_index("year")["effect"]
    w = sim.wide()
    r = synthetic_control(w, ind, "province", "year", prov, 2016)
    r0 = synthetic_control(null, ind, "province", "year", prov, 2016)
    assert r.simulated  # read from the <indicator>_status column
    diff = (r.gap - r0.gap).to_numpy()
    np.testing.assert_allclose(diff, truth.reindex(r.gap.index).to_numpy(), atol=1e-9)
    post = r.gap.index >= 2016
    err = r.gap[post] - truth.reindex(r.gap.index)[post]
    # noise: AR(1) innovation sd 0.5 pp with rho 0.6 (simulation settings) -> marginal sd ~0.63 pp
    assert np.sqrt(np.mean(err**2)) < 2.0
    assert abs(r.att - truth[truth.index >= 2016].mean()) < 1.5


def test_placebo_detects_large_effect_and_reports_gaps():
    d = factor_panel(seed=3, effect=3.0)
    r = synthetic_control(d, "y", "unit", "year", "u00", 2018)
    assert abs(r.att - 3.0) < 0.6
    p = r.placebo_in_space()
    assert p.rank == 1 and p.p_value == pytest.approx(1 / 31)
    assert r.p_value == pytest.approx(1 / 31)
    assert p.gaps.shape == (14, 31) and p.gaps.columns[0] == "u00"
    np.testing.assert_allclose(p.gaps["u00"].to_numpy(), r.gap.to_numpy())
    # manual ratio for one placebo: refit with u05 treated, u00 left out of its donors
    d5 = d[d.unit != "u00"]
    r5 = synthetic_control(d5, "y", "unit", "year", "u05", 2018)
    np.testing.assert_allclose(p.gaps["u05"].to_numpy(), r5.gap.to_numpy(), atol=1e-9)
    assert p.ratios["u05"] == pytest.approx(r5.post_rmspe / r5.pre_rmspe)


def test_exclude_poor_fit_drops_badly_fitted_placebos():
    d = factor_panel(seed=4, effect=2.0)
    r = synthetic_control(d, "y", "unit", "year", "u00", 2018)
    p_all = r.placebo_in_space()
    p_ex = r.placebo_in_space(exclude_poor_fit=2.0)
    limit = 2.0 * p_all.pre_mspe["u00"]
    expected = sorted(u for u in p_all.pre_mspe.index if u != "u00" and p_all.pre_mspe[u] > limit)
    assert sorted(p_ex.excluded) == expected and len(expected) > 0
    assert p_ex.p_value == pytest.approx(p_ex.rank / (31 - len(expected)))


def _placebo_ranks(n_panels: int, n_units: int, seed0: int) -> np.ndarray:
    ranks = np.empty(n_panels, dtype=int)
    for i in range(n_panels):
        d = factor_panel(n_units=n_units, seed=seed0 + i, effect=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some draws put u00 outside the hull: part of the null
            r = synthetic_control(d, "y", "unit", "year", "u00", 2018)
        ranks[i] = r.placebo_in_space().rank
    return ranks


@pytest.mark.slow
def test_placebo_p_value_uniform_under_null():
    """Under no effect the permutation p-value is (close to) uniform on {1/N, ..., 1}.

    With N units the smallest p-value is 1/N, so "rejection at 5%" (p <= 0.05) has exact size
    floor(0.05 N)/N: 1/31 = 3.2% with 31 provinces. To test the 5% level honestly we use N = 20 units,
    where p <= 0.05 means rank 1 of 20 and the nominal size is exactly 5%; over 400 panels the rejection
    rate must lie in [2%, 8%] (about +-2.7 binomial SDs), and the ranks must pass a chi-square test of
    uniformity. (The test is approximately, not exactly, exact: the treated unit has one more donor than
    each placebo, as in Abadie et al. 2010.)"""
    from scipy import stats

    ranks = _placebo_ranks(400, 20, seed0=1000)
    p = ranks / 20
    rate = float(np.mean(p <= 0.05))
    assert 0.02 <= rate <= 0.08, rate
    counts = np.bincount(ranks, minlength=21)[1:]
    chi = stats.chisquare(counts)
    assert chi.pvalue > 0.001, counts
    # with 31 units: rejection at p <= 0.05 is rank 1 of 31, nominal 3.2%
    ranks31 = _placebo_ranks(200, 31, seed0=5000)
    rate31 = float(np.mean(ranks31 / 31 <= 0.05))
    assert 0.0 <= rate31 <= 0.08, rate31


# ---------------------------------------------------------------- robustness checks


def test_placebo_in_time_and_leave_one_out():
    d = factor_panel(seed=5, effect=2.0)
    r = synthetic_control(d, "y", "unit", "year", "u00", 2018)
    pt = r.placebo_in_time(2015)
    assert pt.treatment_time == 2015 and pt.gap.index.max() == 2017
    assert abs(pt.att) < 0.5  # no effect before the real treatment
    loo = r.leave_one_out()
    positive = set(r.weights[r.weights > 1e-6].index)
    assert set(loo.atts.index) == positive
    # dropping a donor with positive weight reproduces a direct refit without it
    u = sorted(positive)[0]
    direct = synthetic_control(d[d.unit != u], "y", "unit", "year", "u00", 2018)
    assert loo.atts[u] == pytest.approx(direct.att, abs=1e-9)
    with pytest.raises(UserInputError, match="fake_treatment_time"):
        r.placebo_in_time(2019)


def test_placebo_in_time_keeps_the_specification_or_refuses():
    d = factor_panel(seed=5, effect=2.0)
    early = ["x1", "x2", ("y", [2011]), ("y", [2012, 2013])]
    v = np.array([0.4, 0.1, 0.3, 0.2])
    r = synthetic_control(d, "y", "unit", "year", "u00", 2018, predictors=early, V=v)
    pt = r.placebo_in_time(2015)
    # same predictors, same user V, same donors: identical to a direct fit on the pre-period data
    direct = synthetic_control(d[d.year < 2018], "y", "unit", "year", "u00", 2015, predictors=early, V=v)
    assert list(pt.V.index) == list(r.V.index)
    np.testing.assert_allclose(pt.V.to_numpy(), r.V.to_numpy())
    np.testing.assert_allclose(pt.weights.to_numpy(), direct.weights.to_numpy(), atol=1e-12)
    assert pt.att == pytest.approx(direct.att, abs=1e-12)
    # a (column, years) predictor at or after the fake date: refused (no silent outcome-only refit)
    for V in (None, np.ones(5)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r2 = synthetic_control(d, "y", "unit", "year", "u00", 2018, predictors=PREDICTORS, V=V)
        with pytest.raises(UserInputError, match=r"y\[2015\].*fake treatment time 2015"):
            r2.placebo_in_time(2015)
    with pytest.raises(UserInputError, match=r"y\[2011\]"):
        r.placebo_in_time(2011)
    # a user pre_period is cut at the fake date; fewer than 3 fitting periods left: refused
    r3 = synthetic_control(d, "y", "unit", "year", "u00", 2018, pre_period=[2010, 2011, 2014, 2015, 2016])
    pt3 = r3.placebo_in_time(2015)
    assert list(pt3._spec.fit_years) == [2010, 2011, 2014]
    with pytest.raises(UserInputError, match="at least 3"):
        r3.placebo_in_time(2014)
    assert r.placebo_in_time("2016").treatment_time == 2016


def test_nested_v_optimisation_improves_on_equal_v():
    d = factor_panel(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r_opt = synthetic_control(d, "y", "unit", "year", "u00", 2018, predictors=PREDICTORS)
        r_eq = synthetic_control(d, "y", "unit", "year", "u00", 2018, predictors=PREDICTORS, V=np.ones(5))
    assert r_opt.V.sum() == pytest.approx(1.0) and (r_opt.V >= 0).all()
    pre = r_opt.gap.index < 2018
    assert np.mean(r_opt.gap[pre] ** 2) <= np.mean(r_eq.gap[pre] ** 2) + 1e-12


def test_plots_return_figures_with_stamp():
    from matplotlib.figure import Figure

    d = factor_panel(seed=1, effect=1.0)
    r = synthetic_control(d, "y", "unit", "year", "u00", 2018)
    p = r.placebo_in_space()
    for fig in (r.plot(), r.plot(kind="gap"), p.plot(), p.plot(kind="ratios"), r.leave_one_out().plot()):
        assert isinstance(fig, Figure)
        assert any(t.get_text() == "SIMULATED DATA" for t in fig.texts)
    d2 = d.drop(columns="status")
    fig = synthetic_control(d2, "y", "unit", "year", "u00", 2018).plot()
    assert not any(t.get_text() == "SIMULATED DATA" for t in fig.texts)
    assert "Synthetic control" in r.summary() and r.to_frame().loc[0, "estimate"] == r.att


# ---------------------------------------------------------------- degenerate inputs


def test_outside_hull_fits_with_warning_stating_pre_rmspe():
    d = factor_panel(seed=1)
    d.loc[d.unit == "u00", "y"] += 50.0
    with pytest.warns(UserWarning, match="pre-treatment RMSPE = ") as rec:
        r = synthetic_control(d, "y", "unit", "year", "u00", 2018)
    assert f"{r.pre_rmspe:.4g}" in str(rec[0].message)
    assert "outside the donors' range in 8 of 8" in str(rec[0].message)
    assert r.warnings and np.isfinite(r.att)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"treatment_time": 2012}, "Too few pre-treatment periods"),
        ({"pre_period": [2015, 2016]}, "Too few pre-treatment periods"),
        ({"donors": []}, "No donors"),
        ({"treated_unit": "Atlantis"}, "not in column 'unit'"),
        ({"treatment_time": 2030}, "outside the data"),
        ({"treatment_time": 2010}, "outside the data"),
        ({"donors": ["u01", "nowhere"]}, "not in column 'unit'"),
        ({"donors": ["u00", "u01"]}, "also listed among the donors"),
        ({"predictors": ["x1"], "V": [1, 2]}, "V must be 1"),
        ({"V": [1]}, "predictors=None"),
        ({"pre_period": [2019, 2020, 2021]}, "not pre-treatment periods"),
    ],
)
def test_user_errors(kwargs, match):
    d = factor_panel(seed=0)
    args = {"treated_unit": "u00", "treatment_time": 2018, **kwargs}
    with pytest.raises(UserInputError, match=match):
        synthetic_control(d, "y", "unit", "year", **args)


def test_constant_series_and_bad_columns():
    d = factor_panel(seed=0)
    d["y"] = 5.0
    with pytest.raises(UserInputError, match="constant"):
        synthetic_control(d, "y", "unit", "year", "u00", 2018)
    d = factor_panel(seed=0)
    d["c"] = 1.0
    with pytest.raises(UserInputError, match="Predictor 'c' is constant"):
        synthetic_control(d, "y", "unit", "year", "u00", 2018, predictors=["c"])
    with pytest.raises(UserInputError, match="no column"):
        synthetic_control(d, "outcome_x", "unit", "year", "u00", 2018)
    with pytest.raises(UserInputError, match="more than one row"):
        synthetic_control(pd.concat([d, d]), "y", "unit", "year", "u00", 2018)
    d.loc[(d.unit == "u00") & (d.year == 2013), "y"] = np.nan
    with pytest.raises(UserInputError, match="no value of 'y'"):
        synthetic_control(d, "y", "unit", "year", "u00", 2018)


def test_incomplete_donor_dropped_with_note():
    d = factor_panel(seed=0)
    d.loc[(d.unit == "u03") & (d.year == 2013), "y"] = np.nan
    r = synthetic_control(d, "y", "unit", "year", "u00", 2018)
    assert "u03" not in r.weights.index and any("u03" in w for w in r.warnings)


