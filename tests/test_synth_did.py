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
from primarycare.methods.sdid import synthetic_did as sdid_direct
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


def test_placebo_enumerates_every_assignment_when_there_are_few():
    """One treated unit and 30 controls: 30 distinct placebo assignments. With n_placebo >= 30 each is
    used once (the exact placebo variance); each placebo estimate is the estimate on the controls alone
    with that control treated; seeded draws (``placebo="draws"``, the R package's way) only ever
    produce those values, and their se estimates the exact one."""
    d, tr = _treated_panel(seed=8)
    ex = synthetic_did(d, "y", "unit", "year", tr, 2018, n_placebo=200, seed=1)
    assert ex.extra["placebo_enumerated"] and len(ex.placebo_estimates) == 30
    assert "all 30 distinct placebo assignments" in ex.inference
    controls = sorted(u for u in d.unit.unique() if u not in tr)
    for i in (0, 17, 29):  # control i (sorted) given the reform, the really treated unit left out
        rebuilt = synthetic_did(d[d.unit.isin(controls)], "y", "unit", "year", [controls[i]], 2018, n_placebo=2)
        assert rebuilt.estimate == pytest.approx(ex.placebo_estimates[i], abs=1e-10)
    assert ex.se == pytest.approx(np.std(ex.placebo_estimates), rel=1e-12)
    again = synthetic_did(d, "y", "unit", "year", tr, 2018, n_placebo=30, seed=99)  # no draws: seed-free
    assert again.se == ex.se and again.extra["placebo_enumerated"]
    dr = synthetic_did(d, "y", "unit", "year", tr, 2018, n_placebo=400, seed=1, placebo="draws")
    assert not dr.extra["placebo_enumerated"] and len(dr.placebo_estimates) == 400
    dist = np.abs(dr.placebo_estimates[:, None] - ex.placebo_estimates[None, :]).min(axis=1)
    assert dist.max() < 1e-9
    assert dr.se == pytest.approx(ex.se, rel=0.15)  # Monte Carlo error of 400 draws
    few = synthetic_did(d, "y", "unit", "year", tr, 2018, n_placebo=29, seed=1)  # fewer draws than assignments
    assert not few.extra["placebo_enumerated"] and len(few.placebo_estimates) == 29
    with pytest.raises(UserInputError, match="placebo must be"):
        synthetic_did(d, "y", "unit", "year", tr, 2018, placebo="all")


def test_staggered_placebo_enumeration_gives_each_control_pair_both_cohorts():
    """Two one-unit cohorts and 6 controls: 6 * 5 = 30 ordered assignments, each used once; each
    estimate equals the staggered estimate on the controls with that pair given the two cohorts."""
    from primarycare.methods.sdid import _all_placebo_assignments, _n_placebo_assignments

    assert _n_placebo_assignments(6, [1, 1]) == 30 and _n_placebo_assignments(30, [1]) == 30
    assert _n_placebo_assignments(10, [2, 3]) == 45 * 56
    parts = list(_all_placebo_assignments(6, [2, 1]))
    assert len(parts) == _n_placebo_assignments(6, [2, 1]) == 60
    seen = {(tuple(c[0]), tuple(c[1])) for _, c in parts}
    assert len(seen) == 60 and all(len(k) == 3 and set(k).isdisjoint({*c[0], *c[1]}) for k, c in parts)
    d = _staggered_panel(seed=3)
    ft = d.groupby("unit").first_treated.first()
    a, b = ft[ft == 2014].index[0], ft[ft == 2020].index[0]
    never = sorted(ft[ft == 0].index)[:6]
    small = d[d.unit.isin([a, b, *never])]
    r = synthetic_did(small, "y", "unit", "time", first_treated="first_treated", n_placebo=30)
    assert r.staggered and r.extra["placebo_enumerated"] and len(r.placebo_estimates) == 30
    for j, (_, (c14, c20)) in enumerate(_all_placebo_assignments(6, [1, 1])):
        if j % 7:
            continue
        fake = small[small.unit.isin(never)].copy()
        fake["first_treated"] = fake.unit.map({never[c14[0]]: 2014, never[c20[0]]: 2020}).fillna(0).astype(int)
        rebuilt = synthetic_did(fake, "y", "unit", "time", first_treated="first_treated", n_placebo=1)
        assert rebuilt.estimate == pytest.approx(r.placebo_estimates[j], abs=1e-10)


