"""Conformal inference for synthetic control (Chernozhukov, Wüthrich and Zhu 2021, JASA 116(536)).

Placebos in space (Abadie et al. 2010) ask whether the treated province's gap is unusual among donors.
Conformal inference asks instead, for one treated unit, which effects are compatible with the treated
unit's own residuals over time: impose a hypothesised effect ``theta``, refit the synthetic control on
*all* periods with the null-adjusted treated outcome, and compare the post-treatment residuals with the
residuals of every other period by permuting the periods. The confidence set is every ``theta`` the test
does not reject (test inversion). Under the null the residuals are exchangeable (i.i.d. errors) or their
time shifts are (stationary weakly dependent errors, "moving-block" permutations), so the test is exact
or approximately valid in finite samples, even with one treated unit.

The procedure, as in the paper and in the ``diff-diff`` package (checked equal on California's
Proposition 99 and the Basque data in ``tests/test_conformal.py``):

* **Proxy.** The canonical constrained least-squares synthetic control (eqs 3-4): simplex weights on the
  raw outcomes over all periods under the null, no predictor weighting ``V`` and no intercept (a
  time-symmetric fit, which the exactness argument needs). It is solved exactly with
  :func:`primarycare.methods.synth.simplex_least_squares`. When the synthetic control being reported
  was fitted on predictors with ``V``, the conformal proxy is a different fit; the result says so.
* **Per-period intervals** (Algorithm 1). For post period ``t`` the data are the ``T0`` pre-periods plus
  period ``t`` only (the other post periods dropped), the null is ``theta_t = theta`` and the statistic
  the absolute residual in period ``t``. Permutations are over those ``T0 + 1`` periods.
* **Average post effect.** ``average="blocks"`` (default; the paper's Appendix A.1): the series is cut
  into non-overlapping blocks of ``T*`` (= number of post periods) periods, the last block the post
  period, the earliest ``T0 mod T*`` pre-periods dropped; each unit's block means form a short series
  with one post slot, tested as above. This targets the average of possibly different period effects.
  ``average="constant"``: the sharp null that the effect is ``theta`` in every post period, tested on
  the full series with ``S_q = ((1/sqrt(T*)) sum_post |u_t|^q)^(1/q)`` (section 2.2; ``q = 1`` default);
  it assumes a constant effect but keeps all ``T`` periods for the permutations.
* **p-value** (eq. 2): ``p = (1/|Pi|) #{pi in Pi: S(u_pi) >= S(u)}`` over the permutation set ``Pi``
  (which contains the identity, so ``p >= 1/|Pi|``): ``scheme="moving_block"`` (the ``m`` cyclic time
  shifts of an ``m``-period series; the default, valid under serial dependence) or ``scheme="iid"``
  (all ``m!`` permutations when ``m! <= n_iid``, else ``n_iid`` random ones with the identity; valid
  under i.i.d. errors). With one post slot both give the same p-value (the rank of the post residual).
* **Convention.** ``theta`` is kept when ``p > alpha`` (rejected when ``p <= alpha``), as in the paper
  and ``diff-diff``. When ``alpha < 1/|Pi|`` nothing can be rejected and the interval is the whole line:
  with ``m`` periods in the permutation the smallest attainable p-value is ``1/m``, so a 95% per-period
  interval needs at least 20 periods (19 pre-treatment years). Such intervals are returned as
  ``(-inf, +inf)`` with a note saying why; on a provincial panel of 14 years they are the rule.
* **Grid.** ``theta`` is scanned on a grid centred on the point estimate (the pre-period-only fit's
  prediction gap) with half-width ``max(8 sd(pre-fit residuals), 0.5 |estimate|)`` (as ``diff-diff``),
  widened (four-fold, up to five times) while the accepted set touches an edge or is empty; with
  ``refine=True`` each endpoint is then located by bisection between the outermost accepted and the next
  rejected grid value. The reported interval is the hull ``[min, max]`` of accepted values; a rejected
  value inside it is noted (this happens: with few pre-periods and an effect that is not constant, values
  near the estimate can be rejected while far-off ones are accepted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UserInputError
from .results import Estimate, _fmt
from .synth import simplex_least_squares

__all__ = ["ConformalSC", "conformal_intervals", "conformal_arrays"]

_INF = float("inf")
_MAX_WIDEN = 5
_BISECT_STEPS = 25  # the bracket is one grid step; 2^-25 of it is far below any reported digit


# --------------------------------------------------------------------------------------------------
# permutations and the test statistic


def _permutations(m: int, scheme: str, n_iid: int, rng: np.random.Generator) -> np.ndarray:
    """Index arrays (|Pi| x m), the identity first. Moving blocks: ``pi_j(i) = (i + j) mod m``."""
    base = np.arange(m)
    if scheme == "moving_block":
        return (base[None, :] + base[:, None]) % m
    if m <= 12 and math.factorial(m) <= n_iid:
        from itertools import permutations

        return np.array(list(permutations(range(m))), dtype=int)
    draws = np.argsort(rng.random((max(n_iid, 1) - 1, m)), axis=1)
    return np.vstack([base[None, :], draws]).astype(int)


def _stat(post_abs: np.ndarray, q: float) -> np.ndarray:
    """``S_q`` over the last axis (absolute post residuals)."""
    n_star = post_abs.shape[-1]
    if q == _INF:
        return post_abs.max(axis=-1)
    return (np.sum(post_abs**q, axis=-1) / np.sqrt(n_star)) ** (1.0 / q)


def _moved(perms: np.ndarray, post: np.ndarray) -> np.ndarray:
    """0/1 matrix (|Pi| x m): 1 where a permutation moves period i into the post window."""
    M = np.zeros(perms.shape)
    M[np.arange(perms.shape[0])[:, None], perms[:, post]] = 1.0
    return M


def _pvalues(
    U: np.ndarray, post: np.ndarray, perms: np.ndarray, q: float, M: np.ndarray | None = None
) -> np.ndarray:
    """CWZ eq. (2) for each row of ``U`` (grid values x periods), all permutations at once. For finite
    ``q`` the permuted statistics are one matrix product: ``|U|^q`` times the 0/1 matrix marking which
    periods each permutation moves into the post window."""
    s_obs = _stat(np.abs(U[:, post]), q)
    moved = perms[:, post]
    if q == _INF:
        s_perm = _stat(np.abs(U[:, moved]), q)  # (G, |Pi|)
    else:
        if M is None:
            M = _moved(perms, post)
        s_perm = ((np.abs(U) ** q @ M.T) / np.sqrt(moved.shape[1])) ** (1.0 / q)
    tol = 1e-12 * np.maximum(np.abs(s_obs), 1.0)
    return np.mean(s_perm >= (s_obs - tol)[:, None], axis=1)


def _residuals(y1: np.ndarray, Y0: np.ndarray, post: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """Residuals of the simplex least-squares proxy refitted on all periods under each null."""
    U = np.empty((len(thetas), len(y1)))
    for i, th in enumerate(thetas):
        y = y1.copy()
        y[post] -= th
        w = simplex_least_squares(Y0, y) if Y0.shape[1] > 1 else np.ones(1)
        U[i] = y - Y0 @ w
    return U


# --------------------------------------------------------------------------------------------------
# inversion of one test


@dataclass
class _Inverted:
    estimate: float
    lower: float
    upper: float
    p_zero: float
    n_perms: int
    status: str  # "bounded", "unbounded" (too few permutations), "grid_limited", "empty"
    contiguous: bool
    grid: pd.DataFrame


def _invert(
    y1: np.ndarray,
    Y0: np.ndarray,
    post: np.ndarray,
    perms: np.ndarray,
    alpha: float,
    q: float,
    grid: np.ndarray | None,
    n_grid: int,
    refine: bool,
) -> _Inverted:
    """Confidence set for a constant effect ``theta`` on the ``post`` slots of one series."""
    pre = ~post
    w_pre = simplex_least_squares(Y0[pre], y1[pre]) if Y0.shape[1] > 1 else np.ones(1)
    resid_pre = y1[pre] - Y0[pre] @ w_pre
    est = float(np.mean(y1[post] - Y0[post] @ w_pre))
    spread = float(np.std(resid_pre)) if resid_pre.size else 1.0
    n_perms = perms.shape[0]
    M = None if q == _INF else _moved(perms, post)
    p_zero = float(_pvalues(_residuals(y1, Y0, post, np.zeros(1)), post, perms, q, M)[0])

    def pv(th: np.ndarray) -> np.ndarray:
        return _pvalues(_residuals(y1, Y0, post, th), post, perms, q, M)

    if alpha < _min_pvalue(perms, post, q):
        return _Inverted(est, -_INF, _INF, p_zero, n_perms, "unbounded", True, pd.DataFrame())
    user_grid = grid is not None
    half = max(8.0 * spread, 0.5 * abs(est) + 1e-6)
    thetas = np.asarray(grid, dtype=float) if user_grid else np.linspace(est - half, est + half, n_grid)
    p = pv(thetas)
    widen = 0
    while not user_grid and widen < _MAX_WIDEN and (p[0] > alpha or p[-1] > alpha or not (p > alpha).any()):
        widen += 1
        half *= 4.0
        thetas = np.linspace(est - half, est + half, n_grid)
        p = pv(thetas)
    if not user_grid and not (p > alpha).any():
        # nothing accepted: the set may be narrower than the grid step; re-scan the two steps around the
        # value with the largest p-value on a fine grid before calling the set empty
        step = thetas[1] - thetas[0]
        c = thetas[int(np.argmax(p))]
        fine = np.linspace(c - step, c + step, n_grid)
        thetas = np.unique(np.concatenate([thetas, fine]))
        p = pv(thetas)
    keep = p > alpha
    table = pd.DataFrame({"theta": thetas, "p_value": p, "in_set": keep})
    if not keep.any():
        return _Inverted(est, float("nan"), float("nan"), p_zero, n_perms, "empty", True, table)
    i_lo, i_hi = int(np.argmax(keep)), int(len(keep) - 1 - np.argmax(keep[::-1]))
    lo, hi = float(thetas[i_lo]), float(thetas[i_hi])
    contiguous = bool(keep[i_lo : i_hi + 1].all())
    status = "grid_limited" if (keep[0] or keep[-1]) else "bounded"
    if refine and status == "bounded":
        lo = _bisect(pv, float(thetas[i_lo - 1]), lo, alpha)
        hi = _bisect(pv, float(thetas[i_hi + 1]), hi, alpha)
    return _Inverted(est, lo, hi, p_zero, n_perms, status, contiguous, table)


def _min_pvalue(perms: np.ndarray, post: np.ndarray, q: float) -> float:
    """Smallest attainable p-value. For ``q`` finite: the share of permutations that map the post slots
    onto themselves (they tie with the observed statistic however extreme it is; moving blocks ``1/m``,
    all ``m!`` permutations ``1 / C(m, T*)``, random i.i.d. draws about that). For ``q = inf`` (the
    largest post residual) a permutation ties as soon as it keeps that one slot in the post window: the
    bound is the smallest such share over the post slots (``T*/m`` for moving blocks)."""
    where = np.flatnonzero(post)
    moved = perms[:, post]
    if q == _INF:
        return float(min(np.mean(np.any(moved == j, axis=1)) for j in where))
    return float(np.mean(np.all(np.sort(moved, axis=1) == where[None, :], axis=1)))


def _bisect(pv: Any, rejected: float, accepted: float, alpha: float) -> float:
    """Move ``accepted`` towards ``rejected`` while the test still accepts; returns the last accepted."""
    tol = 1e-9 * max(abs(rejected), abs(accepted), 1.0)
    for _ in range(_BISECT_STEPS):
        if abs(rejected - accepted) <= tol:
            break
        mid = 0.5 * (rejected + accepted)
        if pv(np.array([mid]))[0] > alpha:
            accepted = mid
        else:
            rejected = mid
    return accepted


def _block_collapse(y1: np.ndarray, Y0: np.ndarray, n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray, int]:
    """CWZ Appendix A.1: non-overlapping ``T*``-period block means, the post block last; the earliest
    ``T0 mod T*`` pre-periods are dropped. Returns (y1 blocks, Y0 blocks, number dropped)."""
    drop = n_pre % n_post
    k = (n_pre - drop) // n_post
    pre_y = y1[drop:n_pre].reshape(k, n_post).mean(axis=1)
    pre_Y = Y0[drop:n_pre].reshape(k, n_post, Y0.shape[1]).mean(axis=1)
    yb = np.concatenate([pre_y, [y1[n_pre:].mean()]])
    Yb = np.vstack([pre_Y, Y0[n_pre:].mean(axis=0)[None, :]])
    return yb, Yb, drop


# --------------------------------------------------------------------------------------------------
# result


@dataclass
class ConformalSC(Estimate):
    """Conformal confidence intervals for a synthetic control (Chernozhukov, Wüthrich and Zhu 2021).

    ``table``: one row per post period with ``period``, ``estimate`` (gap of the treated unit to the
    pre-period simplex least-squares fit), ``lower``, ``upper`` (the per-period interval; ``-inf``/``inf``
    when unbounded), ``p_value`` (of no effect in that period), ``n_perms`` and ``status``
    (``bounded``, ``unbounded`` = too few permutations for this alpha, ``grid_limited``, ``empty``).
    ``average``: a Series with ``effect`` (mean of the per-period estimates), ``lower``, ``upper``,
    ``p_value`` (of no average / no constant effect), ``n_perms``, ``status``, ``method``. The
    Estimate fields repeat the average (``estimate``, ``ci_low``, ``ci_high``, ``p_value``).
    ``grid``: every tested value (``target`` = period or ``"average"``, ``theta``, ``p_value``,
    ``in_set``) for inspection.
    """

    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    average: pd.Series = field(default_factory=pd.Series)
    grid: pd.DataFrame = field(default_factory=pd.DataFrame)
    scheme: str = "moving_block"
    treated_unit: Any = None
    treatment_time: Any = None
    simulated: bool = False

    def plot(self, simulated: bool | None = None) -> Any:
        """Per-period estimates with their conformal intervals (unbounded ones drawn as a dashed full-height
        line and labelled), zero line; a matplotlib Figure, stamped when the data are simulated."""
        from .synth import _new_figure, stamp_simulated

        sim = self.simulated if simulated is None else simulated
        fig, ax = _new_figure()
        t = self.table
        finite = np.isfinite(t["lower"]) & np.isfinite(t["upper"])
        x = t["period"].to_numpy()
        est = t["estimate"].to_numpy(dtype=float)
        lo, hi = t["lower"].to_numpy(dtype=float), t["upper"].to_numpy(dtype=float)
        ax.vlines(x[finite], lo[finite], hi[finite], color="tab:blue", lw=2.5, alpha=0.6)
        if (~finite).any():
            ax.plot([], [], color="grey", ls="--", lw=1, label="Unbounded interval (too few periods)")
            for xi in x[~finite]:
                ax.axvline(xi, color="grey", ls="--", lw=1)
        ax.plot(x, est, "o", color="black", label="Estimate")
        ax.axhline(0, color="grey", lw=0.8)
        level = f"{100 * (1 - self.alpha):.0f}%"
        ax.set_xlabel("Year")
        ax.set_ylabel(f"Effect on {self.outcome}")
        ax.set_title(f"Conformal {level} intervals: {self.treated_unit}")
        ax.legend(frameon=False)
        if sim:
            stamp_simulated(fig)
        return fig

    def summary(self) -> str:
        """The average-effect summary, the per-period table and the notes."""
        head = super().summary()
        t = self.table.copy()
        for c in ("estimate", "lower", "upper", "p_value"):
            t[c] = t[c].map(lambda v: "inf" if v == _INF else ("-inf" if v == -_INF else _fmt(v)))
        return head + "\nPer-period intervals:\n" + t.to_string(index=False)


# --------------------------------------------------------------------------------------------------
# the public functions


def _check_options(alpha: float, scheme: str, average: str, q: Any, n_grid: int, n_iid: int) -> float:
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise UserInputError(f"conformal: alpha must be a number between 0 and 1 (e.g. 0.05); got {alpha!r}.")
    if scheme not in ("moving_block", "iid"):
        raise UserInputError(
            f"conformal: scheme must be 'moving_block' (time shifts; robust to serial correlation) or "
            f"'iid' (all permutations; assumes independent errors); got {scheme!r}."
        )
    if average not in ("blocks", "constant"):
        raise UserInputError(
            f"conformal: average must be 'blocks' (the average of the post-period effects, CWZ Appendix "
            f"A.1) or 'constant' (a constant effect in every post period); got {average!r}."
        )
    qf = _INF if q in ("inf", _INF, np.inf) else q
    if qf not in (1, 2, _INF):
        raise UserInputError(f"conformal: q must be 1, 2 or 'inf'; got {q!r}.")
    if not isinstance(n_grid, (int, np.integer)) or n_grid < 3:
        raise UserInputError(f"conformal: n_grid must be an integer of at least 3; got {n_grid!r}.")
    if not isinstance(n_iid, (int, np.integer)) or n_iid < 1:
        raise UserInputError(f"conformal: n_iid must be a positive integer; got {n_iid!r}.")
    return float(qf)


def conformal_arrays(
    y1: np.ndarray,
    Y0: np.ndarray,
    n_pre: int,
    periods: Any = None,
    *,
    alpha: float = 0.05,
    scheme: str = "moving_block",
    average: str = "blocks",
    q: Any = 1,
    n_iid: int = 10000,
    seed: int = 0,
    grid: Any = None,
    n_grid: int = 100,
    refine: bool = True,
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, list[str]]:
    """The conformal computations on arrays: treated outcomes ``y1`` (T,), donor outcomes ``Y0``
    (T x J), the first ``n_pre`` periods before treatment; ``periods`` labels the T periods. Returns
    (per-period table, average Series, grid table, notes). See :func:`conformal_intervals`."""
    qf = _check_options(alpha, scheme, average, q, n_grid, n_iid)
    y1 = np.asarray(y1, dtype=float)
    Y0 = np.asarray(Y0, dtype=float)
    T = len(y1)
    n_post = T - n_pre
    if n_pre < 1 or n_post < 1:
        raise UserInputError(f"conformal: need pre- and post-treatment periods; got {n_pre} and {n_post}.")
    labels = list(range(T)) if periods is None else list(periods)
    rng = np.random.default_rng(seed)
    user_grid = None
    if grid is not None:
        try:
            user_grid = np.unique(np.asarray(grid, dtype=float).ravel())  # sorted, duplicates removed
        except (TypeError, ValueError):
            user_grid = np.array([np.nan])
        if user_grid.size < 1 or not np.isfinite(user_grid).all():
            raise UserInputError(
                f"conformal: grid must be a list of finite numbers (hypothesised effects to test); got {grid!r}."
            )
    notes: list[str] = []

    # per-period intervals: T0 pre-periods plus the tested period
    m = n_pre + 1
    perms = _permutations(m, scheme, n_iid, rng)
    post1 = np.zeros(m, dtype=bool)
    post1[-1] = True
    rows, grids = [], []
    for k in range(n_post):
        sub = np.r_[np.arange(n_pre), n_pre + k]
        r = _invert(y1[sub], Y0[sub], post1, perms, alpha, qf, user_grid, n_grid, refine)
        rows.append(
            {
                "period": labels[n_pre + k],
                "estimate": r.estimate,
                "lower": r.lower,
                "upper": r.upper,
                "p_value": r.p_zero,
                "n_perms": r.n_perms,
                "status": r.status,
            }
        )
        if len(r.grid):
            grids.append(r.grid.assign(target=labels[n_pre + k]))
        if not r.contiguous:
            notes.append(f"Period {labels[n_pre + k]}: the accepted set is not an interval; its hull is shown.")
    table = pd.DataFrame(rows)
    n_unb = int((table["status"] == "unbounded").sum())
    if n_unb:
        notes.append(
            f"{n_unb} of {n_post} per-period intervals are unbounded (-inf, inf): each per-period test permutes "
            f"{m} periods ({n_pre} pre-treatment + the tested one), so the smallest attainable p-value is "
            f"1/{m} = {1 / m:.3f} > alpha = {alpha:g} (with either permutation scheme), and no effect can be "
            f"rejected. A bounded {100 * (1 - alpha):.0f}% per-period interval needs at least "
            f"{math.ceil(1 / alpha) - 1} pre-treatment periods."
        )
    n_empty = int((table["status"] == "empty").sum())
    if n_empty:
        notes.append(
            f"{n_empty} of {n_post} per-period tests rejected every value on the grid (empty set; lower and "
            f"upper are NaN): the synthetic control does not fit the treated unit in those periods."
        )
    n_gl = int((table["status"] == "grid_limited").sum())
    if n_gl:
        notes.append(
            f"{n_gl} of {n_post} per-period intervals reach the edge of the searched grid; the true set may be "
            f"wider (pass a wider grid)."
        )

    # the average effect
    if average == "blocks":
        if n_pre < n_post:
            yb, Yb, drop, m_avg = None, None, 0, 1
        else:
            yb, Yb, drop = _block_collapse(y1, Y0, n_pre, n_post)
            m_avg = len(yb)
        what = (
            f"average of the {n_post} post-period effects, {m_avg} blocks of {n_post} periods "
            f"(Chernozhukov et al. 2021, Appendix A.1)"
        )
        if drop:
            notes.append(
                f"Average effect: the earliest {drop} pre-treatment period(s) dropped to form whole blocks of "
                f"{n_post} periods."
            )
        if yb is None:
            avg = _Inverted(float("nan"), -_INF, _INF, 1.0, 1, "unbounded", True, pd.DataFrame())
        else:
            postb = np.zeros(m_avg, dtype=bool)
            postb[-1] = True
            avg = _invert(yb, Yb, postb, _permutations(m_avg, scheme, n_iid, rng), alpha, qf, user_grid,
                          n_grid, refine)
    else:
        post = np.zeros(T, dtype=bool)
        post[n_pre:] = True
        m_avg = T
        what = f"constant effect in all {n_post} post periods, S_q with q = {q}, {T} periods permuted"
        avg = _invert(y1, Y0, post, _permutations(T, scheme, n_iid, rng), alpha, qf, user_grid, n_grid, refine)
    if len(avg.grid):
        grids.append(avg.grid.assign(target="average"))
    if avg.status == "unbounded":
        why = (
            f"only {m_avg} " + ("block(s)" if average == "blocks" else "periods")
            + f" to permute ({avg.n_perms} permutation(s)), so the smallest attainable p-value exceeds "
            f"alpha = {alpha:g}"
        )
        if average == "blocks" and n_pre < n_post:
            why = (
                f"fewer pre-treatment periods ({n_pre}) than post-treatment periods ({n_post}) leave no whole "
                f"pre-treatment block to compare with"
            )
        notes.append(f"The average-effect interval is unbounded (-inf, inf): {why}. No effect can be rejected.")
    elif avg.status == "empty":
        notes.append(
            "The average-effect test rejected every value on the grid (empty set; bounds are NaN)"
            + (
                ": no constant effect fits the post-treatment periods (for example an effect that builds up "
                "over time, or a synthetic control that fits poorly); try average='blocks'."
                if average == "constant"
                else "."
            )
        )
    elif avg.status == "grid_limited":
        notes.append("The average-effect interval reaches the edge of the searched grid; the true set may be wider.")
    if not avg.contiguous:
        notes.append(
            "The average-effect confidence set is not an interval: values between accepted ones are rejected "
            "(typically around the estimate, when no single effect fits every post-treatment period while "
            "far-off values are accepted only because the refitted synthetic control then fits badly in all "
            "periods); its hull is shown. Inspect .grid."
        )
    if n_post >= n_pre:
        notes.append(
            f"Few pre-treatment periods ({n_pre}) relative to post-treatment periods ({n_post}): the finite-sample "
            f"guarantee of conformal inference rests on a long pre-period; read with caution."
        )
    effect = float(table["estimate"].mean())
    average_s = pd.Series(
        {
            "effect": effect,
            "lower": avg.lower,
            "upper": avg.upper,
            "p_value": avg.p_zero,
            "n_perms": avg.n_perms,
            "status": avg.status,
            "method": what,
        },
        name="average",
    )
    grid_df = (
        pd.concat(grids, ignore_index=True)[["target", "theta", "p_value", "in_set"]]
        if grids
        else pd.DataFrame(columns=["target", "theta", "p_value", "in_set"])
    )
    return table, average_s, grid_df, notes


def conformal_intervals(
    sc: Any,
    *,
    alpha: float = 0.05,
    scheme: str = "moving_block",
    average: str = "blocks",
    q: Any = 1,
    n_iid: int = 10000,
    seed: int = 0,
    grid: Any = None,
    n_grid: int = 100,
    refine: bool = True,
) -> ConformalSC:
    """Conformal per-period and average-effect intervals for a fitted synthetic control ``sc`` (a
    :class:`~primarycare.methods.synth.SyntheticControl`; usually called as ``sc.conformal(...)``).

    ``alpha``: 1 - confidence level; a value ``theta`` is kept when its p-value exceeds ``alpha``.
    ``scheme``: ``"moving_block"`` (default) or ``"iid"`` permutations of the periods (``n_iid`` random
    draws when there are more than ``n_iid`` permutations; ``seed`` fixes them). ``average``:
    ``"blocks"`` (the average post effect, CWZ Appendix A.1) or ``"constant"`` (a constant effect, all
    periods permuted, statistic ``S_q``). ``grid``: fixed values of ``theta`` to test (default: an
    automatic grid of ``n_grid`` values); ``refine`` bisects the interval ends beyond the grid's
    resolution. Uses the treated unit, donors and all periods of ``sc`` (not its predictors or ``V``).
    """
    s = getattr(sc, "_spec", None)
    if s is None:
        raise UserInputError("conformal: give a synthetic-control result from primarycare.synth.synthetic_control.")
    Y = s.Y
    y1 = Y[:, s.treated]
    Y0 = Y[:, s.donors]
    n_pre = int((s.years < s.treatment_time).sum())
    table, avg, grid_df, notes = conformal_arrays(
        y1, Y0, n_pre, s.years, alpha=alpha, scheme=scheme, average=average, q=q, n_iid=n_iid, seed=seed,
        grid=grid, n_grid=n_grid, refine=refine,
    )
    if s.X is not None or len(s.fit_years) != n_pre:
        notes.append(
            "The conformal proxy is the simplex least-squares synthetic control on the outcome in all periods "
            "(Chernozhukov et al. 2021); it differs from the reported synthetic control, which was fitted on "
            "predictors or on a subset of pre-treatment periods, so the 'estimate' columns differ from its gap."
        )
    status = {"bounded": "", "unbounded": " (unbounded)", "grid_limited": " (grid-limited)", "empty": " (empty)"}
    return ConformalSC(
        method="Synthetic control, conformal inference",
        outcome=s.outcome,
        estimate=float(avg["effect"]),
        ci_low=float(avg["lower"]),
        ci_high=float(avg["upper"]),
        p_value=float(avg["p_value"]),
        n_obs=int(Y.size),
        alpha=alpha,
        inference=(
            f"conformal test inversion (Chernozhukov, Wüthrich and Zhu 2021), {scheme.replace('_', '-')} "
            f"permutations; interval for the {avg['method']}{status.get(str(avg['status']), '')}; "
            f"values with p > alpha kept"
        ),
        warnings=notes,
        extra={"treated_unit": str(s.units[s.treated]), "donors": len(s.donors), "pre_periods": n_pre},
        table=table,
        average=avg,
        grid=grid_df,
        scheme=scheme,
        treated_unit=s.units[s.treated],
        treatment_time=s.treatment_time,
        simulated=s.simulated,
    )
