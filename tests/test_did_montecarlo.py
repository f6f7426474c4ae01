"""Known truth: Monte Carlo coverage, randomization-test size, and TWFE bias under staggered effects.

Panels come from primarycare.simulate.simulate_staggered with planted effects (``true_effect``).
Simulation settings below (panel sizes, effect paths, number of replications) are test settings, not
facts about China.
"""

from __future__ import annotations

import numpy as np
import pytest

from primarycare import did, inference
from primarycare.data.simulate import simulate_staggered

N_PANELS = 200


def _covers(r, truth: float) -> bool:
    return bool(r.ci_low <= truth <= r.ci_high)


@pytest.mark.slow
def test_coverage_of_planted_average_effect():
    """Each estimator's 95% CI covers its planted target in 90-99% of 200 panels."""
    hits = {"twfe": [], "sun_abraham": [], "imputation": [], "cs_simple": [], "cs_dynamic0": []}
    for s in range(N_PANELS):
        # homogeneous constant effect: the TWFE target is unambiguous
        h = simulate_staggered(n_units=60, n_periods=10, n_cohorts=3, effect=1.0, seed=10_000 + s)
        hits["twfe"].append(_covers(did.twfe(h, "y", "unit", "time", "treated", cluster="unit"), 1.0))
        # heterogeneous, dynamic effects: robust estimators target the average over treated observations
        df = simulate_staggered(n_units=60, n_periods=10, n_cohorts=3, effect=1.0, dynamic=0.2,
                                heterogeneous=True, seed=20_000 + s)
        tr = df.loc[df.treated == 1]
        rel = tr.time - tr.first_treated
        truth_all = tr.true_effect.mean()
        sa = did.event_study(df, "y", "unit", "time", "first_treated", window=(-3, 9), method="sun_abraham")
        hits["sun_abraham"].append(_covers(sa, tr.loc[rel <= 9, "true_effect"].mean()))
        imp = did.event_study(df, "y", "unit", "time", "first_treated", window=(-3, 9), method="imputation")
        hits["imputation"].append(_covers(imp, truth_all))
        cs = did.callaway_santanna(df, "y", "unit", "time", "first_treated")
        hits["cs_simple"].append(_covers(cs, truth_all))
        dyn = cs.aggregate("dynamic", n_boot=199, seed=s).table.set_index("rel_time")
        t0 = tr.loc[rel == 0, "true_effect"].mean()
        hits["cs_dynamic0"].append(bool(dyn.loc[0, "ci_low"] <= t0 <= dyn.loc[0, "ci_high"]))
    cov = {k: float(np.mean(v)) for k, v in hits.items()}
    for k, c in cov.items():
        assert 0.90 <= c <= 0.99, (k, cov)


@pytest.mark.slow
def test_randomization_test_size_under_no_effect():
    """Four staggered provincial reforms, no effect: rejection at 5% in 3-7% of panels (fast kernel)."""
    cohorts = {2014: 1 / 31, 2016: 1 / 31, 2018: 1 / 31, 2020: 1 / 31}
    rej = []
    for s in range(600):
        df = simulate_staggered(n_units=31, n_periods=14, cohorts=cohorts, effect=0.0, seed=30_000 + s)
        tu = sorted(df.loc[df.treated == 1, "unit"].unique())
        r = inference.randomization_test(
            lambda d: did.twfe(d, "y", "unit", "time", "treated"), df, "unit", tu, "treated",
            n_permutations=499, seed=s, ci=False,
        )
        assert r.fast
        rej.append(r.p_value <= 0.05)
    rate = float(np.mean(rej))
    assert 0.03 <= rate <= 0.07, rate


def _bias_panel(seed: int):
    # two cohorts, no never-treated units, effects growing with time since reform (simulation setting)
    return simulate_staggered(n_units=40, n_periods=12, cohorts={2013: 0.5, 2017: 0.5}, effect=1.0,
                              dynamic=0.5, seed=seed, sigma=0.3)


def test_twfe_biased_under_heterogeneous_staggered_effects_robust_estimators_not():
    twfe_err, imp_err, cs_err = [], [], []
    for s in range(40):
        df = _bias_panel(s)
        # target: average effect over treated observations in periods where a comparison exists
        # (before the last cohort is treated), identical for all three estimators
        est_win = df.loc[df.time < 2017]
        truth = est_win.loc[est_win.treated == 1, "true_effect"].mean()
        twfe_err.append(did.twfe(df, "y", "unit", "time", "treated", cluster="unit").estimate - truth)
        imp = did.event_study(df, "y", "unit", "time", "first_treated", window=(-3, 11), method="imputation")
        imp_err.append(imp.estimate - truth)
        cs = did.callaway_santanna(df, "y", "unit", "time", "first_treated", control="not_yet")
        cs_err.append(cs.estimate - truth)
        assert any("no comparison units" in w for w in cs.warnings)
    se = lambda x: np.std(x, ddof=1) / np.sqrt(len(x))  # noqa: E731
    assert abs(np.mean(imp_err)) < 4 * se(imp_err) + 0.02
    assert abs(np.mean(cs_err)) < 4 * se(cs_err) + 0.02
    assert np.mean(twfe_err) < -0.5 and abs(np.mean(twfe_err)) > 10 * se(twfe_err)

    # the Bacon weights say why: part of TWFE compares late adopters with already-treated early adopters,
    # and that 2x2 subtracts the early cohort's growing effect
    b = did.bacon_decomposition(_bias_panel(0), "y", "unit", "time", "first_treated")
    forbidden = b.table.loc[b.table.type == "later vs earlier treated"]
    clean = b.table.loc[b.table.type == "earlier vs later treated"]
    assert forbidden.weight.sum() > 0.3
    assert forbidden.estimate.iloc[0] < clean.estimate.iloc[0] - 1.0
    assert b.estimate == pytest.approx(did.twfe(_bias_panel(0), "y", "unit", "time", "treated").estimate)