def test_user_errors():
    d, tr = _treated_panel()
    d["D"] = (d.unit.isin(tr) & (d.year >= 2018)).astype(int)
    d.loc[(d.unit == "u01") & (d.year == 2020), "D"] = 1  # treated in 2020 only: switches off again
    with pytest.raises(UserInputError, match="not absorbing"):
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


# --------------------------------------------------------------------------------------------------
# module layout, California (block design) and staggered adoption against synthdid-py 0.1.0 (a port of
# the authors' R package; oracles.md: California -15.604). synthdid-py solves the weights by Frank-Wolfe
# with sparsification, we solve them exactly: so estimates are compared with a tolerance, and exactly
# once our weights are given to synthdid-py (the estimator formula), and our weights must reach at least
# as low a penalised objective as theirs (the weight problems).


def test_reexport_from_synth():
    from primarycare import synth
    from primarycare.methods import sdid

    assert synthetic_did is sdid_direct and synth.SyntheticDiD is sdid.SyntheticDiD


def _california():
    from synthdid import load_california_prop99

    return load_california_prop99()


def _omega_objective(Y0pre, target, w, zeta):
    """Arkhangelsky et al. (2021) eq. (2.2) with the intercept profiled out."""
    r = Y0pre.T @ w - target
    return float(np.sum((r - r.mean()) ** 2) + zeta**2 * Y0pre.shape[1] * w @ w)


def _check_against_synthdid(Y, n0, t0, ours):
    """``Y`` controls first; ``ours`` a CohortFit. Returns synthdid-py's own estimate."""
    from synthdid import synthdid_estimate

    theirs = synthdid_estimate(Y, n0, t0)
    fixed = synthdid_estimate(Y, n0, t0, weights={"omega": ours.omega.to_numpy(), "lambda": ours.lam.to_numpy()})
    assert float(fixed) == pytest.approx(ours.tau, abs=1e-9)  # same estimator given the weights
    target = Y[n0:, :t0].mean(axis=0)
    ours_obj = _omega_objective(Y[:n0, :t0], target, ours.omega.to_numpy(), ours.zeta)
    their_obj = _omega_objective(Y[:n0, :t0], target, np.asarray(theirs.weights.omega), ours.zeta)
    assert ours_obj <= their_obj + 1e-9 * abs(their_obj)  # exact solution at least as good as Frank-Wolfe
    return float(theirs)


def test_california_block_design_matches_synthdid_py():
    df = _california()
    r = synthetic_did(df, "PacksPerCapita", "State", "Year", "California", 1989, n_placebo=50)
    wide = df.pivot(index="State", columns="Year", values="PacksPerCapita")
    controls = [s for s in wide.index if s != "California"]
    Y = wide.loc[[*controls, "California"]].to_numpy()
    theirs = _check_against_synthdid(Y, len(controls), 19, r.cohort_fits[1989])
    assert theirs == pytest.approx(-15.604, abs=5e-4)  # the R package's published value
    assert r.estimate == pytest.approx(theirs, abs=5e-3)  # measured: -15.6054 vs -15.6038
    assert not r.staggered and len(r.cohorts) == 1 and r.cohorts["weight"].iloc[0] == 1.0


def _staggered_panel(seed=4, effect=1.0):
    from primarycare.data.simulate import simulate_staggered

    return simulate_staggered(
        n_units=31, n_periods=14, cohorts={2014: 0.13, 2017: 0.1, 2020: 0.13}, effect=effect,
        heterogeneous=True, seed=seed,
    )


