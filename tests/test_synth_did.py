"""Tests for primarycare.synth.synthetic_did (Arkhangelsky et al. 2021): the estimate equals the paper's
weighted two-way fixed-effects regression, the weights solve the stated problems, invariances, recovery,
placebo standard errors and user errors. Panels are simulated (simulation settings, not data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.optimize import minimize
from test_synth import factor_panel

from primarycare.errors import UserInputError
from primarycare.methods.synth import synthetic_did


def _treated_panel(seed=3, effect=2.0, n_tr=1):
    d = factor_panel(seed=seed, effect=0.0)
    tr = [f"u{i:02d}" for i in range(n_tr)]
    d.loc[d.unit.isin(tr) & (d.year >= 2018), "y"] += effect
    return d, tr


@pytest.mark.parametrize("n_tr", [1, 3])
def test_estimate_equals_weighted_twfe_regression(n_tr):
    """Eq. (1) of Arkhangelsky et al. (2021): tau is the coefficient on D in a two-way FE regression
    weighted by omega_i (1/N_tr for treated) times lambda_t (1/T_post after treatment)."""
    d, tr = _treated_panel(n_tr=n_tr)
    r = synthetic_did(d, "y", "unit", "year", tr, 2018, n_placebo=20)
    uw = {**r.unit_weights.to_dict(), **{u: 1 / n_tr for u in tr}}
    tw = {**r.time_weights.to_dict(), **{y: 1 / 6 for y in range(2018, 2024)}}
    w = d.unit.map(uw) * d.year.map(tw)
    keep = w > 0
    dd = d[keep]
    X = pd.get_dummies(dd[["unit", "year"]].astype(str), drop_first=True).astype(float)
    X["D"] = (dd.unit.isin(tr) & (dd.year >= 2018)).astype(float)
    X = sm.add_constant(X)
    fit = sm.WLS(dd.y.to_numpy(), X.to_numpy(), weights=w[keep].to_numpy()).fit()
    assert fit.params[-1] == pytest.approx(r.estimate, abs=1e-8)


def test_weights_solve_the_regularised_problems():
    d, tr = _treated_panel()
    r = synthetic_did(d, "y", "unit", "year", tr, 2018, n_placebo=10)
    wide = d.pivot(index="unit", columns="year", values="y")
    Y0 = wide.drop(index=tr)
    pre = [y for y in wide.columns if y < 2018]
    A, b = Y0[pre].to_numpy().T, wide.loc[tr, pre].mean().to_numpy()
    ridge2 = r.zeta**2 * len(pre)

    def obj(w):  # intercept profiled out
        res = A @ w - b
        return float(np.sum((res - res.mean()) ** 2) + ridge2 * w @ w)

    n = A.shape[1]
    ref = minimize(
        obj,
        np.full(n, 1 / n),
        method="SLSQP",
        bounds=[(0, 1)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        options={"ftol": 1e-14, "maxiter": 2000},
    )
    ours = r.unit_weights.reindex(Y0.index).to_numpy()
    assert abs(ours.sum() - 1) < 1e-12 and ours.min() >= 0
    assert obj(ours) <= ref.fun + 1e-9
    # zeta = (N_tr T_post)^(1/4) * SD of the controls' pre-period first differences
    sigma = np.std(np.diff(Y0[pre].to_numpy(), axis=1), ddof=1)
    assert r.zeta == pytest.approx((1 * 6) ** 0.25 * sigma)


def test_invariant_to_unit_effects_and_a_common_trend():
    """Unit effects and a common linear trend leave the estimate unchanged (they cancel in the weighted
    DiD and do not move zeta, which depends on the SD of first differences; general time effects would
    change zeta and hence the weights)."""
    d, tr = _treated_panel(seed=5)
    r = synthetic_did(d, "y", "unit", "year", tr, 2018, n_placebo=10)
    rng = np.random.default_rng(0)
    ue = dict(zip(d.unit.unique(), rng.normal(0, 5, d.unit.nunique()), strict=True))
    d2 = d.assign(y=d.y + d.unit.map(ue) + 0.7 * (d.year - 2010))
    r2 = synthetic_did(d2, "y", "unit", "year", tr, 2018, n_placebo=10)
    assert r2.estimate == pytest.approx(r.estimate, abs=1e-6)


def test_recovers_effect_and_treatment_column_form():
    d, tr = _treated_panel(seed=3, effect=2.0, n_tr=3)
    r = synthetic_did(d, "y", "unit", "year", tr, 2018, n_placebo=100)
    assert abs(r.estimate - 2.0) < 3 * r.se and r.ci_low < 2.0 < r.ci_high
    d["D"] = (d.unit.isin(tr) & (d.year >= 2018)).astype(int)
    r2 = synthetic_did(d, "y", "unit", "year", treatment="D", n_placebo=100)
    assert r2.estimate == pytest.approx(r.estimate)
    assert r2.se == pytest.approx(r.se)  # same seed, same placebo draws
    from matplotlib.figure import Figure

    fig = r.plot()
    assert isinstance(fig, Figure) and any(t.get_text() == "SIMULATED DATA" for t in fig.texts)


@pytest.mark.slow
def test_placebo_se_matches_sampling_sd_under_null():
    """Over 60 null panels the mean placebo se is close to the SD of the estimates (ratio 0.7-1.4)."""
    taus, ses = [], []
    for s in range(60):
        d = factor_panel(seed=300 + s, effect=0.0)
        r = synthetic_did(d, "y", "unit", "year", ["u00"], 2018, n_placebo=30, seed=s)
        taus.append(r.estimate)
        ses.append(r.se)
    ratio = np.mean(ses) / np.std(taus, ddof=1)
    assert 0.7 <= ratio <= 1.4, ratio


def test_user_errors():
    d, tr = _treated_panel()
    d["D"] = (d.unit.isin(tr) & (d.year >= 2018)).astype(int)
    d.loc[(d.unit == "u01") & (d.year >= 2020), "D"] = 1  # a second, later adopter
    with pytest.raises(UserInputError, match="not a block design"):
        synthetic_did(d, "y", "unit", "year", treatment="D")
    with pytest.raises(UserInputError, match="not in column"):
        synthetic_did(d, "y", "unit", "year", ["nowhere"], 2018)
    with pytest.raises(UserInputError, match="too few pre-treatment"):
        synthetic_did(d, "y", "unit", "year", tr, 2012)
    with pytest.raises(UserInputError, match="outside the data"):
        synthetic_did(d, "y", "unit", "year", tr, 2040)
    small = d[d.unit.isin(["u00", "u01"])]
    r = synthetic_did(small, "y", "unit", "year", ["u00"], 2018)
    assert np.isnan(r.se) and any("more control units" in w for w in r.warnings)
