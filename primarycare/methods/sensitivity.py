"""How much can an event study's parallel-trends assumption be trusted?

Two tools that take event-study coefficients and their covariance (an
:class:`~primarycare.methods.did.EventStudyResult`, or raw ``betahat``, ``sigma`` and event times):

* :func:`pretrend_power`: the power of the joint pre-trend test (the Wald/F test over the leads that the
  chapters report) against a linear violation ``delta_t = slope * (t - reference)``, and the slopes the
  test detects with 50% and 80% probability (Roth 2022, "Pretest with caution"). Computed directly from
  the non-central chi-square (known covariance) or non-central F (the event study's F(q, G-1) test).
* :func:`honest_did`: identified sets and confidence intervals for a post-period target under bounded
  violations of parallel trends, and the breakdown value (Rambachan and Roth 2023, "A more credible
  approach to parallel trends").

Conventions (as in Rambachan and Roth 2023 and the HonestDiD package): the event study's omitted reference
period is the period just before the first post period; ``beta = tau + delta`` with ``tau_pre = 0``, and
the violation ``delta`` is 0 in the reference period. Event times must be consecutive (binned end points
are treated as one period each). Critical values are normal (the paper's asymptotics), not t(G-1).

Restrictions (``method``):

* ``"smoothness"``: Delta^SD(M): the second difference of ``delta`` (reference included, at 0) is at most
  ``M`` in absolute value; ``M = 0`` allows exactly linear violations extrapolated from the pre-period.
  Interval: the optimal fixed-length confidence interval (FLCI; Armstrong and Kolesar 2018; Rambachan and
  Roth 2023, Section 4.1): over affine estimators ``v'beta`` with ``v_post = l`` and ``v`` neutral to
  linear trends, minimise the half-length ``cv_alpha(b/s) s``, where ``s = sd(v'beta)``, ``b`` the
  worst-case bias over Delta^SD(M) (closed form ``M sum_k |v'K_k|`` over the hinge functions ``K_k`` that
  span second differences) and ``cv_alpha(t)`` the ``1 - alpha`` quantile of ``|N(t, 1)|``. The problem is
  convex; it is solved over the free hinge loadings (the L1 term split into non-negative parts) by
  scipy's TNC. On the public Medicaid example it agrees with diff-diff's FLCI to about 1e-5.
* ``"relative_magnitudes"``: Delta^RM(Mbar): every post-period first difference of ``delta`` is at most
  ``Mbar`` times the largest pre-period first difference (the one into the reference period included).
  Identified set in closed form, ``theta -/+ Mbar max|fd_pre| c_l`` (the linear program's optimum,
  exactly; ``c_l`` below). Interval: NOT the paper's conditional/hybrid (ARP) interval. It is a
  Bonferroni interval, valid but conservative: with ``alpha/2`` for the target and
  ``alpha/2`` shared by the ``T`` pre-period first differences, ``[theta_hat -/+ z_{1-alpha/4} se -/+ Mbar
  c_l m_up]`` where ``m_up = max_s(|fd_s| + z_{1-alpha/(4T)} se(fd_s))`` is an upper confidence bound for
  the largest pre-period first difference and ``c_l = sum_j |sum_{k>=j} l_k|``. At ``Mbar = 0`` it is the
  usual ``theta_hat +/- z_{1-alpha/2} se``. It is wider than HonestDiD's hybrid interval and differs from
  diff-diff's "identified set +/- 1.96 se" (which ignores the sampling error of the pre-period
  differences).

Empty identified set (Delta^SD only: the estimated pre-period coefficients themselves have a second
difference above ``M``): the identified-set bounds are NaN (as diff-diff; HonestDiD silently returns the
point estimate) and the row is flagged ``id_set_empty``; the FLCI does not need the identified set and is
still reported (as diff-diff and HonestDiD do).

Breakdown value: the smallest ``M`` (or ``Mbar``) at which the confidence interval includes 0, found by
Brent's method to a relative tolerance of 1e-6 (the intervals widen monotonically in ``M``); 0 if the
interval at ``M = 0`` (for relative magnitudes: just above 0) already includes 0; inf if it never does.
:func:`breakdown_value` computes it alone (no grid).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import ndtr, ndtri

from ..errors import UserInputError

__all__ = [
    "EventStudyInput",
    "event_study_input",
    "PretrendPower",
    "pretrend_power",
    "SensitivityResult",
    "honest_did",
    "breakdown_value",
    "flci_halflength",
]


@dataclass
class EventStudyInput:
    """Event-study coefficients excluding the reference period, in event-time order."""

    betahat: np.ndarray
    sigma: np.ndarray
    event_times: np.ndarray
    reference: int
    df_denom: float = float("inf")

    @property
    def pre(self) -> np.ndarray:
        return self.event_times < self.reference

    @property
    def post(self) -> np.ndarray:
        return self.event_times > self.reference


def event_study_input(
    es: Any = None,
    *,
    betahat: Sequence[float] | None = None,
    sigma: Any = None,
    event_times: Sequence[int] | None = None,
    reference: int = -1,
    df_denom: float | None = None,
    where: str = "sensitivity",
) -> EventStudyInput:
    """Coefficients, covariance and event times from an ``EventStudyResult`` (its ``table`` rows other
    than the reference row, whose standard errors must equal the square roots of ``vcov``'s diagonal: a
    check that the covariance rows follow the table) or from raw ``betahat``/``sigma``/``event_times``
    (reference period excluded)."""
    if es is not None:
        table = getattr(es, "table", None)
        V = getattr(es, "vcov", None)
        if not isinstance(table, pd.DataFrame) or V is None or "rel_time" not in table:
            raise UserInputError(
                f"{where}: es must be an EventStudyResult from primarycare.did.event_study (with .table and "
                f".vcov), or pass betahat=, sigma= and event_times= instead; got {type(es).__name__}."
            )
        ref_rows = table[table["reference"].astype(bool)] if "reference" in table else table.iloc[0:0]
        if len(ref_rows) != 1:
            raise UserInputError(
                f"{where}: the event study has no omitted reference period (method 'imputation' reports "
                f"leads from a separate pre-trend regression). Use method='twfe' or 'sun_abraham', or pass "
                f"raw betahat=, sigma=, event_times= and reference=."
            )
        ref = int(ref_rows["rel_time"].iloc[0])
        rows = table[~table["reference"].astype(bool)]
        b = rows["estimate"].to_numpy(dtype=float)
        t = rows["rel_time"].to_numpy(dtype=int)
        S = np.asarray(V, dtype=float)
        if S.shape != (len(b), len(b)) or not np.allclose(
            np.sqrt(np.clip(np.diag(S), 0, None)), rows["se"].to_numpy(dtype=float), rtol=1e-6, atol=1e-12
        ):
            raise UserInputError(
                f"{where}: the event study's vcov ({S.shape}) does not line up with the {len(b)} non-reference "
                f"rows of its table (standard errors differ from sqrt(diag(vcov)))."
            )
        dfd = float(es.pretrend.get("df_denom", np.inf)) if getattr(es, "pretrend", None) else np.inf
        if df_denom is not None:
            dfd = float(df_denom)
        return _validated(b, S, t, ref, dfd, where)
    if betahat is None or sigma is None or event_times is None:
        raise UserInputError(
            f"{where}: give an EventStudyResult, or all of betahat=, sigma= and event_times= (the reference "
            f"period excluded)."
        )
    return _validated(
        np.asarray(betahat, dtype=float),
        np.asarray(sigma, dtype=float),
        np.asarray(event_times),
        int(reference),
        np.inf if df_denom is None else float(df_denom),
        where,
    )


def _validated(b: np.ndarray, S: np.ndarray, t: np.ndarray, ref: int, dfd: float, where: str) -> EventStudyInput:
    n = len(b)
    if b.ndim != 1 or S.shape != (n, n) or len(t) != n:
        raise UserInputError(
            f"{where}: betahat has {len(b)} entries, event_times {len(t)} and sigma shape {S.shape}; they must "
            f"match (one entry per non-reference event time)."
        )
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(S))):
        raise UserInputError(f"{where}: betahat and sigma must be finite.")
    if not np.allclose(S, S.T, atol=1e-12 * max(1.0, np.abs(S).max())):
        raise UserInputError(f"{where}: sigma must be symmetric.")
    if ref in set(t.tolist()):
        raise UserInputError(f"{where}: event_times include the reference period {ref}; leave it out.")
    order = np.argsort(t, kind="stable")
    b, S, t = b[order], S[np.ix_(order, order)], t[order].astype(int)
    if np.any(np.diff(t) == 0):
        raise UserInputError(f"{where}: event_times repeat: {t.tolist()}.")
    if not (t < ref).any() or not (t > ref).any():
        raise UserInputError(
            f"{where}: need at least one pre-period (event time < {ref}) and one post-period (> {ref}); got "
            f"{t.tolist()}."
        )
    return EventStudyInput(b, S, t, ref, dfd)


# --- pre-trend power (Roth 2022) --------------------------------------------------------------------


@dataclass
class PretrendPower:
    """Power of the joint pre-trend test against ``delta_t = slope (t - reference)``."""

    test: str
    alpha: float
    q: int
    df_denom: float
    slope: float | None
    power: float | None
    noncentrality_per_slope2: float
    table: pd.DataFrame = field(default_factory=pd.DataFrame)

    def power_at(self, slope: float) -> float:
        return _power(self.noncentrality_per_slope2 * slope**2, self.q, self.df_denom, self.alpha)

    def summary(self) -> str:
        lines = [
            f"Pre-trend test: {self.test}, {self.q} leads, alpha = {self.alpha}",
            "Violation: delta_t = slope * (t - reference) (Roth 2022)",
        ]
        if self.slope is not None:
            lines.append(f"Power at slope {self.slope:.4g}: {self.power:.4f}")
        lines.append(self.table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


@functools.lru_cache(maxsize=64)
def _critical(q: int, dfd: float, alpha: float) -> float:
    """The test's critical value: the 1 - alpha quantile of F(q, dfd), or of chi-square(q) if dfd is inf."""
    return float(stats.f.ppf(1 - alpha, q, dfd)) if np.isfinite(dfd) else float(stats.chi2.ppf(1 - alpha, q))