def test_staggered_matches_synthdid_py_cohort_by_cohort():
    """Clarke et al. (2023): each cohort against the never-treated over all periods, weighted by treated
    unit-periods. Cohort sizes, periods and weights equal synthdid-py's exactly; estimates to 0.01."""
    from synthdid import staggered_synthdid_estimate

    d = _staggered_panel()
    r = synthetic_did(d, "y", "unit", "time", first_treated="first_treated", n_placebo=20)
    e = staggered_synthdid_estimate(d, unit="unit", time="time", outcome="y", treatment="treated")
    b = e.by_cohort
    assert r.staggered and list(r.cohorts["cohort"]) == list(b["adoption_time"]) == [2014, 2017, 2020]
    for col in ("n_treated", "n_control", "n_pre", "n_post"):
        assert list(r.cohorts[col]) == list(b[col])
    np.testing.assert_allclose(r.cohorts["weight"], b["weight"], rtol=1e-12)
    np.testing.assert_allclose(r.cohorts["estimate"], b["tau"], atol=0.01)
    assert r.estimate == pytest.approx(float(np.dot(r.cohorts["weight"], r.cohorts["estimate"])), abs=1e-12)
    assert r.estimate == pytest.approx(e.att, abs=0.01)
    wide = d.pivot(index="unit", columns="time", values="y")
    never = sorted(d.loc[d.first_treated == 0, "unit"].unique())
    for g, fit in r.cohort_fits.items():
        Y = wide.loc[never + fit.treated_units].to_numpy()
        _check_against_synthdid(Y, len(never), int((wide.columns < g).sum()), fit)


def test_staggered_design_forms_agree_and_one_cohort_is_the_block_estimator():
    d = _staggered_panel(seed=7)
    r1 = synthetic_did(d, "y", "unit", "time", first_treated="first_treated", n_placebo=30)
    r2 = synthetic_did(d, "y", "unit", "time", treatment="treated", n_placebo=30)
    ft = d.groupby("unit").first_treated.first()
    ft = ft[ft > 0]
    r3 = synthetic_did(d, "y", "unit", "time", treatment_time=ft.to_dict(), n_placebo=30)
    r4 = synthetic_did(d, "y", "unit", "time", list(ft.index), list(ft.values), n_placebo=30)
    for r in (r2, r3, r4):
        assert r.estimate == pytest.approx(r1.estimate, abs=1e-12) and r.se == pytest.approx(r1.se, abs=1e-12)
    one = d[d.first_treated.isin([0, 2017])]
    rb = synthetic_did(one, "y", "unit", "time", sorted(one.loc[one.first_treated == 2017, "unit"].unique()), 2017,
                       n_placebo=30)
    rs = synthetic_did(one, "y", "unit", "time", first_treated="first_treated", n_placebo=30)
    assert rs.estimate == pytest.approx(rb.estimate, abs=1e-12) and rs.se == pytest.approx(rb.se, abs=1e-12)
    assert r1.estimate == pytest.approx(r1.cohorts["estimate"] @ r1.cohorts["weight"], abs=1e-12)


def test_staggered_placebo_draws_are_never_treated_units_given_the_adoption_pattern():
    """Each placebo draw is the staggered estimate on the never-treated units alone, with randomly chosen
    ones given the observed cohorts (Clarke et al. 2023); the se is the SD of the draws. Draw 0 is
    rebuilt from the same random permutation and compared, and with synthdid-py on the same relabelled
    panel (to the solver tolerance)."""
    from synthdid import staggered_synthdid_estimate

    d = _staggered_panel(seed=11)
    r = synthetic_did(d, "y", "unit", "time", first_treated="first_treated", n_placebo=25, seed=5)
    assert r.se == pytest.approx(np.std(r.placebo_estimates), rel=1e-12)
    never = sorted(d.loc[d.first_treated == 0, "unit"].unique())
    perm = np.random.default_rng(5).permutation(len(never))
    n_tr = int(r.cohorts["n_treated"].sum())
    fake_units = [never[i] for i in perm[len(never) - n_tr:]]
    pattern = np.repeat(r.cohorts["cohort"].to_numpy(), r.cohorts["n_treated"].to_numpy())
    fake = d[d.unit.isin(never)].copy()
    fake["first_treated"] = fake.unit.map(dict(zip(fake_units, pattern, strict=True))).fillna(0).astype(int)
    rebuilt = synthetic_did(fake, "y", "unit", "time", first_treated="first_treated", n_placebo=2)
    assert rebuilt.estimate == pytest.approx(r.placebo_estimates[0], abs=1e-10)
    fake["treated"] = ((fake.first_treated > 0) & (fake.time >= fake.first_treated)).astype(int)
    e = staggered_synthdid_estimate(fake, unit="unit", time="time", outcome="y", treatment="treated")
    assert e.att == pytest.approx(r.placebo_estimates[0], abs=0.01)


