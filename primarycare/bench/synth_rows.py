"""Benchmark: synthetic control with full placebo-in-space, primarycare vs pysyncon (issue 4).

``rows()`` returns one dict per task (``task``, ``primarycare_s``, ``peer_s``, ``ratio`` = peer /
primarycare, ``note``); ``scripts/benchmark.py`` imports it. Run on its own to print the table:
``python scripts/_bench_synth.py``. The panel is simulated (a two-factor model; simulation settings).
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings

import numpy as np
import pandas as pd

from ..methods.synth import synthetic_control

N_UNITS, YEARS, T0 = 31, range(2010, 2024), 2018


def panel(seed: int = 0) -> pd.DataFrame:
    """31 units x 14 years from a two-factor model (simulation settings, not data), three covariates."""
    rng = np.random.default_rng(seed)
    yrs = np.array(list(YEARS))
    T = len(yrs)
    f = rng.normal(size=(T, 2)).cumsum(0) * 0.3
    lam = rng.uniform(0, 1, size=(N_UNITS, 2))
    a = rng.normal(10, 2, size=N_UNITS)
    y = a[None, :] + f @ lam.T + 0.1 * np.arange(T)[:, None] + rng.normal(0, 0.3, size=(T, N_UNITS))
    units = [f"u{i:02d}" for i in range(N_UNITS)]
    df = pd.DataFrame({"unit": np.repeat(units, T), "year": np.tile(yrs, N_UNITS), "y": y.T.ravel()})
    df["x1"] = np.repeat(a + rng.normal(0, 0.5, N_UNITS), T)
    df["x2"] = np.repeat(lam[:, 0] + rng.normal(0, 0.2, N_UNITS), T)
    df["x3"] = rng.normal(size=len(df))
    return df


def _ours(d: pd.DataFrame, predictors: list[str] | None) -> float:
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = synthetic_control(d, "y", "unit", "year", "u00", T0, predictors=predictors)
        r.placebo_in_space()
    return time.perf_counter() - t


def _dataprep_kwargs(d: pd.DataFrame) -> dict:
    """pysyncon Dataprep settings shared by both timings: unit u00 treated at T0, pre-period means."""
    pre = [y for y in YEARS if y < T0]
    units = sorted(d.unit.unique())
    return dict(
        foo=d,
        predictors_op="mean",
        dependent="y",
        unit_variable="unit",
        time_variable="year",
        treatment_identifier="u00",
        controls_identifier=[u for u in units if u != "u00"],
        time_predictors_prior=pre,
        time_optimize_ssr=pre,
    )


def _pysyncon(d: pd.DataFrame, lags: bool, max_workers: int = 2) -> float:
    from pysyncon import Dataprep, Synth
    from pysyncon.utils import PlaceboTest

    pre = [y for y in YEARS if y < T0]
    kw = _dataprep_kwargs(d)
    if lags:  # the same problem as ours with predictors=None: every pre-period outcome, equal V
        dp = Dataprep(predictors=[], special_predictors=[("y", [y], "mean") for y in pre], **kw)
        opts = {"custom_V": np.ones(len(pre))}
    else:  # three covariates, V by pysyncon's nested Nelder-Mead
        dp = Dataprep(predictors=["x1", "x2", "x3"], **kw)
        opts = {}
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pt = PlaceboTest()
        pt.fit(dataprep=dp, scm=Synth(), scm_options=opts, max_workers=max_workers, verbose=False)
    return time.perf_counter() - t


def _pysyncon_one_nested_fit(d: pd.DataFrame) -> tuple[float, float]:
    """Seconds and pre-period MSPE of one pysyncon nested-V fit (the treated unit, 3 covariates)."""
    from pysyncon import Dataprep, Synth

    dp = Dataprep(predictors=["x1", "x2", "x3"], **_dataprep_kwargs(d))
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = Synth()
        s.fit(dataprep=dp)
    return time.perf_counter() - t, float(s.loss_V)


def rows() -> list[dict]:
    """Time both implementations on the same work (pysyncon's placebos on 2 worker processes)."""
    d = panel()
    out = []
    # 1. pre-period outcomes as predictors, fixed V: both run the full placebo-in-space
    ours = min(_ours(d, None) for _ in range(3))
    note = (
        "ours: V = I on pre-period outcomes, exact NNLS weights; pysyncon: the same predictors with "
        "equal custom_V (it scales predictors by their SD), SLSQP weights, PlaceboTest on 2 processes"
    )
    try:
        peer = _pysyncon(d, lags=True)
    except Exception as exc:  # the peer is optional for the table; say why it is missing
        peer, note = float("nan"), f"{note}; pysyncon failed: {exc}"
    out.append(
        {
            "task": "synth + placebo-in-space, 31 x 14, pre-period outcomes as predictors",
            "primarycare_s": ours,
            "peer_s": peer,
            "ratio": peer / ours,
            "note": note,
        }
    )
    # 2. three covariates, nested V: pysyncon's full run takes many minutes, so it is extrapolated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        r = synthetic_control(d, "y", "unit", "year", "u00", T0, predictors=["x1", "x2", "x3"])
        r.placebo_in_space()
        ours = time.perf_counter() - t
    ours_mspe = float(np.mean(r.gap[r.gap.index < T0] ** 2))
    try:
        one, peer_mspe = _pysyncon_one_nested_fit(d)
        peer = one * N_UNITS / 2
        note = (
            f"pysyncon time EXTRAPOLATED: one nested-V fit ({one:.1f} s) x {N_UNITS} fits / 2 workers; "
            f"treated unit's pre-period MSPE at the chosen V: ours {ours_mspe:.4g}, pysyncon {peer_mspe:.4g}"
        )
    except Exception as exc:
        peer, note = float("nan"), f"pysyncon failed: {exc}"
    out.append(
        {
            "task": "synth + placebo-in-space, 31 x 14, 3 covariates, nested V",
            "primarycare_s": ours,
            "peer_s": peer,
            "ratio": peer / ours,
            "note": note,
        }
    )
    return out


