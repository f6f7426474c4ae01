"""Inference that holds with one or a few treated provinces.

* :func:`randomization_test`: placebo-in-space / permutation inference (Fisher 1935; Abadie, Diamond and
  Hainmueller 2010; Conley and Taber 2011; MacKinnon and Webb 2020 for randomization inference with
  few treated clusters). The treated units' treatment paths are reassigned to other units; the exact
  p-value counts the observed assignment; the confidence interval inverts the test under a constant
  additive effect (Imbens and Rubin 2015, ch. 5).
* :func:`wild_cluster_bootstrap`: restricted wild cluster bootstrap (WCR) for the TWFE coefficient
  (Cameron, Gelbach and Miller 2008; Webb 2014 six-point weights; Roodman, MacKinnon, Nielsen and Webb
  2019 for the fast algorithm and test inversion). Implemented in :mod:`primarycare._wild`, with
  :func:`wild_cluster_bootstrap_event_study` for the post-period aggregate of an event study
  (Sun-Abraham interaction-weighted or TWFE leads and lags).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UserInputError
from ._invert import invert as _invert
from ._wild import WildBootstrapResult, wild_cluster_bootstrap, wild_cluster_bootstrap_event_study
from .results import Estimate

__all__ = ["randomization_test", "wild_cluster_bootstrap", "wild_cluster_bootstrap_event_study",
           "RandomizationResult", "WildBootstrapResult", "MAX_ENUMERATE"]

#: Enumerate every distinct assignment when there are at most this many (else draw a seeded sample).
MAX_ENUMERATE = 100_000


@dataclass
class RandomizationResult(Estimate):
    """Randomization (permutation) test result; ``distribution`` holds the placebo estimates."""

    distribution: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    n_assignments: int = 0
    enumerated: bool = False
    fast: bool = False
    observed: Any = field(default=None, repr=False)


def _paths(data: pd.DataFrame, unit: str, time: str, treatment: str,
           treated_units: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Units and periods (sorted), the treated units' treatment paths over all periods, and each row's
    unit and period codes. A treated unit's path: periods it is not observed in are filled forward then 0."""
    units = np.array(sorted(data[unit].unique(), key=lambda v: (str(type(v)), v)))
    times = np.array(sorted(data[time].unique()))
    missing = [u for u in treated_units if u not in set(units.tolist())]
    if missing:
        raise UserInputError(f"randomization_test: treated_units {missing} are not in the {unit!r} column.")
    unit_codes = pd.Index(units).get_indexer(data[unit])
    time_codes = pd.Index(times).get_indexer(data[time])
    if np.bincount(unit_codes * len(times) + time_codes).max(initial=0) > 1:
        raise UserInputError(f"randomization_test: more than one row per {unit!r} and {time!r}; the panel must "
                             "have one row per unit and period.")
    wide = np.full((len(units), len(times)), np.nan)
    wide[unit_codes, time_codes] = pd.to_numeric(data[treatment]).to_numpy(dtype=float)
    is_treated = np.isin(np.arange(len(units)), pd.Index(units).get_indexer(list(treated_units)))
    others = np.nansum(wide[~is_treated], axis=1)
    if (others != 0).any():
        bad = units[~is_treated][np.argmax(others != 0)]
        raise UserInputError(
            f"randomization_test: unit {bad!r} has {treatment!r} = 1 in some period but is not listed in "
            "treated_units; list every treated unit (their treatment paths are the ones reassigned)."
        )
    paths = wide[pd.Index(units).get_indexer(list(treated_units))]
    paths = pd.DataFrame(paths).ffill(axis=1).fillna(0.0).to_numpy() if np.isnan(paths).any() else paths
    return units, times, paths, unit_codes, time_codes


def _count_assignments(n_units: int, paths: np.ndarray) -> int:
    k = len(paths)
    _, mult = np.unique(paths, axis=0, return_counts=True)
    return math.perm(n_units, k) // math.prod(math.factorial(int(m)) for m in mult)


def _enumerate(n_units: int, paths: np.ndarray) -> np.ndarray:
    """Every distinct assignment as an (A x k) array: column j = unit (code) receiving path j."""
    k = len(paths)
    groups: dict[bytes, list[int]] = {}
    for j in range(k):
        groups.setdefault(paths[j].tobytes(), []).append(j)
    slots = list(groups.values())
    out = []

    def rec(i: int, free: tuple[int, ...], acc: list[tuple[int, ...]]) -> None:
        if i == len(slots):
            row = np.empty(k, dtype=np.int64)
            for sl, units in zip(slots, acc, strict=True):
                row[sl] = units
            out.append(row)
            return
        for comb in itertools.combinations(free, len(slots[i])):
            rest = tuple(u for u in free if u not in comb)
            rec(i + 1, rest, acc + [comb])

    rec(0, tuple(range(n_units)), [])
    return np.array(out)