def _power(lam: float, q: int, dfd: float, alpha: float) -> float:
    crit = _critical(q, dfd, alpha)  # the root search calls this with one (q, dfd, alpha) many times
    if np.isfinite(dfd):
        return float(stats.ncf.sf(crit, q, dfd, lam)) if lam > 0 else alpha
    return float(stats.ncx2.sf(crit, q, lam)) if lam > 0 else alpha


def pretrend_power(
    es: Any = None,
    slope: float | None = None,
    alpha: float = 0.05,
    power: Sequence[float] = (0.5, 0.8),
    *,
    test: str = "auto",
    **raw: Any,
) -> PretrendPower:
    """Power of the joint pre-trend test against a linear violation (Roth 2022).

    Under ``delta_t = slope (t - reference)`` the lead coefficients have mean ``slope w`` with ``w_t = t -
    reference``; the Wald statistic ``W = b' S^-1 b`` over the ``q`` leads is non-central chi-square(q,
    lambda) with ``lambda = slope^2 w' S^-1 w`` (``test="chi2"``, covariance treated as known) and ``W/q``
    is non-central F(q, df, lambda) for the event study's F(q, G-1) test (``test="F"``) when the
    covariance is estimated with df degrees of freedom (the model behind the F reference distribution; for
    a cluster-robust covariance this is an approximation).
    ``test="auto"``: F when the input has finite denominator degrees of freedom (an EventStudyResult),
    else chi-square. Returns the power at ``slope`` (if given) and the slopes at which the power equals
    each value in ``power`` (default 50% and 80%). ``es``: an EventStudyResult, or pass ``betahat=``,
    ``sigma=``, ``event_times=``, ``reference=`` (and optionally ``df_denom=``).
    """
    where = "pretrend_power"
    if not 0 < alpha < 1:
        raise UserInputError(f"{where}: alpha must be between 0 and 1; got {alpha!r}.")
    targets = [float(p) for p in np.atleast_1d(power)]
    if any(not (alpha < p < 1) for p in targets):
        raise UserInputError(f"{where}: each target power must be between alpha ({alpha}) and 1; got {targets}.")
    d = event_study_input(es, where=where, **raw)
    if test not in ("auto", "chi2", "F"):
        raise UserInputError(f"{where}: test must be 'auto', 'chi2' or 'F'; got {test!r}.")
    dfd = d.df_denom if test in ("auto", "F") else np.inf
    if test == "F" and not np.isfinite(dfd):
        raise UserInputError(f"{where}: test='F' needs df_denom (the event study's clusters minus one).")
    pre = d.pre
    S = d.sigma[np.ix_(pre, pre)]
    w = (d.event_times[pre] - d.reference).astype(float)
    kappa = float(w @ np.linalg.pinv(S) @ w)  # pinv, as the chapter's Wald test (methods._vcov.wald_f)
    if not kappa > 0:
        raise UserInputError(f"{where}: the leads' covariance is zero along a linear trend; power is undefined.")
    q = int(pre.sum())
    name = f"F({q}, {dfd:g})" if np.isfinite(dfd) else f"Wald chi-square({q})"
    rows = []
    for p in targets:
        lam = optimize.brentq(lambda x, p=p: _power(x, q, dfd, alpha) - p, 1e-12, 1e6, xtol=1e-12)
        rows.append({"power": p, "noncentrality": lam, "slope": float(np.sqrt(lam / kappa))})
    pw = None if slope is None else _power(kappa * float(slope) ** 2, q, dfd, alpha)
    return PretrendPower(
        test=name, alpha=alpha, q=q, df_denom=float(dfd), slope=None if slope is None else float(slope),
        power=pw, noncentrality_per_slope2=kappa, table=pd.DataFrame(rows),
    )


