"""Tests for primarycare.methods.sensitivity: pre-trend power (Roth 2022) and honest DiD (Rambachan and
Roth 2023).

Oracle: diff-diff 3.13.0 (test-only). What it computes (see /work/shared/reference/oracles.md): its
identified sets follow the paper exactly (every M, both targets); its smoothness intervals are the optimal
FLCI (agreeing with HonestDiD to about 1e-3); its relative-magnitudes "interval" is the identified set
+/- 1.96 se, which is not the paper's interval and not ours (we only check that ours is wider); its Wald
pre-trend power uses chi-square(q) with delta_t = M |t - reference| when given the event times.

Public data: the Medicaid-expansion example of the HonestDiD vignette (state-level share insured,
``dins``, 2008-2015, states expanding in 2014 vs never; shipped with moderndid as ``ehec_data.pkl.gz``),
TWFE event study with reference year 2013, clustered by state, fitted by diff-diff itself so both
implementations see the same coefficients and covariance."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from primarycare import did
from primarycare.data.simulate import simulate_staggered
from primarycare.errors import UserInputError
from primarycare.methods.sensitivity import (
    _hinges,
    _rm_interval,
    breakdown_value,
    event_study_input,
    flci_halflength,
    honest_did,
    pretrend_power,
)

dd = pytest.importorskip("diff_diff")
moderndid = pytest.importorskip("moderndid")


@pytest.fixture(scope="module")
def ehec():
    from diff_diff import MultiPeriodDiD
    from diff_diff.honest_did import _extract_event_study_params

    path = Path(moderndid.__file__).parent / "core" / "datasets" / "ehec_data.pkl.gz"
    d = pd.read_pickle(path)
    d = d[(d.year < 2016) & (d.yexp2.isna() | (d.yexp2 == 2014))].copy()
    d["D"] = (d.yexp2 == 2014).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = MultiPeriodDiD(cluster="stfips").fit(
            d, outcome="dins", treatment="D", time="year", post_periods=[2014, 2015], absorb=["stfips"],
            reference_period=2013, unit="stfips",
        )
        b, S, npre, npost, pre, post, _ = _extract_event_study_params(res)
    times = np.array([*pre, *post]) - 2013
    assert npre == 5 and npost == 2 and times.tolist() == [-5, -4, -3, -2, -1, 1, 2]
    return res, {"betahat": b, "sigma": S, "event_times": times, "reference": 0}


def _dd_honest(res, method, M, l_vec):
    from diff_diff.honest_did import HonestDiD

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return HonestDiD(method=method, M=M, l_vec=l_vec).fit(res)


TARGETS = {"average": None, "e0": np.array([1.0, 0.0])}


@pytest.mark.parametrize("target", ["average", "e0"])
def test_relative_magnitudes_identified_sets_equal_diff_diff(ehec, target):
    res, raw = ehec
    grid = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0]
    mine = honest_did(method="relative_magnitudes", M=grid, target=target, **raw)
    for row in mine.table.itertuples():
        ref = _dd_honest(res, "relative_magnitude", row.M, TARGETS[target])
        assert row.id_lower == pytest.approx(ref.lb, abs=1e-10)
        assert row.id_upper == pytest.approx(ref.ub, abs=1e-10)
        # our Bonferroni interval is the plain interval at Mbar = 0 and wider than diff-diff's beyond
        if row.M == 0:
            assert (row.lower, row.upper) == pytest.approx((ref.ci_lb, ref.ci_ub), abs=1e-10)
        else:
            assert row.lower < ref.ci_lb and row.upper > ref.ci_ub
    assert not mine.table.id_set_empty.any()


@pytest.mark.parametrize("target", ["average", "e0"])
def test_smoothness_identified_sets_and_flci_match_diff_diff(ehec, target):
    """M = 0.005 gives an empty identified set (the pre-period coefficients' own second differences are
    larger): NaN bounds, like diff-diff; the FLCI is still reported. Intervals agree to ~1e-5 here (the
    outcome is a share; the interval is about 0.05 wide)."""
    res, raw = ehec
    grid = [0.0, 0.005, 0.03]
    mine = honest_did(method="smoothness", M=grid, target=target, **raw)
    for row in mine.table.itertuples():
        ref = _dd_honest(res, "smoothness", row.M, TARGETS[target])
        if np.isnan(ref.lb):
            assert np.isnan(row.id_lower) and np.isnan(row.id_upper) and row.id_set_empty
        else:
            assert row.id_lower == pytest.approx(ref.lb, abs=1e-10)
            assert row.id_upper == pytest.approx(ref.ub, abs=1e-10)
        assert row.lower == pytest.approx(ref.ci_lb, abs=1e-4)
        assert row.upper == pytest.approx(ref.ci_ub, abs=1e-4)
    assert mine.table.id_set_empty.tolist() == [True, True, False]
    assert any("empty" in n for n in mine.notes)


def test_pretrend_power_matches_diff_diff_wald(ehec):
    from diff_diff.pretrends import PreTrendsPower

    res, raw = ehec
    pre_years = [2008, 2009, 2010, 2011, 2012]
    mine = pretrend_power(slope=0.003, power=(0.5, 0.8), test="chi2", **raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref80 = PreTrendsPower(pretest_form="wald", power=0.8).fit(res, pre_periods=pre_years)
        ref50 = PreTrendsPower(pretest_form="wald", power=0.5).fit(res, pre_periods=pre_years)
        at = PreTrendsPower(pretest_form="wald").fit(res, M=0.003, pre_periods=pre_years)
    assert ref80.violation_weights.tolist() == [5, 4, 3, 2, 1]  # |t - reference|: per-period slope units
    slopes = mine.table.set_index("power")["slope"]
    assert slopes[0.8] == pytest.approx(ref80.mdv, rel=1e-6)
    assert slopes[0.5] == pytest.approx(ref50.mdv, rel=1e-6)
    assert mine.power == pytest.approx(at.power, abs=1e-6)
    assert mine.power_at(slopes[0.8]) == pytest.approx(0.8, abs=1e-9)


def test_pretrend_power_equals_simulated_rejection_rate():
    """Independent check of the power formula: draw lead coefficients N(slope w, S) and count how often
    the Wald chi-square test rejects (covariance known) and how often the F(q, df) test rejects when the
    covariance is estimated with df degrees of freedom (its scale a chi-square(df)/df draw, the model
    behind the F reference distribution). 40,000 draws: MC sd <= 0.0025."""
    rng = np.random.default_rng(3)
    q, dfd = 4, 30
    A = rng.normal(size=(q, q))
    S = (A @ A.T / q + np.eye(q)) * 0.01
    times = np.array([-5, -4, -3, -2, 0, 1])
    Sfull = np.eye(6) * 0.01
    Sfull[:4, :4] = S
    b = np.zeros(6)
    slope = 0.04
    mean = slope * (times[:4] + 1)
    draws = rng.multivariate_normal(mean, S, size=40_000)
    W = np.einsum("ij,jk,ik->i", draws, np.linalg.inv(S), draws)
    scale = rng.chisquare(dfd, size=len(W)) / dfd
    for test, reject in (("chi2", W > stats.chi2.ppf(0.95, q)), ("F", W / q / scale > stats.f.ppf(0.95, q, dfd))):
        r = pretrend_power(slope=slope, test=test, betahat=b, sigma=Sfull, event_times=times, reference=-1,
                           df_denom=dfd)
        assert r.power == pytest.approx(reject.mean(), abs=0.01), test
    # the F(q, df) test (estimated covariance) is less powerful than chi-square with the same lambda
    f = pretrend_power(slope=slope, betahat=b, sigma=Sfull, event_times=times, reference=-1, df_denom=dfd)
    c = pretrend_power(slope=slope, betahat=b, sigma=Sfull, event_times=times, reference=-1)
    assert f.test.startswith("F(4, 30)") and c.test.startswith("Wald chi-square(4)") and f.power < c.power


def test_worst_case_bias_closed_form_equals_linear_program():
    """b(v) = M sum_k |v'K_k| (hinge functions) equals max v'delta over Delta^SD(M) by linear programming,
    for random trend-neutral v, with the reference (event time 0) pinned at delta_0 = 0."""
    rng = np.random.default_rng(5)
    e = np.array([-4, -3, -2, -1, 1, 2, 3], dtype=float)
    n = len(e)
    full = np.zeros((n + 1, n))  # path over -4..3 with delta_0 = 0 inserted
    full[:4, :4] = np.eye(4)
    full[5:, 4:] = np.eye(3)
    D = full[2:] - 2 * full[1:-1] + full[:-2]
    M = 0.7
    for _ in range(5):
        v = rng.normal(size=n)
        v -= e * (v @ e) / (e @ e)  # neutral to linear trends
        lp = optimize.linprog(-v, A_ub=np.vstack([D, -D]), b_ub=np.full(2 * len(D), M), bounds=(None, None))
        assert lp.status == 0
        assert -lp.fun == pytest.approx(M * np.abs(_hinges(e).T @ v).sum(), rel=1e-9)
    # not neutral: unbounded bias
    assert flci_halflength(np.ones(n), np.eye(n), e, M, 0.05) == np.inf


def test_flci_is_optimal_and_exact_at_m0(ehec):
    _, raw = ehec
    d = event_study_input(**raw)
    e = (d.event_times - d.reference).astype(float)
    l_vec = np.array([0.5, 0.5])
    M = 0.02
    r = honest_did(method="smoothness", M=[0.0, M], target="average", **raw)
    half = (r.table.upper - r.table.lower).to_numpy() / 2
    # M = 0: the minimum-variance trend-neutral estimator, half-length z sd
    pre = e < 0
    S = d.sigma
    # minimise v'Sv over v_pre with v_pre'e_pre = -l'e_post (closed form via the KKT system)
    k = int(pre.sum())
    kkt = np.zeros((k + 1, k + 1))
    kkt[:k, :k] = 2 * S[np.ix_(pre, pre)]
    kkt[:k, k] = kkt[k, :k] = e[pre]
    sol = np.linalg.solve(kkt, np.r_[-2 * S[np.ix_(pre, ~pre)] @ l_vec, -l_vec @ e[~pre]])
    v = np.r_[sol[:k], l_vec]
    assert half[0] == pytest.approx(stats.norm.ppf(0.975) * np.sqrt(v @ S @ v), rel=1e-8)
    # M > 0: no random trend-neutral perturbation of the optimum gives a shorter interval
    rng = np.random.default_rng(9)
    c, h = (r.table.upper[1] + r.table.lower[1]) / 2, half[1]
    from primarycare.methods.sensitivity import _flci

    _, h2, _, vopt = _flci(d, l_vec, M, 0.05)
    assert h2 == pytest.approx(h) and c == pytest.approx(vopt @ d.betahat)
    assert flci_halflength(vopt, S, e, M, 0.05) == pytest.approx(h, rel=1e-10)
    for _ in range(200):
        dv = np.r_[rng.normal(size=k), 0, 0] * 0.05
        dv[:k] -= e[pre] * (dv[:k] @ e[pre]) / (e[pre] @ e[pre])
        assert flci_halflength(vopt + dv, S, e, M, 0.05) >= h * (1 - 1e-7)


def test_breakdown_values(ehec):
    _, raw = ehec
    for method in ("relative_magnitudes", "smoothness"):
        r = honest_did(method=method, M=[0.0], **raw)
        bd = r.breakdown
        assert 0 < bd < np.inf
        at = honest_did(method=method, M=[bd * 0.999, bd * 1.001], **raw).table
        assert at.lower[0] > 0 and at.lower[1] <= 0, (method, at)
    # a strong effect: the breakdown Mbar is above 1 and solves the (linear in Mbar) Bonferroni bound = 0
    times = np.array([-3, -2, 0, 1])
    b = np.array([0.01, -0.01, 0.5, 0.6])
    S = np.diag([0.01, 0.01, 0.02, 0.02]) ** 2
    r = honest_did(method="relative_magnitudes", M=[1.0], betahat=b, sigma=S, event_times=times)
    d = event_study_input(betahat=b, sigma=S, event_times=times)
    fd_se = np.sqrt([S[0, 0] + S[1, 1], S[1, 1]])
    m_up = np.max(np.abs([-0.02, 0.01]) + stats.norm.ppf(1 - 0.05 / 8) * fd_se)
    c_l = 1.5  # l = (1/2, 1/2): |1| + |1/2|
    expect = (0.55 - stats.norm.ppf(1 - 0.05 / 4) * np.sqrt(0.25 * (S[2, 2] + S[3, 3]))) / (c_l * m_up)
    assert r.breakdown == pytest.approx(expect, rel=1e-5) and r.breakdown > 1
    assert _rm_interval(d, np.array([0.5, 0.5]), expect, 0.05)[0] == pytest.approx(0, abs=1e-7)
    rm = honest_did(method="relative_magnitudes", **raw)
    assert rm.table.M.tolist() == list(np.linspace(0, 2, 9))
    assert "Breakdown Mbar" in rm.summary() and "Bonferroni" in rm.summary()


def test_relative_magnitudes_identified_set_closed_form_equals_linear_program():
    """The Delta^RM(Mbar) identified set (theta -/+ Mbar max|fd_pre| c_l) equals the linear program of
    Rambachan and Roth (2023, eqs. 5-6) written out here: delta_pre pinned to beta_pre, every post first
    difference (from delta_0 = 0 on) at most Mbar max|fd_pre|; random coefficients and targets."""
    rng = np.random.default_rng(21)
    times = np.array([-4, -3, -2, 0, 1, 2, 3])  # reference -1
    T, Tb = 3, 4
    for _ in range(6):
        b = rng.normal(scale=0.1, size=7)
        l_vec = rng.normal(size=Tb)
        M = float(rng.uniform(0, 2))
        r = honest_did(method="relative_magnitudes", M=[M], target=l_vec, betahat=b, sigma=np.eye(7) * 0.01,
                       event_times=times)
        bound = M * np.max(np.abs(np.diff(np.r_[b[:T], 0.0])))
        # variables delta at -4..-2 and 0..3 (the reference -1 is delta = 0 and sits between them)
        n = T + Tb
        full = np.zeros((n + 1, n))
        full[:T, :T] = np.eye(T)
        full[T + 1:, T:] = np.eye(Tb)
        D = (full[1:] - full[:-1])[T:]
        A_eq = np.hstack([np.eye(T), np.zeros((T, Tb))])
        c = np.r_[np.zeros(T), l_vec]
        ends = [optimize.linprog(sg * c, A_ub=np.vstack([D, -D]), b_ub=np.full(2 * Tb, bound), A_eq=A_eq,
                                 b_eq=b[:T], bounds=(None, None)) for sg in (1.0, -1.0)]
        theta = l_vec @ b[T:]
        assert r.table.id_lower[0] == pytest.approx(theta + ends[1].fun, abs=1e-10)
        assert r.table.id_upper[0] == pytest.approx(theta - ends[0].fun, abs=1e-10)


def test_breakdown_value_alone_equals_honest_did_breakdown(ehec):
    """breakdown_value computes only the breakdown, exactly the number honest_did reports with its grid."""
    _, raw = ehec
    for method in ("relative_magnitudes", "smoothness"):
        for target in ("average", "e0"):
            full = honest_did(method=method, target=target, **raw)
            assert breakdown_value(method=method, target=target, **raw) == full.breakdown
    with pytest.raises(UserInputError, match="method must be"):
        breakdown_value(method="rm", **raw)


def test_relative_magnitudes_bonferroni_interval_covers():
    """Coverage of the Bonferroni interval at the worst case of Delta^RM(1): true pre-trend with first
    differences of 0.02 and post first differences of the same size (Mbar = 1), theta = 0; 4,000 draws."""
    rng = np.random.default_rng(11)
    times = np.array([-4, -3, -2, 0, 1, 2])  # reference -1
    delta = np.array([-0.06, -0.04, -0.02, 0.02, 0.04, 0.06])
    S = 0.0004 * (0.5 * np.eye(6) + 0.5)
    draws = rng.multivariate_normal(delta, S, size=4000)
    d = event_study_input(betahat=delta, sigma=S, event_times=times)
    l_vec = np.full(3, 1 / 3)
    r = honest_did(method="relative_magnitudes", M=[1.0], betahat=delta, sigma=S, event_times=times)
    assert r.table.id_lower[0] == pytest.approx(0.0, abs=1e-12)  # theta = 0 sits on the identified set's edge
    hits = 0
    for b in draws:
        d.betahat = b
        lo, hi = _rm_interval(d, l_vec, 1.0, 0.05)
        hits += lo <= 0 <= hi
    assert hits / 4000 >= 0.95


def test_event_study_result_input_lines_up_with_table():
    df = simulate_staggered(n_units=40, n_periods=10, n_cohorts=3, heterogeneous=True, dynamic=0.2, seed=1)
    es = did.event_study(df, "y", "unit", "time", "first_treated", window=(-3, 4), method="twfe")
    d = event_study_input(es)
    rows = es.table[~es.table.reference]
    assert d.reference == -1 and d.event_times.tolist() == rows.rel_time.tolist()
    np.testing.assert_allclose(d.betahat, rows.estimate)
    np.testing.assert_allclose(np.sqrt(np.diag(d.sigma)), rows.se)
    assert d.df_denom == es.pretrend["df_denom"]
    # the F test reported by the chapter: at slope 0 the "power" is the size, and the Wald F statistic of
    # the leads is the event study's own pre-trend statistic
    p = pretrend_power(es, slope=0.0)
    assert p.power == pytest.approx(0.05) and p.test.startswith(f"F({int(d.pre.sum())}")
    pre = d.pre
    F = d.betahat[pre] @ np.linalg.solve(d.sigma[np.ix_(pre, pre)], d.betahat[pre]) / pre.sum()
    assert F == pytest.approx(es.pretrend["statistic"], rel=1e-8)
    raw = honest_did(method="smoothness", M=[0.1], betahat=rows.estimate, sigma=es.vcov,
                     event_times=rows.rel_time, reference=-1)
    via = honest_did(es, method="smoothness", M=[0.1])
    pd.testing.assert_frame_equal(raw.table, via.table)
    # a covariance that does not line up with the table is refused
    bad = type(es)(**{**es.__dict__, "vcov": es.vcov[::-1, ::-1]})
    with pytest.raises(UserInputError, match="does not line up"):
        event_study_input(bad)
    imp = did.event_study(df, "y", "unit", "time", "first_treated", window=(-3, 4), method="imputation")
    with pytest.raises(UserInputError, match="no omitted reference"):
        honest_did(imp)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "rm"}, "method must be"),
        ({"M": [-1.0]}, "non-negative"),
        ({"target": "last"}, "target must be"),
        ({"target": 2}, "target must be"),
        ({"target": [1.0, 2.0, 3.0]}, "target must be"),
        ({"event_times": [-5, -4, -2, 0, 1], "reference": -1}, "not consecutive"),
        ({"event_times": [-5, -4, -3, -2, -1], "reference": 0}, "at least one pre-period"),
        ({"event_times": [-5, -4, -3, -1, 0], "reference": -1}, "include the reference"),
        ({"alpha": 1.5}, "alpha"),
    ],
)
def test_user_errors(kwargs, match):
    raw = {"betahat": np.zeros(5), "sigma": np.eye(5), "event_times": [-4, -3, -2, 0, 1], "reference": -1}
    raw.update(kwargs)
    with pytest.raises(UserInputError, match=match):
        honest_did(**raw)


def test_pretrend_power_user_errors():
    raw = {"betahat": np.zeros(3), "sigma": np.eye(3), "event_times": [-3, -2, 0], "reference": -1}
    with pytest.raises(UserInputError, match="target power"):
        pretrend_power(power=(0.01,), **raw)
    with pytest.raises(UserInputError, match="df_denom"):
        pretrend_power(test="F", **raw)
    with pytest.raises(UserInputError, match="EventStudyResult"):
        pretrend_power(es="not a result")


def test_one_pre_one_post_period_closed_form_and_integer_target():
    """T = Tbar = 1: the only trend-neutral estimator is beta_1 + beta_-1 (linear extrapolation through
    the reference), its worst-case bias over Delta^SD(M) is M, so the FLCI is (b1 + b-1) +/- cv(M/s) s."""
    S = np.array([[0.04, 0.01], [0.01, 0.09]])
    b = np.array([-0.1, 0.7])
    r = honest_did(method="smoothness", M=[0.0, 0.3], betahat=b, sigma=S, event_times=[-2, 0])
    s = np.sqrt(S.sum())
    for row in r.table.itertuples():
        # cv solves P(|N(M/s, 1)| <= cv) = 0.95
        cv = optimize.brentq(lambda x, t=row.M / s: stats.norm.cdf(x - t) - stats.norm.cdf(-x - t) - 0.95, 0, 20)
        assert (row.lower + row.upper) / 2 == pytest.approx(0.6, abs=1e-10)
        assert (row.upper - row.lower) / 2 == pytest.approx(cv * s, rel=1e-9)
        # identified set: delta_1 in [-delta_-1 - M, -delta_-1 + M] = [-0.1 - M, -0.1 + M] -> theta = 0.7 - delta_1
        assert (row.id_lower, row.id_upper) == pytest.approx((0.6 - row.M, 0.6 + row.M), abs=1e-10)
    raw = {"betahat": [0.0, 0.1, 0.3, 0.2], "sigma": np.eye(4) * 0.01, "event_times": [-3, -2, 0, 1]}
    a = honest_did(method="smoothness", M=[0.05], target=1, **raw)
    v = honest_did(method="smoothness", M=[0.05], target=[0.0, 1.0], **raw)
    pd.testing.assert_frame_equal(a.table, v.table)
    assert "e = 1" in a.target


def test_flci_coverage_is_exact_at_the_worst_case_violation(ehec):
    """The FLCI's estimator v'beta depends on sigma only, so under the violation delta* in Delta^SD(M)
    that maximises its bias (found here by linear programming) it covers the true effect with probability
    exactly 95%, and more often under no violation. 20,000 draws (MC sd 0.0015)."""
    from primarycare.methods.sensitivity import _flci

    _, raw = ehec
    d = event_study_input(**raw)
    M, l_vec = 0.02, np.array([0.5, 0.5])
    _, h, _, v = _flci(d, l_vec, M, 0.05)
    n = len(v)
    full = np.zeros((n + 1, n))
    full[:5, :5] = np.eye(5)
    full[6:, 5:] = np.eye(2)
    D = full[2:] - 2 * full[1:-1] + full[:-2]
    lp = optimize.linprog(-v, A_ub=np.vstack([D, -D]), b_ub=np.full(2 * len(D), M), bounds=(None, None))
    delta = lp.x
    assert -lp.fun / np.sqrt(v @ d.sigma @ v) > 0.5  # a material bias
    rng = np.random.default_rng(13)
    noise = rng.multivariate_normal(np.zeros(n), d.sigma, size=20_000)
    tau = np.r_[np.zeros(5), 0.03, 0.05]  # any true effects: theta = l'tau_post = 0.04
    theta = 0.04
    worst = np.mean(np.abs((delta + tau + noise) @ v - theta) <= h)
    none = np.mean(np.abs((tau + noise) @ v - theta) <= h)
    assert worst == pytest.approx(0.95, abs=0.005)
    assert none > 0.97
