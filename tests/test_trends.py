"""Tests for primarycare.trends: segmented regression against statsmodels on a hand-built design, HAC
and AR(1) standard errors, coverage under AR(1) errors, comparative ITS and user errors.

Series here are simulated (effect sizes, AR coefficient and noise are simulation settings, not data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from primarycare.errors import UserInputError
from primarycare.methods.trends import comparative, newey_west_lags, segmented


def series(
    n: int = 14,
    start: int = 2010,
    t1: int = 2016,
    level: float = 2.0,
    slope: float = 0.5,
    seed: int = 0,
    noise: float = 0.3,
    rho: float = 0.0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(start, start + n)
    e = np.zeros(n)
    e[0] = rng.normal() / np.sqrt(1 - rho**2)
    for i in range(1, n):
        e[i] = rho * e[i - 1] + rng.normal()
    y = 5 + 0.3 * (t - start) + level * (t >= t1) + slope * (t - t1) * (t >= t1) + noise * e
    return pd.DataFrame({"year": t, "y": y, "status": "simulated"})


def hand_design(t: np.ndarray, breaks: list[int]) -> np.ndarray:
    cols = [np.ones(len(t)), t - t.min()]
    for b in breaks:
        cols += [(t >= b).astype(float), np.where(t >= b, t - b, 0.0)]
    return np.column_stack(cols)


def test_newey_west_lag_rule():
    assert newey_west_lags(14) == 2  # floor(4 * 0.14^(2/9)) = floor(2.58)
    assert newey_west_lags(100) == 4
    assert newey_west_lags(500) == 5


@pytest.mark.parametrize("breaks", [[2016], [2016, 2020]])
def test_coefficients_and_hac_se_equal_statsmodels(breaks):
    d = series(n=14, seed=1)
    r = segmented(d, "y", "year", breaks)
    X = hand_design(d.year.to_numpy(), breaks)
    ref = sm.OLS(d.y.to_numpy(), X).fit(cov_type="HAC", cov_kwds={"maxlags": 2, "use_correction": True})
    np.testing.assert_allclose(r.coefficients["estimate"].to_numpy(), ref.params, rtol=1e-10)
    np.testing.assert_allclose(r.coefficients["se"].to_numpy(), ref.bse, rtol=1e-10)
    # the small-sample correction is statsmodels' n / (n - k) factor on its default HAC covariance
    plain = sm.OLS(d.y.to_numpy(), X).fit(cov_type="HAC", cov_kwds={"maxlags": 2})
    n, k = X.shape
    np.testing.assert_allclose(r.coefficients["se"].to_numpy(), plain.bse * np.sqrt(n / (n - k)), rtol=1e-10)
    assert r.hac_lags == 2
    assert r.level_change.estimate == pytest.approx(ref.params[2])
    assert r.slope_change.se == pytest.approx(ref.bse[3])
    # user-given lags
    r5 = segmented(d, "y", "year", breaks, hac_lags=5)
    ref5 = sm.OLS(d.y.to_numpy(), X).fit(cov_type="HAC", cov_kwds={"maxlags": 5, "use_correction": True})
    np.testing.assert_allclose(r5.coefficients["se"].to_numpy(), ref5.bse, rtol=1e-10)


def test_effect_at_counterfactual_and_estimate():
    d = series(n=14, seed=2)
    r = segmented(d, "y", "year", [2016, 2020])
    b = r.coefficients["estimate"]
    cov = np.asarray(r._res.cov_params())
    e3 = r.effect_at(3)
    assert e3.estimate == pytest.approx(b["level_change_2016"] + 3 * b["slope_change_2016"])
    c = np.array([0, 0, 1, 3, 0, 0.0])
    assert e3.se == pytest.approx(np.sqrt(c @ cov @ c))
    assert e3.ci_low < e3.estimate < e3.ci_high
    # headline estimate: effect in the last observed year (2023 = 7 years after 2016)
    assert r.estimate == pytest.approx(r.effect_at(7).estimate)
    # the counterfactual keeps the baseline and the 2020 terms but not the 2016 ones
    cf = r.counterfactual
    t = cf.index.to_numpy()
    expect = (
        b["baseline_level"]
        + b["baseline_slope"] * (t - 2010)
        + b["level_change_2020"] * (t >= 2020)
        + b["slope_change_2020"] * np.where(t >= 2020, t - 2020, 0)
    )
    np.testing.assert_allclose(cf["estimate"].to_numpy(), expect)
    np.testing.assert_allclose(
        (r.fitted.loc[t] - cf["estimate"]).to_numpy(), r.effects()["estimate"].to_numpy()
    )
    assert (cf["ci_low"] < cf["estimate"]).all() and (cf["ci_high"] > cf["estimate"]).all()


def test_recovers_planted_level_and_slope():
    d = series(n=30, start=1995, t1=2010, level=2.0, slope=0.5, seed=3, noise=0.2)
    r = segmented(d, "y", "year", 2010)
    assert r.level_change.ci_low < 2.0 < r.level_change.ci_high
    assert r.slope_change.ci_low < 0.5 < r.slope_change.ci_high
    assert r.level_change.p_value < 0.001


def test_ar1_equals_statsmodels_glsar():
    d = series(n=40, start=1980, t1=2000, seed=4, rho=0.6)
    r = segmented(d, "y", "year", 2000, errors="ar1")
    X = hand_design(d.year.to_numpy(), [2000])
    m = sm.GLSAR(d.y.to_numpy(), X, rho=1)
    ref = m.iterative_fit(maxiter=100, rtol=1e-8)
    np.testing.assert_allclose(r.coefficients["estimate"].to_numpy(), ref.params, rtol=1e-8)
    np.testing.assert_allclose(r.coefficients["se"].to_numpy(), ref.bse, rtol=1e-8)
    assert r.rho == pytest.approx(float(np.ravel(m.rho)[0]))
    assert "Yule-Walker" in r.inference and "GLSAR" in r.inference
    # what GLSAR is: at convergence rho is the Yule-Walker ("adjusted", demeaned) lag-1 autocorrelation
    # of the residuals, and the coefficients are OLS on the quasi-differenced data WITHOUT the first row
    from statsmodels.regression.linear_model import yule_walker

    y, e = d.y.to_numpy(), d.y.to_numpy() - X @ ref.params
    assert r.rho == pytest.approx(float(yule_walker(e, order=1, method="adjusted", result_object=False)[0][0]), abs=1e-6)
    qd = sm.OLS(y[1:] - r.rho * y[:-1], X[1:] - r.rho * X[:-1]).fit()
    np.testing.assert_allclose(r.coefficients["estimate"].to_numpy(), qd.params, rtol=1e-6)


@pytest.mark.slow
def test_ar1_coverage_near_nominal_where_ols_is_not():
    """AR(1) errors (rho = 0.5, n = 120, simulation settings): the 95% interval for the slope change
    from errors="ar1" covers the truth about 92% of the time (feasible GLS with an estimated rho is a
    little below nominal in finite samples: rho-hat is biased towards zero; with n = 60 coverage is
    about 88%, with the true rho it is 95%), while OLS standard errors without an autocorrelation
    correction (hac_lags=0) cover far less often (about 70%). 300 replications: binomial SD ~1.5 pp."""
    rng = np.random.default_rng(20240)
    n, rho, reps = 120, 0.5, 300
    t = np.arange(2000, 2000 + n)
    t1 = 2060
    hits = {"ar1": 0, "ols": 0}
    for _ in range(reps):
        e = np.empty(n)
        e[0] = rng.normal() / np.sqrt(1 - rho**2)
        for i in range(1, n):
            e[i] = rho * e[i - 1] + rng.normal()
        y = 1 + 0.1 * (t - 2000) + 1.0 * (t >= t1) + 0.05 * np.where(t >= t1, t - t1, 0) + e
        d = pd.DataFrame({"year": t, "y": y})
        for key, kw in (("ar1", {"errors": "ar1"}), ("ols", {"hac_lags": 0})):
            s = segmented(d, "y", "year", t1, **kw).slope_change
            hits[key] += s.ci_low <= 0.05 <= s.ci_high
    cov_ar1, cov_ols = hits["ar1"] / reps, hits["ols"] / reps
    assert 0.88 <= cov_ar1 <= 0.985, cov_ar1
    assert cov_ols <= 0.85, cov_ols
    assert cov_ar1 - cov_ols >= 0.10


def test_comparative_equals_segmented_on_difference_series():
    rng = np.random.default_rng(5)
    years = np.arange(2010, 2024)
    units = ["A", "B", "C", "D"]
    common = rng.normal(size=len(years)).cumsum()
    rows = []
    for i, u in enumerate(units):
        y = 10 + i + common + rng.normal(0, 0.2, len(years))
        if u == "A":
            y = y + 1.5 * (years >= 2017)
        rows += [{"prov": u, "year": t, "v": v} for t, v in zip(years, y, strict=True)]
    d = pd.DataFrame(rows)
    r = comparative(d, "v", "prov", "year", "A", 2017, controls=["B", "C", "D"])
    w = d.pivot(index="year", columns="prov", values="v")
    diff = pd.DataFrame({"year": years, "v": (w["A"] - w[["B", "C", "D"]].mean(axis=1)).to_numpy()})
    ref = segmented(diff, "v", "year", 2017)
    np.testing.assert_allclose(r.coefficients["estimate"], ref.coefficients["estimate"])
    rs = comparative(d, "v", "prov", "year", "A", 2017, controls=["B", "C", "D"], shocks=[2020], errors="prais")
    refs = segmented(diff, "v", "year", 2017, shocks=[2020], errors="prais")
    np.testing.assert_allclose(rs.coefficients["estimate"], refs.coefficients["estimate"])
    assert "shock_pulse_2020" in rs.coefficients.index
    assert r.level_change.ci_low < 1.5 < r.level_change.ci_high
    assert "Comparative" in r.method
    with pytest.raises(UserInputError, match="control unit"):
        comparative(d, "v", "prov", "year", "A", 2017, controls=["Z"])
    with pytest.raises(UserInputError, match="treated unit"):
        comparative(d, "v", "prov", "year", "Q", 2017)


def test_plot_and_summary():
    from matplotlib.figure import Figure

    r = segmented(series(), "y", "year", [2016, 2020])
    fig = r.plot()
    assert isinstance(fig, Figure) and any(t.get_text() == "SIMULATED DATA" for t in fig.texts)
    r2 = segmented(series().drop(columns="status"), "y", "year", 2016)
    assert not any(t.get_text() == "SIMULATED DATA" for t in r2.plot().texts)
    assert "Newey-West" in r.summary() and r.to_frame().loc[0, "estimate"] == r.estimate


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"interruption": 2012}, "only 2 period"),
        ({"interruption": 2023}, "only 1 period"),
        ({"interruption": 2030}, "outside the data"),
        ({"interruption": [2016, 2017]}, "only 1 period"),
        ({"interruption": 2016, "errors": "ar2"}, "errors must be"),
        ({"interruption": 2016, "hac_lags": -1}, "non-negative"),
    ],
)
def test_user_errors(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        segmented(series(), "y", "year", **kwargs)


def test_degenerate_series():
    d = series()
    d["y"] = 3.0
    with pytest.raises(UserInputError, match="constant"):
        segmented(d, "y", "year", 2016)
    with pytest.raises(UserInputError, match="more than one row"):
        segmented(pd.concat([series(), series()]), "y", "year", 2016)
    with pytest.raises(UserInputError, match="no column"):
        segmented(series(), "z", "year", 2016)
    gap = series().drop(index=3)
    with pytest.raises(UserInputError, match="not equally spaced"):
        segmented(gap, "y", "year", 2016, errors="ar1")
    r = segmented(gap, "y", "year", 2016)
    assert r.n_obs == 13


# --- common shocks (pulse / level) applied to both paths; Prais-Winsten errors ---------------------------

PRE_SLOPE, LEVEL, SLOPE, SHOCK = 0.2, 0.3, 0.1, -2.0  # simulation settings (not data)


def shocked(kind: str, noise: np.ndarray | None = None) -> pd.DataFrame:
    t = np.arange(2010, 2024)
    hit = (t == 2020) if kind == "pulse" else (t >= 2020)
    y = 5 + PRE_SLOPE * (t - 2010) + LEVEL * (t >= 2016) + SLOPE * np.where(t >= 2016, t - 2016, 0) + SHOCK * hit
    if noise is not None:
        y = y + noise
    return pd.DataFrame({"year": t, "y": y, "status": "simulated"})


@pytest.mark.parametrize("kind", ["pulse", "level"])
def test_shock_noise_free_exact_counterfactual_is_pre_trend(kind):
    r = segmented(shocked(kind), "y", "year", 2016, shocks=[2020], shock_kind=kind)
    b = r.coefficients["estimate"]
    assert list(b.index) == ["baseline_level", "baseline_slope", "level_change_2016", "slope_change_2016",
                             f"shock_{kind}_2020"]
    np.testing.assert_allclose(b.to_numpy(), [5, PRE_SLOPE, LEVEL, SLOPE, SHOCK], atol=1e-8)
    for k in range(8):
        assert r.effect_at(k).estimate == pytest.approx(LEVEL + SLOPE * k, abs=1e-8)
    assert r.estimate == pytest.approx(LEVEL + 7 * SLOPE, abs=1e-8)
    cf = r.counterfactual["estimate"]
    t = cf.index.to_numpy()
    hit = (t == 2020) if kind == "pulse" else (t >= 2020)
    # the counterfactual carries the shock (it dips in 2020 like the fit) ...
    np.testing.assert_allclose(cf.to_numpy(), 5 + PRE_SLOPE * (t - 2010) + SHOCK * hit, atol=1e-8)
    # ... and net of the shock its slope is the pre-reform slope in every post year
    np.testing.assert_allclose(np.diff(cf.to_numpy() - SHOCK * hit), PRE_SLOPE, atol=1e-8)
    if kind == "level":  # a step: slope is the pre-reform slope in every post year except the step year
        steps = np.diff(cf.to_numpy())
        np.testing.assert_allclose(np.delete(steps, list(t[1:]).index(2020)), PRE_SLOPE, atol=1e-8)
    np.testing.assert_allclose((r.fitted.loc[t] - cf).to_numpy(), r.effects()["estimate"].to_numpy(), atol=1e-8)
    assert "pre-2016 level and slope continue" in r.summary() and f"{kind} shock" in r.summary()
    assert r.shocks == [2020] and not any("Break" in w for w in r.warnings)


def test_legacy_interruption_list_still_works_and_warns():
    """The old call segmented(own, o, "year", [reform, 2020]): same design as before (a break with level
    and slope terms at 2020), kept in both paths, so its counterfactual slope after 2020 is not the
    pre-reform slope; the result says so."""
    r = segmented(shocked("pulse"), "y", "year", [2016, 2020])
    assert "slope_change_2020" in r.coefficients.index
    slope_after = np.diff(r.counterfactual["estimate"].loc[2021:].to_numpy())
    assert not np.allclose(slope_after, PRE_SLOPE)
    assert any("Break(s) at [2020]" in w for w in r.warnings)
    assert "not the pre-2016 trend" in r.summary()


@pytest.mark.parametrize(
    "reform, kwargs, match",
    [
        (2016, {"shocks": [2016]}, "in the reform period"),
        (2016, {"shocks": [2016], "shock_kind": "level"}, "in the reform period"),
        (2016, {"shocks": [2030]}, "not an observed period"),
        (2016, {"shocks": [2030], "shock_kind": "level"}, "outside the data"),
        (2019, {"shocks": [2020], "shock_kind": "level"}, r"only 1 period.*shock at 2020"),
        (2021, {"shocks": [2022, 2023]}, r"only 1 period.*too close"),
        (2016, {"shocks": [2011], "shock_kind": "level"}, r"only 1 period\(s\) before the reform"),
        (2016, {"shocks": [2020], "shock_kind": "trend"}, "shock_kind must be"),
        (2016, {"shocks": [2020, 2020]}, "another shock"),
    ],
)
def test_shock_too_close_is_refused(reform, kwargs, match):
    with pytest.raises(UserInputError, match=match):
        segmented(shocked("pulse"), "y", "year", reform, **kwargs)


def test_shock_next_to_reform_and_at_series_end_allowed_when_identified():
    # a pulse the year after the reform, and a pulse in the last year: reform terms still identified
    t = np.arange(2010, 2024)
    y = 5 + PRE_SLOPE * (t - 2010) + LEVEL * (t >= 2019) + SLOPE * np.where(t >= 2019, t - 2019, 0)
    r = segmented(pd.DataFrame({"year": t, "y": y + SHOCK * (t == 2020)}), "y", "year", 2019, shocks=[2020])
    b = r.coefficients["estimate"].to_numpy()
    np.testing.assert_allclose(b, [5, PRE_SLOPE, LEVEL, SLOPE, SHOCK], atol=1e-8)
    r = segmented(shocked("pulse"), "y", "year", 2016, shocks=[2020, 2023])
    assert r.coefficients.loc["shock_pulse_2023", "estimate"] == pytest.approx(0, abs=1e-8)


def _nw_var(a: np.ndarray, e: np.ndarray, lags: int, k: int) -> np.ndarray:
    """Newey-West variance of c'b for every row of e (n/(n-k) correction), with a = X (X'X)^-1 c."""
    u = a * e
    n = u.shape[1]
    v = (u * u).sum(1)
    for j in range(1, lags + 1):
        v += 2 * (1 - j / (lags + 1)) * (u[:, j:] * u[:, :-j]).sum(1)
    return v * n / (n - k)


def test_shock_monte_carlo_coverage_of_last_year_effect():
    """2,000 noisy series (iid N(0, 0.5^2) noise, the 2020 pulse of -2: simulation settings), vectorised
    OLS exactly as segmented() computes it (checked on replicate 0). With the pulse modelled the effect in
    2023 is unbiased; its classical t interval covers 95% (exact under iid normal noise), but the default
    Newey-West interval (2 lags, 14 periods, t(9)) covers only about 77%: HAC variances are biased
    downwards in series this short. Ignoring the shock biases the effect (about -0.37)."""
    from scipy import stats as st

    from primarycare.methods.trends import build_design

    rng = np.random.default_rng(7)
    reps, truth = 2000, LEVEL + 7 * SLOPE
    base = shocked("pulse")
    E = rng.normal(0, 0.5, (reps, len(base)))
    Y = base.y.to_numpy() + E
    out = {}
    for label, shocks in (("modelled", [2020]), ("ignored", [])):
        X = build_design(base.year.to_numpy(), [2016], shocks).to_numpy()
        n, k = X.shape
        c = np.zeros(k)
        c[2], c[3] = 1, 7
        a = X @ np.linalg.solve(X.T @ X, c)
        est = Y @ a
        resid = Y - Y @ (X @ np.linalg.solve(X.T @ X, X.T)).T
        se_nw = np.sqrt(_nw_var(a, resid, 2, k))
        se_cl = np.sqrt((resid**2).sum(1) / (n - k) * (a @ a))
        crit = st.t.ppf(0.975, n - k)
        out[label] = {
            "bias": est.mean() - truth,
            "mc_sd": est.std() / np.sqrt(reps),
            "cover_nw": np.mean(np.abs(est - truth) <= crit * se_nw),
            "cover_classical": np.mean(np.abs(est - truth) <= crit * se_cl),
        }
        ref = segmented(base.assign(y=Y[0]), "y", "year", 2016, shocks=shocks or None)
        assert ref.estimate == pytest.approx(est[0], rel=1e-10) and ref.se == pytest.approx(se_nw[0], rel=1e-10)
    m, ign = out["modelled"], out["ignored"]
    assert abs(m["bias"]) < 3 * m["mc_sd"], out
    assert 0.935 <= m["cover_classical"] <= 0.965, out  # binomial sd 0.005
    assert 0.72 <= m["cover_nw"] <= 0.83, out  # the measured under-coverage of the default HAC interval
    assert abs(ign["bias"]) > 8 * ign["mc_sd"], out  # (its interval is wide: the pulse inflates the residuals)


def test_prais_winsten_is_gls_with_first_row_kept():
    d = series(n=30, start=1990, t1=2005, seed=11, rho=0.6)
    r = segmented(d, "y", "year", 2005, errors="prais")
    X = hand_design(d.year.to_numpy(), [2005])
    y = d.y.to_numpy()
    rho = r.rho
    # explicit Prais-Winsten transform (first row scaled by sqrt(1 - rho^2)) + statsmodels OLS
    P = np.eye(len(y)) - rho * np.eye(len(y), k=-1)
    P[0, 0] = np.sqrt(1 - rho**2)
    ref = sm.OLS(P @ y, P @ X).fit()
    np.testing.assert_allclose(r.coefficients["estimate"].to_numpy(), ref.params, rtol=1e-8)
    np.testing.assert_allclose(r.coefficients["se"].to_numpy(), ref.bse, rtol=1e-8)
    # rho is the fixed point: the no-intercept regression of e_t on e_{t-1} of the original-scale residuals
    e = y - X @ ref.params
    assert rho == pytest.approx(e[1:] @ e[:-1] / (e[:-1] @ e[:-1]), abs=1e-8)
    assert "Prais-Winsten" in r.inference and r.errors == "prais"


def test_ar1_options_differ_near_unit_root():
    """Near a unit root the first observation carries most of the level information: GLSAR (drops it)
    and Prais-Winsten (keeps it, weight sqrt(1 - rho^2)) give different estimates and standard errors."""
    d = series(n=25, start=1995, t1=2008, seed=12, rho=0.97, noise=1.0)
    a = segmented(d, "y", "year", 2008, errors="ar1")
    p = segmented(d, "y", "year", 2008, errors="prais")
    o = segmented(d, "y", "year", 2008)
    assert a.rho > 0.5 and p.rho > 0.5
    assert abs(a.baseline_level.estimate - p.baseline_level.estimate) > 0.05
    assert abs(a.slope_change.se - p.slope_change.se) / p.slope_change.se > 0.02
    assert abs(o.slope_change.estimate - p.slope_change.estimate) > 1e-3