# --- honest DiD (Rambachan and Roth 2023) -----------------------------------------------------------


@dataclass
class SensitivityResult:
    """Honest DiD sensitivity: one row per M with the confidence interval (``lower``, ``upper``), the
    identified set (``id_lower``, ``id_upper``; NaN when empty) and the method; ``breakdown`` = the
    smallest M at which the interval includes 0."""

    method: str
    target: str
    l_vec: np.ndarray
    alpha: float
    estimate: float
    se: float
    table: pd.DataFrame
    breakdown: float
    interval: str
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        m = "Mbar" if self.method == "relative_magnitudes" else "M"
        head = [
            f"Honest DiD ({self.method}), target {self.target}: estimate {self.estimate:.4g} (se {self.se:.3g})",
            f"Interval: {self.interval}; {100 * (1 - self.alpha):.0f}% level",
            f"Breakdown {m} (interval first includes 0): {self.breakdown:.4g}",
        ]
        body = self.table.to_string(index=False, float_format=lambda x: f"{x:.4g}")
        return "\n".join(head + [body] + [f"NOTE: {n}" for n in self.notes])

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


def _target_vector(target: Any, n_post: int, where: str) -> tuple[np.ndarray, str]:
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and 0 <= target < n_post:
        v = np.zeros(n_post)
        v[int(target)] = 1.0
        return v, f"effect {int(target)} periods after the first post period (e = {int(target)})"
    if isinstance(target, str):
        if target in ("average", "average post"):
            return np.full(n_post, 1.0 / n_post), "average of post-period effects"
        if target in ("e0", "first"):
            v = np.zeros(n_post)
            v[0] = 1.0
            return v, "effect in the first post period (e = 0)"
    else:
        v = np.asarray(target, dtype=float)
        if v.shape == (n_post,) and np.all(np.isfinite(v)):
            return v, f"l'tau_post with l = {np.round(v, 4).tolist()}"
    raise UserInputError(
        f"{where}: target must be 'average', 'e0', an integer e from 0 to {n_post - 1} (the e-th post period) or "
        f"a vector of {n_post} post-period weights; got {target!r}."
    )


