"""Tests of the placebo p-value for the event study's pre-trend statistic (primarycare.pretrend)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from primarycare import did
from primarycare.errors import UserInputError
from primarycare.methods.pretrend import pretrend_placebo

WINDOW = (-4, 3)


def one_treated_panel(seed: int, n: int = 10, periods: int = 10, reform: int = 2016,
                      pre_slope: float = 0.0) -> pd.DataFrame:
    """Unit and year effects plus iid noise; unit u00 reforms in ``reform`` (effect 2 after, none before
    unless ``pre_slope`` plants a diverging pre-trend)."""
    rng = np.random.default_rng(seed)
    years = np.arange(2010, 2010 + periods)
    u, y = np.repeat(np.arange(n), periods), np.tile(years, n)
    val = rng.normal(0, 1, n)[u] + rng.normal(0, 1, periods)[y - 2010] + rng.normal(0, 1, n * periods)
    tr = u == 0
    val = val + np.where(tr & (y >= reform), 2.0, 0.0) + np.where(tr & (y < reform), pre_slope * (y - reform), 0.0)
    return pd.DataFrame({"unit": [f"u{k:02d}" for k in u], "year": y, "y": val,
                         "first_treated": np.where(tr, reform, 0), "treated": (tr & (y >= reform)).astype(int)})


def run(d: pd.DataFrame):
    return pretrend_placebo(d, "y", "unit", "year", "first_treated", "treated", ["u00"], window=WINDOW)


def test_placebo_p_value_is_the_rank_among_pseudo_treated_units():
    d = one_treated_panel(3)
    r = run(d)
    stats = []
    for unit in sorted(d["unit"].unique()):  # each unit (the real one included) as the treated one
        dd = d.copy()
        dd["first_treated"] = np.where(dd["unit"] == unit, 2016, 0)
        stats.append(did.event_study(dd, "y", "unit", "year", "first_treated", window=WINDOW).pretrend["statistic"])
    stats = np.array(stats)
    assert r.estimate == pytest.approx(stats[0])
    assert r.p_value == pytest.approx(np.mean(stats >= stats[0] - 1e-12))
    assert r.n_assignments == 10 and r.n_treated_units == 1 and r.prefer_placebo
    assert r.f_p_value == pytest.approx(
        did.event_study(d, "y", "unit", "year", "first_treated", window=WINDOW).pretrend["p_value"])


def test_a_planted_pre_trend_gets_the_smallest_placebo_p_value():
    r = run(one_treated_panel(1, pre_slope=3.0))
    assert r.p_value == pytest.approx(1 / 10)
    assert r.f_p_value < 0.01


@pytest.mark.slow
def test_placebo_p_value_holds_its_size_where_the_f_test_over_rejects():
    """No pre-trend planted: the one-cluster CRV1 F-test rejects most of the time, the placebo test rarely."""
    f_rej, pl_rej = [], []
    for seed in range(12):
        r = run(one_treated_panel(100 + seed))
        f_rej.append(r.f_p_value < 0.1)
        pl_rej.append(r.p_value < 0.1)  # P(p <= 1/10) = 0.1 under exchangeability
    assert np.mean(f_rej) >= 0.5
    assert np.mean(pl_rej) <= 0.35


def test_missing_columns_are_a_user_error():
    d = one_treated_panel(0).drop(columns="first_treated")
    with pytest.raises(UserInputError, match="first_treated"):
        run(d)