def _treatment_matrix(assign: np.ndarray, paths: np.ndarray, unit_codes: np.ndarray, time_codes: np.ndarray,
                      n_units: int) -> np.ndarray:
    """n x A matrix: column a is the treatment column under assignment a."""
    A, k = assign.shape
    padded = np.vstack([paths, np.zeros((1, paths.shape[1]))])
    pos = np.full((A, n_units), k, dtype=np.int64)
    np.put_along_axis(pos, assign, np.arange(k)[None, :].repeat(A, 0), axis=1)
    return padded[pos[:, unit_codes], time_codes[None, :]].T


def _p_value(stat_obs: float, stats: np.ndarray, enumerated: bool) -> float:
    tol = 1e-10 * max(1.0, abs(stat_obs))
    ge = np.count_nonzero(stats >= stat_obs - tol)
    return float(ge / len(stats)) if enumerated else float((1 + ge) / (1 + len(stats)))


def _p_values(stat_obs: np.ndarray, stats: np.ndarray, enumerated: bool) -> np.ndarray:
    """:func:`_p_value` for each row: ``stat_obs`` (m,), ``stats`` (m x A); the same arithmetic."""
    tol = 1e-10 * np.maximum(1.0, np.abs(stat_obs))
    ge = np.count_nonzero(stats >= (stat_obs - tol)[:, None], axis=1)
    A = stats.shape[1]
    return ge / A if enumerated else (1 + ge) / (1 + A)