def _hinges(e: np.ndarray) -> np.ndarray:
    """Columns K_k(t), k = -T+1..Tbar-1: the violation with a unit second difference at k, zero slope at
    the reference (event time 0 here) and delta_0 = 0: max(0, t - k) for k >= 1 (t > 0), max(0, k - t)
    for k <= 0 (t < 0). Every delta with delta_0 = 0 is a t + sum_k D2_k K_k."""
    ks = np.arange(e.min() + 1, e.max())
    K = np.zeros((len(e), len(ks)))
    for j, k in enumerate(ks):
        K[:, j] = np.where(e > 0, np.maximum(0, e - k), 0) if k >= 1 else np.where(e < 0, np.maximum(0, k - e), 0)
    return K


def _cv_folded(t: float, alpha: float) -> tuple[float, float]:
    """(1 - alpha) quantile x of |N(t, 1)| (Newton on Phi(x - t) - Phi(-x - t) = 1 - alpha) and dx/dt."""
    t = abs(float(t))
    x = t + float(ndtri(1 - alpha / 2)) if t < 3 else t + float(ndtri(1 - alpha))
    for _ in range(100):
        a, b = _phi(x - t), _phi(x + t)
        step = (ndtr(x - t) - ndtr(-x - t) - (1 - alpha)) / (a + b)
        x = max(x - step, 0.5 * x)
        if abs(step) < 1e-14 * max(1.0, x):
            break
    a, b = _phi(x - t), _phi(x + t)
    return x, (a - b) / (a + b)


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def flci_halflength(v: np.ndarray, sigma: np.ndarray, e: np.ndarray, M: float, alpha: float) -> float:
    """Half-length ``cv_alpha(b/s) s`` of the fixed-length interval around ``v'beta`` (``e`` = event times
    with the reference at 0; ``v`` must be neutral to linear trends, ``v'e = 0``; else the worst-case bias
    is infinite)."""
    s = float(np.sqrt(v @ sigma @ v))
    if abs(float(v @ e)) > 1e-9 * max(1.0, float(np.abs(v).sum())):
        return float("inf")
    b = M * float(np.abs(_hinges(e).T @ v).sum())
    return _cv_folded(b / s, alpha)[0] * s