def test_staggered_recovers_the_weighted_cohort_effect():
    """Heterogeneous cohort effects (simulation settings): the target is the cohort-size-weighted average
    of the true cohort effects, and it lies within 3 placebo se of the estimate."""
    d = _staggered_panel(seed=21, effect=2.0)
    r = synthetic_did(d, "y", "unit", "time", first_treated="first_treated", n_placebo=100)
    truth = d[d.treated == 1].groupby("first_treated").true_effect.mean()
    target = float(truth.reindex(r.cohorts["cohort"]).to_numpy() @ r.cohorts["weight"].to_numpy())
    assert abs(r.estimate - target) < 3 * r.se and r.se > 0
    null = synthetic_did(_staggered_panel(seed=21, effect=0.0), "y", "unit", "time", first_treated="first_treated",
                         n_placebo=100)
    assert abs(null.estimate) < 3 * null.se and abs(null.estimate - target) > 3 * null.se
    from matplotlib.figure import Figure

    assert isinstance(r.plot(), Figure)


def test_staggered_user_errors_and_notes():
    d = _staggered_panel()
    with pytest.raises(UserInputError, match="one way only"):
        synthetic_did(d, "y", "unit", "time", treatment="treated", first_treated="first_treated")
    bad = d.copy()
    bad.loc[(bad.unit == bad.unit.iloc[0]) & (bad.time == 2015), "first_treated"] = 2016
    with pytest.raises(UserInputError, match="varies within unit"):
        synthetic_did(bad, "y", "unit", "time", first_treated="first_treated")
    with pytest.raises(UserInputError, match="one period per unit"):
        synthetic_did(d, "y", "unit", "time", [1, 2, 3], [2014, 2017])
    early = d.copy()
    early.loc[early.first_treated == 2014, "first_treated"] = 2011  # one pre-period: cohort dropped
    early.loc[early.first_treated == 2020, "first_treated"] = 2030  # after the data: never treated
    r = synthetic_did(early, "y", "unit", "time", first_treated="first_treated", n_placebo=10)
    assert list(r.cohorts["cohort"]) == [2017]
    assert any("dropped" in w for w in r.warnings) and any("count as never treated" in w for w in r.warnings)
    assert r.cohorts["n_control"].iloc[0] == (d.first_treated == 0).groupby(d.unit).first().sum() + 4


@pytest.mark.slow
def test_staggered_placebo_se_matches_sampling_sd_under_null():
    """Over 60 null staggered panels (simulation settings) the mean placebo se is close to the SD of the
    estimates (ratio 0.7-1.4), as for the block design above."""
    taus, ses = [], []
    for s in range(60):
        d = _staggered_panel(seed=500 + s, effect=0.0)
        assert (d.true_effect == 0).all()
        r = synthetic_did(d, "y", "unit", "time", first_treated="first_treated", n_placebo=30, seed=s)
        taus.append(r.estimate)
        ses.append(r.se)
    ratio = np.mean(ses) / np.std(taus, ddof=1)
    assert 0.7 <= ratio <= 1.4, ratio