def randomization_test(
    estimator: Callable[[pd.DataFrame], Estimate],
    data: pd.DataFrame,
    unit: str,
    treated_units: list,
    treatment: str,
    n_permutations: int | None = None,
    seed: int = 0,
    *,
    time: str | None = None,
    first_treated: str | None = "auto",
    alpha: float = 0.05,
    ci: bool | None = None,
    max_enumerate: int = MAX_ENUMERATE,
    progress: bool = True,
    linear: bool = False,
) -> RandomizationResult:
    """Permutation (placebo-in-space) test for any estimator ``estimator(data) -> Estimate``.

    Each assignment gives the k treated units' treatment paths (the ``treatment`` column over time) to k
    distinct units, in every distinct way; other units get 0 throughout. When the number of distinct
    assignments (N!/(N-k)! divided by the factorials of identical paths; e.g. 31 for one treated
    province, 755,160 for four with different reform years) is at most ``max_enumerate`` (100,000) and
    ``n_permutations`` is None or at least that number, all are used and the p-value is exact: the
    share of assignments (the observed one included) whose |estimate| is at least the observed one.
    Otherwise ``n_permutations`` (default 9,999) assignments are drawn uniformly with replacement from
    ``seed`` and p = (1 + #{|placebo| >= |observed|}) / (1 + draws) (valid, Phipson and Smyth 2010).

    Confidence interval by test inversion under a constant additive effect tau: the outcome of treated
    observations is shifted by -tau (y - tau D), each assignment's data get + tau D_p, and tau is kept
    when the test of |estimate - tau| does not reject at ``alpha``; edges are located on a grid and
    refined by bisection (to 1e-7 of the scale of the placebo distribution).

    If the data have a first-treated column (``first_treated``; by default a column named
    ``first_treated`` is used when present), it is rewritten for every assignment too (first treated
    period of the assigned path, 0 if none), so estimators that read cohorts (event studies,
    Callaway-Sant'Anna) see the placebo assignment.

    Speed: when the observed fit is :func:`primarycare.did.twfe` (called directly, via
    ``functools.partial`` or a lambda) its result carries a kernel: y is residualised on the two-way
    fixed effects once and all permuted treatment vectors are residualised together, and the CI is exact
    arithmetic on the same numbers. The kernel is checked against one real refit first. Other
    estimators are refitted per assignment (with a progress bar); the CI is then computed by default
    only with at most 200 assignments (``ci=True`` forces it: each tau costs one refit per assignment).

    ``linear=True`` declares that the estimator is linear in the outcome (DiD-type estimators with
    fixed weights: event-study averages, Callaway-Sant'Anna with never-treated comparisons, synthetic
    DiD is NOT linear). Each assignment is then refitted twice (at tau = 0 and tau = 1), the estimate
    under any tau follows exactly by linearity, and the CI costs no further refits. Linearity is checked
    on one assignment at tau = 2 and the call refuses if it fails.
    """
    if not callable(estimator):
        raise UserInputError("randomization_test: `estimator` must be a callable taking the data frame.")
    treated_units = list(treated_units) if not isinstance(treated_units, (str, int)) else [treated_units]
    if not treated_units:
        raise UserInputError("randomization_test: treated_units is empty; name the reforming unit(s).")
    if unit not in data.columns or treatment not in data.columns:
        raise UserInputError(f"randomization_test: columns {unit!r} and {treatment!r} must be in the data.")
    if not data.index.is_unique:
        data = data.reset_index(drop=True)
    observed = estimator(data)
    if not isinstance(observed, Estimate):
        raise UserInputError("randomization_test: the estimator must return a primarycare Estimate.")
    time = time or _guess_time(data, unit, treatment, observed)
    units, times_arr, paths, unit_codes, time_codes = _paths(data, unit, time, treatment, treated_units)
    n_units = len(units)
    if len(treated_units) >= n_units:
        raise UserInputError("randomization_test: every unit is treated; there is nothing to permute.")
    relabel = _Relabel(treatment, _first_treated_column(data, first_treated, treatment), paths, times_arr,
                       unit_codes, time_codes, n_units)
    total = _count_assignments(n_units, paths)
    rng = np.random.default_rng(seed)
    enumerated = total <= max_enumerate and (n_permutations is None or n_permutations >= total)
    if enumerated:
        assign = _enumerate(n_units, paths)
    else:
        P = 9_999 if n_permutations is None else int(n_permutations)
        if P < 1:
            raise UserInputError("randomization_test: n_permutations must be a positive integer.")
        assign = np.argsort(rng.random((P, n_units)), axis=1)[:, : len(treated_units)]
    b_obs = float(observed.estimate)
    kernel = getattr(observed, "kernel", None)
    fast = _kernel_ok(kernel, estimator, data, relabel, assign)
    D_obs_full = data[treatment].to_numpy(float)
    if fast:
        rows = data.index.get_indexer(kernel.index)
        D_all = _treatment_matrix(assign, paths, unit_codes[rows], time_codes[rows], n_units)
        # row 0: placebo estimates b(y, D_p); row 1: b(D_obs, D_p), so b(y - tau D_obs, D_p) is linear in tau
        both = kernel.coefs(D_all, np.column_stack([kernel.y_tilde, kernel.tw.demean(D_obs_full[rows])]))
        dist, num_dobs = both[0], both[1]

        def pfun(tau: float) -> float:
            return _p_value(abs(b_obs - tau), np.abs(dist - tau * num_dobs), enumerated)

        def pfun_grid(taus: np.ndarray) -> np.ndarray:
            return _p_values(np.abs(b_obs - taus), np.abs(dist[None, :] - taus[:, None] * num_dobs[None, :]),
                             enumerated)

    elif linear:
        outcome = observed.outcome
        dist = _refit_all(estimator, data, relabel, assign, 0.0, progress)
        d1 = data.copy()
        d1[outcome] = d1[outcome] - D_obs_full
        slope = _refit_all(estimator, d1, relabel, assign, 1.0, False, outcome) - dist
        d2 = data.copy()
        d2[outcome] = d2[outcome] - 2.0 * D_obs_full
        k = len(assign) // 2
        check = _refit_all(estimator, d2, relabel, assign[k:k + 1], 2.0, False, outcome)[0]
        if not np.isclose(check, dist[k] + 2.0 * slope[k], rtol=1e-6, atol=1e-9 * (1 + abs(dist[k]))):
            raise UserInputError("randomization_test: linear=True, but the estimator is not linear in the "
                                 "outcome (a check at tau = 2 failed); call it with linear=False.")

        def pfun(tau: float) -> float:
            return _p_value(abs(b_obs - tau), np.abs(dist + tau * slope - tau), enumerated)

        def pfun_grid(taus: np.ndarray) -> np.ndarray:
            t = taus[:, None]
            return _p_values(np.abs(b_obs - taus), np.abs(dist[None, :] + t * slope[None, :] - t), enumerated)

    else:
        dist = _refit_all(estimator, data, relabel, assign, 0.0, progress)
        outcome = observed.outcome

        def pfun(tau: float) -> float:
            d0 = data.copy()
            d0[outcome] = d0[outcome] - tau * D_obs_full
            dd = _refit_all(estimator, d0, relabel, assign, tau, False, outcome)
            return _p_value(abs(b_obs - tau), np.abs(dd - tau), enumerated)

    finite = np.isfinite(dist)
    if not finite.all():
        raise UserInputError(
            f"randomization_test: the estimator failed (non-finite estimate) for {int((~finite).sum())} "
            "of the reassignments; check that every unit can carry a treated path (enough periods)."
        )
    p = _p_value(abs(b_obs), np.abs(dist), enumerated)
    do_ci = ci if ci is not None else (fast or linear or len(assign) <= 200)
    lo = hi = float("nan")
    if do_ci:
        # the fast p-value function is cheap: fine grid; each generic evaluation refits every assignment
        lo, hi = (_invert(pfun, b_obs, float(np.std(dist)), alpha, pfun_grid=pfun_grid) if (fast or linear)
                  else _invert(pfun, b_obs, float(np.std(dist)), alpha, grid=25, tol=1e-6))
    warn = list(getattr(observed, "warnings", []) or [])
    warn = [w for w in warn if "randomization_test" not in w and "independent errors" not in w]
    smallest = 1.0 / len(assign) if enumerated else 1.0 / (1 + len(assign))
    if smallest > alpha:
        warn.append(
            f"only {len(assign)} assignments: the smallest attainable p-value is {smallest:.3f} > {alpha}; "
            "the test cannot reject at this level and the confidence interval is unbounded or wide."
        )
    how = "all" if enumerated else f"{len(assign):,} seeded draws (seed {seed}) of"
    return RandomizationResult(
        method=f"Randomization test ({observed.method})", outcome=observed.outcome, estimate=b_obs,
        se=float(np.std(dist, ddof=1)) if len(dist) > 1 else float("nan"),
        ci_low=lo, ci_high=hi, p_value=p, n_obs=observed.n_obs, alpha=alpha,
        inference=(f"permutation of treatment paths over units: {how} {total:,} distinct assignments; "
                   "se = sd of placebo estimates; CI by test inversion (constant additive effect)"),
        warnings=warn, extra={"n_treated_units": len(treated_units), "n_units": n_units},
        distribution=dist, n_assignments=len(assign), enumerated=enumerated, fast=fast or linear, observed=observed,
    )