@dataclass
class _FLCIProblem:
    """The FLCI search space: v_pre = G y + g0 with y = the T-1 free hinge loadings K_k'v (k = -T+1..-1);
    the loading on K_0 is fixed at l'e_post by trend neutrality and the post hinges' loadings by l, so
    the worst-case bias is M (sum|y| + c)."""

    G: np.ndarray
    g0: np.ndarray
    c: float
    Q: np.ndarray  # s^2 = y'Qy + q'y + q0
    q: np.ndarray
    q0: float
    l_full: np.ndarray
    pre: np.ndarray

    @classmethod
    def build(cls, d: EventStudyInput, l_vec: np.ndarray) -> _FLCIProblem:
        e = (d.event_times - d.reference).astype(float)
        pre = d.pre
        e_pre, e_post = e[pre], e[~pre]
        T = len(e_pre)
        ks = np.arange(-T + 1, 1)
        B = np.maximum(0.0, ks[:, None] - e_pre[None, :])  # rows k, columns pre t: K_k(t)
        Binv = np.linalg.inv(B)
        y0 = float(l_vec @ e_post)  # K_0'v = -e_pre'v_pre = l'e_post
        G, g0 = Binv[:, :-1], Binv[:, -1] * y0
        c_post = sum(abs(float(l_vec @ np.maximum(0.0, e_post - k))) for k in range(1, int(e_post.max())))
        S = d.sigma
        Spp, Spo, Soo = S[np.ix_(pre, pre)], S[np.ix_(pre, ~pre)], S[np.ix_(~pre, ~pre)]
        r = Spp @ g0 + Spo @ l_vec
        l_full = np.zeros(len(e))
        l_full[~pre] = l_vec
        return cls(
            G=G, g0=g0, c=abs(y0) + c_post, Q=G.T @ Spp @ G, q=2 * G.T @ r,
            q0=float(g0 @ Spp @ g0 + 2 * g0 @ Spo @ l_vec + l_vec @ Soo @ l_vec), l_full=l_full, pre=pre,
        )

    def v(self, y: np.ndarray) -> np.ndarray:
        out = self.l_full.copy()
        out[self.pre] = self.G @ y + self.g0
        return out

    def sd(self, y: np.ndarray) -> float:
        return float(np.sqrt(max(y @ self.Q @ y + self.q @ y + self.q0, 0.0)))

    def y_min_variance(self) -> np.ndarray:
        if len(self.q) == 0:
            return np.zeros(0)
        return np.linalg.lstsq(2 * self.Q, -self.q, rcond=None)[0]

    def halflength(self, y: np.ndarray, M: float, alpha: float) -> float:
        s = self.sd(y)
        if not s > 0:
            return float("nan")  # degenerate covariance: no interval
        return _cv_folded(M * (float(np.abs(y).sum()) + self.c) / s, alpha)[0] * s


