"""Monte Carlo of the case pipeline itself (issue: intervals shown as main results must hold with one
treated province). 200 simulated panels with one planted reform and parallel trends holding, run through
the chapter's own DiD and synthetic-control blocks: every design-based main interval must cover the
planted effect in 90-99% of draws, and the randomization test must reject a true null in 3-7% of draws.
The table is printed by ``python -m primarycare.bench.montecarlo``."""

from __future__ import annotations

import pytest

from primarycare.bench.montecarlo import coverage_table, simulate_pipeline


@pytest.fixture(scope="module")
def table():
    long = simulate_pipeline(n_panels=200, seed=1, jobs=2)
    assert not (long["section"] == "problem").any(), long[long["section"] == "problem"]["method"].value_counts()
    return coverage_table(long)


@pytest.mark.slow
def test_every_main_interval_covers_the_planted_effect(table):
    intervals = table[table["interval"] != "rejection rate at 5%"]
    # the main table's design-based intervals: TWFE (randomization), event study (placebo bands),
    # synthetic DiD (placebo variance); Callaway-Sant'Anna equals the event study and has no row of its own
    assert {"TWFE DiD", "Event study (post average)", "Synthetic DiD"} <= set(intervals["method"])
    for r in intervals.itertuples(index=False):
        assert r.draws == 200
        assert 0.90 <= r.coverage <= 0.99, (r.method, r.coverage)


@pytest.mark.slow
def test_randomization_test_size(table):
    size = table[table["interval"] == "rejection rate at 5%"].iloc[0]
    assert 0.03 <= size["coverage"] <= 0.07, size["coverage"]