def _guess_time(data: pd.DataFrame, unit: str, treatment: str, observed: Estimate) -> str:
    kernel = getattr(observed, "kernel", None)
    if getattr(kernel, "time", "") in data.columns:
        return kernel.time
    for cand in ("year", "time", "period", "t"):
        if cand in data.columns and cand not in (unit, treatment):
            return cand
    raise UserInputError("randomization_test: pass time=<column> (the period column of the panel).")


@dataclass
class _Relabel:
    """Writes one assignment into a copy of the data: the treatment column and, if the data has one,
    the first-treated column (so estimators that read cohorts, e.g. event studies, see the placebo)."""

    treatment: str
    ft_col: str | None
    paths: np.ndarray
    times: np.ndarray
    unit_codes: np.ndarray
    time_codes: np.ndarray
    n_units: int

    def column(self, a: np.ndarray) -> np.ndarray:
        return _treatment_matrix(a[None, :], self.paths, self.unit_codes, self.time_codes, self.n_units)[:, 0]

    def apply(self, d: pd.DataFrame, a: np.ndarray) -> np.ndarray:
        D = self.column(a)
        d[self.treatment] = D
        if self.ft_col is not None:
            on = self.paths > 0
            ft_path = np.where(on.any(axis=1), self.times[np.argmax(on, axis=1)], 0)
            ft_unit = np.zeros(self.n_units, dtype=ft_path.dtype)
            ft_unit[a] = ft_path
            d[self.ft_col] = ft_unit[self.unit_codes]
        return D


def _first_treated_column(data: pd.DataFrame, first_treated: str | None, treatment: str) -> str | None:
    if first_treated == "auto":
        return "first_treated" if "first_treated" in data.columns and treatment != "first_treated" else None
    if first_treated is not None and first_treated not in data.columns:
        raise UserInputError(f"randomization_test: first_treated column {first_treated!r} is not in the data.")
    return first_treated


def _kernel_ok(kernel, estimator, data, relabel: _Relabel, assign) -> bool:
    """Use the fast kernel only if it is a TWFE kernel for this treatment column and matches one refit."""
    from .did import TWFEKernel

    if not isinstance(kernel, TWFEKernel) or kernel.treatment != relabel.treatment:
        return False
    rows = data.index.get_indexer(kernel.index)
    if (rows < 0).any():
        return False
    d1 = data.copy()
    D = relabel.apply(d1, assign[len(assign) // 2])
    try:
        ref = float(estimator(d1).estimate)
    except Exception:  # the check refit failed: refitting would fail too, let that path report it
        return False
    fast = float(kernel.estimates(D[rows][:, None])[0])
    return bool(np.isclose(ref, fast, rtol=1e-7, atol=1e-10))


def _refit_all(estimator, data, relabel: _Relabel, assign, tau, progress,
               outcome: str | None = None) -> np.ndarray:
    from tqdm.auto import tqdm

    out = np.empty(len(assign))
    d = data.copy()
    base = d[outcome].to_numpy(float) if outcome is not None else None
    it = range(len(assign))
    if progress:
        it = tqdm(it, desc="randomization test refits", leave=False)
    for i in it:
        D = relabel.apply(d, assign[i])
        if outcome is not None:
            d[outcome] = base + tau * D
        try:
            out[i] = float(estimator(d).estimate)
        except UserInputError:
            out[i] = np.nan
    return out