def _flci(d: EventStudyInput, l_vec: np.ndarray, M: float, alpha: float, y_start: np.ndarray | None = None,
          prob: _FLCIProblem | None = None) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Optimal FLCI for Delta^SD(M): (centre v'beta, half-length, y, v). Minimises cv_alpha(b/s) s, a
    convex function of y (the perspective of the convex cv_alpha, non-decreasing in b and s, of a norm
    and an L1 norm), with y = y+ - y- (both >= 0) so scipy's bound-constrained truncated Newton (TNC)
    sees a smooth objective."""
    P = prob or _FLCIProblem.build(d, l_vec)
    n = len(P.q)
    y = P.y_min_variance()
    if M > 0 and n > 0:
        start = y if y_start is None else y_start

        def obj(x: np.ndarray) -> tuple[float, np.ndarray]:
            yy = x[:n] - x[n:]
            s2 = float(yy @ P.Q @ yy + P.q @ yy + P.q0)
            s = math.sqrt(max(s2, 1e-300))
            b = M * (float(x.sum()) + P.c)
            cv, dcv = _cv_folded(b / s, alpha)
            df_db, df_ds = dcv, cv - (b / s) * dcv
            ds_dy = (2 * P.Q @ yy + P.q) / (2 * s)
            return cv * s, np.concatenate([df_db * M + df_ds * ds_dy, df_db * M - df_ds * ds_dy])

        x0 = np.concatenate([np.maximum(start, 0), np.maximum(-start, 0)])  # convex: one start suffices
        res = optimize.minimize(obj, x0, jac=True, method="TNC", bounds=[(0, None)] * (2 * n),
                                options={"ftol": 1e-15, "gtol": 1e-12, "xtol": 1e-13, "maxfun": 5000})
        y = res.x[:n] - res.x[n:]
    v = P.v(y)
    return float(v @ d.betahat), P.halflength(y, M, alpha), y, v


def _c_l(l_vec: np.ndarray) -> float:
    """``sum_j |sum_{k>=j} l_k|``: the largest ``l'delta_post`` when every post-period first difference of
    ``delta`` (from ``delta_0 = 0`` on) is at most 1 in absolute value."""
    return float(np.abs(np.cumsum(l_vec[::-1])[::-1]).sum())


def _id_set(d: EventStudyInput, l_vec: np.ndarray, method: str, M: float) -> tuple[float, float]:
    """Identified set for l'tau_post with delta_pre pinned to beta_pre (Rambachan and Roth 2023, eqs. 5-6);
    (nan, nan) when infeasible (empty).

    Relative magnitudes in closed form: the post first differences ``fd_j`` are free in ``[-B, B]`` with
    ``B = Mbar max|fd_pre|`` and ``l'delta_post = sum_j fd_j sum_{k>=j} l_k``, so the set is
    ``theta -/+ B c_l`` (the linear program's optimum, exactly). Smoothness by linear programming."""
    pre, post = d.pre, d.post
    T, Tb = int(pre.sum()), int(post.sum())
    bpre, bpost = d.betahat[pre], d.betahat[post]
    if method != "smoothness":
        fd_pre = np.diff(np.concatenate([bpre, [0.0]]))
        half = M * float(np.max(np.abs(fd_pre))) * _c_l(l_vec)
        theta = float(l_vec @ bpost)
        return theta - half, theta + half
    n = T + Tb  # delta over event times -T..-1, 1..Tbar; the full path adds delta_0 = 0 at index T
    full = np.zeros((n + 1, n))
    full[:T, :T] = np.eye(T)
    full[T + 1:, T:] = np.eye(Tb)
    D = full[2:] - 2 * full[1:-1] + full[:-2]  # second differences of the full path
    A_ub = np.vstack([D, -D])
    b_ub = np.full(len(A_ub), M)
    A_eq = np.hstack([np.eye(T), np.zeros((T, Tb))])
    c = np.concatenate([np.zeros(T), l_vec])
    out = []
    for sign in (1.0, -1.0):  # min and max of l'delta_post
        r = optimize.linprog(sign * c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=bpre, bounds=(None, None),
                             method="highs")
        if r.status == 2:
            return float("nan"), float("nan")
        if r.status != 0:
            raise RuntimeError(f"honest_did: linear program failed ({r.message}).")
        out.append(sign * r.fun)
    theta = float(l_vec @ bpost)
    return theta - out[1], theta - out[0]


def _rm_interval(d: EventStudyInput, l_vec: np.ndarray, Mbar: float, alpha: float) -> tuple[float, float]:
    post, pre = d.post, d.pre
    theta = float(l_vec @ d.betahat[post])
    se = float(np.sqrt(l_vec @ d.sigma[np.ix_(post, post)] @ l_vec))
    if Mbar == 0:
        z = ndtri(1 - alpha / 2)  # stats.norm.ppf
        return theta - z * se, theta + z * se
    T = int(pre.sum())
    # pre first differences fd_s = delta_{s+1} - delta_s, the last one into the reference (delta_0 = 0)
    F = np.zeros((T, T))
    for i in range(T):
        F[i, i] = -1.0
        if i + 1 < T:
            F[i, i + 1] = 1.0
    fd = F @ d.betahat[pre]
    fd_se = np.sqrt(np.clip(np.diag(F @ d.sigma[np.ix_(pre, pre)] @ F.T), 0, None))
    m_up = float(np.max(np.abs(fd) + ndtri(1 - alpha / (4 * T)) * fd_se))
    half = ndtri(1 - alpha / 4) * se + Mbar * _c_l(l_vec) * m_up
    return theta - half, theta + half


def honest_did(
    es: Any = None,
    method: str = "relative_magnitudes",
    M: Sequence[float] | float | None = None,
    target: Any = "average",
    alpha: float = 0.05,
    **raw: Any,
) -> SensitivityResult:
    """Sensitivity of an event study's post-period effect to violations of parallel trends (Rambachan
    and Roth 2023): identified sets and confidence intervals over a grid of ``M`` and the breakdown value.

    ``method``: ``"relative_magnitudes"`` (Delta^RM(Mbar); ``M`` is Mbar; default grid 0..2 by 0.25) or
    ``"smoothness"`` (Delta^SD(M); default grid: 11 points from 0 to 5 standard errors of the target,
    an arbitrary scale; give ``M`` in the outcome's units per period squared).
    ``target``: ``"average"`` (mean of the post-period effects, diff-diff's default), ``"e0"`` (the first
    post period, HonestDiD's default), an integer ``e`` (the e-th post period, 0 = first) or a weight
    vector over the post periods. See the module docstring
    for exactly which interval each method reports (the relative-magnitudes interval is a conservative
    Bonferroni interval, not HonestDiD's hybrid) and what happens when the identified set is empty.
    ``es``: an EventStudyResult (reference period = the period before the first post period), or pass
    ``betahat=``, ``sigma=``, ``event_times=``, ``reference=``.
    """
    where = "honest_did"
    d, l_vec, target_name, theta, se = _honest_input(es, method, target, alpha, raw, where)
    if M is None:
        grid = np.linspace(0, 2, 9) if method == "relative_magnitudes" else np.linspace(0, 5 * se, 11)
    else:
        grid = np.atleast_1d(np.asarray(M, dtype=float))
    if grid.ndim != 1 or len(grid) == 0 or np.any(~np.isfinite(grid)) or np.any(grid < 0):
        raise UserInputError(f"{where}: M must be one or more finite non-negative numbers; got {M!r}.")
    rows = []
    y_prev = None
    notes: list[str] = []
    prob = _FLCIProblem.build(d, l_vec) if method == "smoothness" else None
    for m in grid:
        lo_id, hi_id = _id_set(d, l_vec, method, float(m))
        if method == "smoothness":
            center, half, y_prev, _ = _flci(d, l_vec, float(m), alpha, y_prev, prob)
            lo, hi = center - half, center + half
        else:
            lo, hi = _rm_interval(d, l_vec, float(m), alpha)
        rows.append({"M": float(m), "lower": lo, "upper": hi, "id_lower": lo_id, "id_upper": hi_id,
                     "id_set_empty": bool(np.isnan(lo_id)), "method": method})
    table = pd.DataFrame(rows)
    if table["id_set_empty"].any():
        notes.append(
            "The identified set is empty (bounds NaN) at M = "
            + ", ".join(f"{m:.4g}" for m in table.loc[table.id_set_empty, "M"])
            + ": the estimated pre-period coefficients alone have a second difference larger than M."
        )
    breakdown = _breakdown(d, l_vec, method, alpha, scale=max(se, 1e-12))
    interval = (
        "optimal FLCI (Armstrong-Kolesar; Rambachan-Roth 2023 sec. 4.1)"
        if method == "smoothness"
        else "Bonferroni (target at alpha/2, pre-period differences at alpha/2); conservative, not HonestDiD's hybrid"
    )
    return SensitivityResult(
        method=method, target=target_name, l_vec=l_vec, alpha=alpha, estimate=theta, se=se, table=table,
        breakdown=breakdown, interval=interval, notes=notes,
    )


def breakdown_value(
    es: Any = None,
    method: str = "relative_magnitudes",
    target: Any = "average",
    alpha: float = 0.05,
    **raw: Any,
) -> float:
    """The breakdown value of :func:`honest_did` alone (the same number as its ``breakdown``), without
    the grid of intervals and identified sets: the smallest ``M`` (``Mbar``) at which the interval for
    the target includes 0 (Rambachan and Roth 2023, Section 5). Arguments as for :func:`honest_did`."""
    d, l_vec, _, _, se = _honest_input(es, method, target, alpha, raw, "breakdown_value")
    return _breakdown(d, l_vec, method, alpha, scale=max(se, 1e-12))


def _honest_input(es: Any, method: str, target: Any, alpha: float, raw: dict[str, Any],
                  where: str) -> tuple[EventStudyInput, np.ndarray, str, float, float]:
    """The checked input of :func:`honest_did`: coefficients, the target's weights and name, its estimate
    and standard error."""
    if method not in ("relative_magnitudes", "smoothness"):
        raise UserInputError(f"{where}: method must be 'relative_magnitudes' or 'smoothness'; got {method!r}.")
    if not 0 < alpha < 1:
        raise UserInputError(f"{where}: alpha must be between 0 and 1; got {alpha!r}.")
    d = event_study_input(es, where=where, **raw)
    e = d.event_times - d.reference
    pre_e, post_e = e[e < 0], e[e > 0]
    if not (np.array_equal(pre_e, np.arange(-len(pre_e), 0)) and np.array_equal(post_e, np.arange(1, len(post_e) + 1))):
        raise UserInputError(
            f"{where}: event times {d.event_times.tolist()} are not consecutive around the reference period "
            f"{d.reference} (the leads must end at {d.reference - 1} and the lags start at {d.reference + 1}); "
            f"the restrictions compare neighbouring periods. Re-estimate with reference={d.reference} the "
            f"period just before treatment and no gaps."
        )
    l_vec, target_name = _target_vector(target, len(post_e), where)
    post = d.post
    theta = float(l_vec @ d.betahat[post])
    se = float(np.sqrt(l_vec @ d.sigma[np.ix_(post, post)] @ l_vec))
    return d, l_vec, target_name, theta, se


def _breakdown(d: EventStudyInput, l_vec: np.ndarray, method: str, alpha: float, scale: float) -> float:
    """Smallest M whose interval includes 0: the root of the interval's bound nearest 0 (Brent's method
    to a relative tolerance of 1e-6; the intervals widen monotonically in M)."""
    prob = _FLCIProblem.build(d, l_vec) if method == "smoothness" else None
    warm: list[np.ndarray | None] = [None]

    def bounds(m: float) -> tuple[float, float]:
        if method == "smoothness":
            c, h, warm[0], _ = _flci(d, l_vec, m, alpha, warm[0], prob)
            return c - h, c + h
        return _rm_interval(d, l_vec, m, alpha)

    lo0, hi0 = bounds(0.0)
    if lo0 <= 0 <= hi0:
        return 0.0
    sign = 1.0 if lo0 > 0 else -1.0

    def gap(m: float) -> float:  # > 0 while the interval excludes 0
        lo, hi = bounds(m)
        return lo if sign > 0 else -hi

    if method == "relative_magnitudes" and gap(1e-12) <= 0:
        return 0.0  # the Bonferroni interval jumps from z_{1-alpha/2} to z_{1-alpha/4} just above Mbar = 0
    unit = scale if method == "smoothness" else 1.0
    hi = unit
    while gap(hi) > 0:
        hi *= 2
        if hi > 1e8 * unit:
            return float("inf")
    return float(optimize.brentq(gap, 0.0 if method == "smoothness" else 1e-12, hi, rtol=1e-6, xtol=1e-12 * unit))
