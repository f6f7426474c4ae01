"""Segmented regression (interrupted time series) and comparative interrupted time series.

Segmented regression (Wagner, Soumerai, Zhang and Ross-Degnan 2002; Lopez Bernal, Cummins and Gasparrini
2017) fits one series with a baseline level and slope, a level change (a step ``1[t >= t1]``) and a slope
change (``(t - t1) 1[t >= t1]``) at the reform ``t1``, and optional common-shock terms ``g_s``::

    y_t = b0 + b1 (t - t_first) + c 1[t >= t1] + d (t - t1) 1[t >= t1] + sum_s g_s z_s(t) + e_t

with ``z_s(t) = 1[t = s]`` (``shock_kind="pulse"``, a one-period shock such as 2020) or ``1[t >= s]``
(``"level"``). The effect ``k`` periods after the reform is ``c + d k`` (``k = 0`` in the reform period);
the headline ``estimate`` is that effect in the last observed period.

Counterfactual: the fit with ``c = d = 0`` and the shock terms KEPT. It assumes (1) the pre-reform level
and slope would have continued and (2) each shock moved the series by the same amount with or without the
reform. So the counterfactual dips in 2020 like the fitted path, and net of the shock its slope is the
pre-reform slope ``b1`` in every post-reform period.

Legacy: ``interruption=[t1, t2, ...]`` gives every later period a "break" (its own level and slope change,
the slope change measured relative to the post-reform slope), kept in both paths. After a break the
counterfactual's slope is ``b1`` plus the break's slope change, not the pre-reform trend (with a 2020
dip this made the "pre-reform trend projected" line fall while the pre-reform trend rose); the result
warns. Prefer ``shocks=[t2]``.

Errors (intervals and p-values use the t distribution with the residual degrees of freedom throughout):

* ``errors="ols"``: OLS with Newey-West (1987) HAC standard errors from statsmodels (``cov_type="HAC"``,
  Bartlett kernel, small-sample correction ``n/(n-k)``); the lag length is ``hac_lags`` or, by default,
  ``floor(4 (n/100)^(2/9))`` (Newey and West 1994). ``hac_lags=0`` gives White errors.
* ``errors="ar1"``: statsmodels ``GLSAR(rho=1).iterative_fit``: alternate OLS on the quasi-differenced data
  ``y_t - rho y_{t-1}`` with the FIRST PERIOD DROPPED and a Yule-Walker estimate of rho from the
  residuals (statsmodels ``yule_walker``, method "adjusted": demeaned lag-1 autocovariance over ``n-1``
  divided by the variance over ``n``), until the coefficients change by less than 1e-8. This is an
  iterated Yule-Walker feasible GLS; it is close to, but not, textbook Cochrane and Orcutt (1949), whose
  rho is the regression of ``e_t`` on ``e_{t-1}``.
* ``errors="prais"``: iterated Prais and Winsten (1954) feasible GLS (:func:`prais_winsten`): rho is the
  no-intercept regression of ``e_t`` on ``e_{t-1}`` (Stata's ``prais`` default), clipped to +/-0.999, and
  the coefficients are statsmodels ``GLS`` with the AR(1) correlation matrix, which KEEPS the first period
  (scaled by ``sqrt(1 - rho^2)``); iterated until rho changes by less than 1e-10.

Feasible GLS with an estimated rho under-covers in short series (rho-hat is biased towards zero; Park and
Mitchell 1980). Measured coverage of a nominal 95% interval for the slope change (1,000 replications per
cell, reform at mid-series, stationary AR(1) errors; ``tests/mc_ar1_coverage.py``; binomial MC sd about
1.5 points)::

    n    rho   ols (HAC)   ar1 (GLSAR)   prais
    14   0.5     62.8%        68.8%      70.4%
    14   0.9     44.8%        55.6%      51.4%
    60   0.5     78.6%        88.7%      87.3%
    60   0.9     47.6%        67.6%      67.3%

No option is close to nominal with 14 periods; with rho near 1 none is reliable at 60 either. Even with
white-noise errors, the default Newey-West interval for the last-year effect in a 14-period series covers
only about 77% (``tests/test_trends.py``, Monte Carlo with the 2020 pulse modelled).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.linear_model import GLS, GLSAR, OLS  # not statsmodels.api: faster to import

from ..errors import UserInputError
from ._prep import numeric_period, numeric_time
from .results import Estimate
from .synth import _is_simulated, _new_figure, stamp_simulated

__all__ = ["Coefficient", "Segmented", "segmented", "comparative", "newey_west_lags", "prais_winsten"]


def newey_west_lags(n: int) -> int:
    """Default HAC lag length ``floor(4 (n/100)^(2/9))`` (Newey and West 1994)."""
    return int(math.floor(4 * (n / 100) ** (2 / 9)))


@dataclass
class Coefficient:
    """One estimated quantity with its standard error, confidence interval and two-sided p-value."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float

    def __str__(self) -> str:
        return (
            f"{self.estimate:.4g} (se {self.se:.3g}; CI [{self.ci_low:.4g}, {self.ci_high:.4g}]; "
            f"p = {self.p_value:.3g})"
        )


@dataclass
class Segmented(Estimate):
    """Segmented-regression result (Wagner et al. 2002). ``estimate`` = effect in the last observed
    period (level change + slope change x periods since the interruption)."""

    level_change: Coefficient | None = None
    slope_change: Coefficient | None = None
    baseline_level: Coefficient | None = None
    baseline_slope: Coefficient | None = None
    coefficients: pd.DataFrame = field(default_factory=pd.DataFrame)
    interruptions: list[Any] = field(default_factory=list)
    shocks: list[Any] = field(default_factory=list)
    shock_kind: str = "pulse"
    counterfactual_assumes: str = ""
    observed: pd.Series = field(default_factory=pd.Series)
    fitted: pd.Series = field(default_factory=pd.Series)
    counterfactual: pd.DataFrame = field(default_factory=pd.DataFrame)
    design: pd.DataFrame = field(default_factory=pd.DataFrame)
    errors: str = "ols"
    hac_lags: int | None = None
    rho: float | None = None
    simulated: bool = False
    _res: Any = field(default=None, repr=False)

    def effect_at(self, k: float) -> Coefficient:
        """Effect ``k`` periods after the (first) interruption: ``level_change + slope_change * k``."""
        names = list(self.design.columns)
        c = np.zeros(len(names))
        t1 = self.interruptions[0]
        c[names.index(f"level_change_{t1}")] = 1.0
        c[names.index(f"slope_change_{t1}")] = float(k)
        return _lincom(self._res, c, self.alpha)

    def effects(self) -> pd.DataFrame:
        """The effect (with interval) in every observed period from the interruption on."""
        t1 = self.interruptions[0]
        times = [t for t in self.observed.index if t >= t1]
        rows = [{"time": t, "k": t - t1, **vars(self.effect_at(t - t1))} for t in times]
        return pd.DataFrame(rows).set_index("time")

    def plot(self, simulated: bool | None = None, title: str | None = None) -> Any:
        """Observed series, fitted segments, and the counterfactual (no first interruption) with its
        interval; a matplotlib Figure."""
        sim = self.simulated if simulated is None else simulated
        fig, ax = _new_figure()
        t = self.observed.index
        ax.plot(t, self.observed.to_numpy(), "o", color="black", ms=4, label="Observed")
        ax.plot(t, self.fitted.to_numpy(), color="tab:blue", lw=2, label="Segmented fit")
        cf = self.counterfactual
        ax.plot(
            cf.index, cf["estimate"].to_numpy(), color="tab:orange", ls="--", lw=1.8, label="Counterfactual"
        )
        ax.fill_between(
            cf.index, cf["ci_low"].to_numpy(), cf["ci_high"].to_numpy(), color="tab:orange", alpha=0.2, lw=0
        )
        for i, tk in enumerate([*self.interruptions, *self.shocks]):
            ax.axvline(tk, color="grey", ls=":" if i else "-", lw=1)
        ax.set_xlabel("Year")
        ax.set_ylabel(self.outcome)
        ax.set_title(title or f"{self.method}: effect in last period {self.estimate:.3g}")
        ax.legend(frameon=False)
        if sim:
            stamp_simulated(fig)
        return fig


def _lincom(res: Any, c: np.ndarray, alpha: float) -> Coefficient:
    """A linear combination ``c'b`` with its se, t-based interval (residual df) and two-sided p-value."""
    b = np.asarray(res.params)
    cov = np.asarray(res.cov_params())
    est = float(c @ b)
    se = float(np.sqrt(max(c @ cov @ c, 0.0)))
    df = float(res.df_resid)
    crit = stats.t.ppf(1 - alpha / 2, df)
    p = float(2 * stats.t.sf(abs(est / se), df)) if se > 0 else float("nan")
    return Coefficient(estimate=est, se=se, ci_low=est - crit * se, ci_high=est + crit * se, p_value=p)


def _as_list(interruption: Any) -> list[Any]:
    if isinstance(interruption, (str, bytes)) or not isinstance(interruption, Iterable):
        return [interruption]
    return list(interruption)


SHOCK_KINDS = ("pulse", "level", "break")
RHO_MAX = 0.999  # Prais-Winsten needs |rho| < 1 (the first row is scaled by sqrt(1 - rho^2))


def _shock_columns(t: np.ndarray, s: Any, kind: str) -> dict[str, np.ndarray]:
    if kind == "pulse":
        return {f"shock_pulse_{s}": (t == float(s)).astype(float)}
    if kind == "level":
        return {f"shock_level_{s}": (t >= float(s)).astype(float)}
    step = (t >= float(s)).astype(float)  # "break": the legacy extra interruption (level and slope)
    return {f"level_change_{s}": step, f"slope_change_{s}": (t - float(s)) * step}


def build_design(
    times: np.ndarray, interruptions: Sequence[Any], shocks: Sequence[Any] = (), shock_kind: str = "pulse"
) -> pd.DataFrame:
    """The segmented-regression design: intercept, time since the first period, a step and a
    slope-change column for each interruption (Wagner et al. 2002), then one column per common shock
    (``shock_kind`` "pulse": ``1[t = s]``; "level": ``1[t >= s]``; "break": a step and a slope change,
    the legacy treatment of a second interruption)."""
    t = np.asarray(times, dtype=float)
    cols: dict[str, np.ndarray] = {"baseline_level": np.ones_like(t), "baseline_slope": t - t.min()}
    for tk in interruptions:
        step = (t >= tk).astype(float)
        cols[f"level_change_{tk}"] = step
        cols[f"slope_change_{tk}"] = (t - float(tk)) * step
    for s in shocks:
        cols.update(_shock_columns(t, s, shock_kind))
    return pd.DataFrame(cols, index=pd.Index(times))


def _check_identified(times: np.ndarray, t1: Any, specs: list[tuple[Any, str]]) -> None:
    """Refuse reform/shock layouts whose terms cannot be told apart (UserInputError naming which)."""
    lo, hi = times.min(), times.max()
    if not (lo < t1 <= hi):
        raise UserInputError(
            f"segmented: interruption {t1!r} is outside the data (periods {lo} to {hi}); it needs observed "
            f"periods before and from it on."
        )
    n_pre = int((times < t1).sum())
    if n_pre < 3:
        raise UserInputError(
            f"segmented: only {n_pre} period(s) before the interruption at {t1}; at least 3 are needed to "
            f"estimate the baseline level and trend (Lopez Bernal et al. 2017 advise more)."
        )
    seen: set[Any] = set()
    for s, kind in specs:
        if s in seen or s == t1:
            what = "the reform period" if s == t1 else "another shock"
            raise UserInputError(
                f"segmented: shock {s!r} is in {what} ({t1 if s == t1 else s}); a shock term starting in the "
                f"reform period cannot be told apart from the reform's level change. Give a shock year other "
                f"than the reform year (and each shock once)."
            )
        seen.add(s)
        if kind == "pulse" and s not in set(times.tolist()):
            raise UserInputError(
                f"segmented: pulse shock {s!r} is not an observed period (periods {lo} to {hi}, non-missing "
                f"outcome); a one-period dummy for it would be all zero. Drop it from shocks."
            )
        if kind != "pulse" and not (lo < s <= hi):
            raise UserInputError(
                f"segmented: {kind} shock {s!r} is outside the data (periods {lo} to {hi}); a step needs "
                f"observed periods before and from it on."
            )
    pulses = {s for s, k in specs if k == "pulse"}
    steps = [s for s, k in specs if k != "pulse"]

    def free(mask: np.ndarray, start: Any) -> np.ndarray:
        # periods of a segment that no shock term touches: not a pulse year, before any later step
        cut = min([s for s in steps if s > start], default=np.inf)
        return times[mask & (times < cut) & ~np.isin(times, list(pulses))]

    pre_free = free(times < t1, lo - 1)
    if len(pre_free) < 2:
        raise UserInputError(
            f"segmented: only {len(pre_free)} period(s) before the reform at {t1} are free of the shock "
            f"terms {sorted(seen)}; at least 2 are needed to estimate the baseline level and slope. Move or "
            f"drop the shock, or use shock_kind='pulse'."
        )
    post_free = free(times >= t1, t1)
    if len(post_free) < 2:
        nearest = min(seen, key=lambda s: abs(s - t1)) if seen else None
        where = "the series end" if not seen or nearest is None else f"the shock at {nearest}"
        raise UserInputError(
            f"segmented: only {len(post_free)} period(s) from the reform at {t1} on are free of shock terms "
            f"(periods {lo} to {hi}); at least 2 are needed to estimate the reform's level and slope change "
            f"apart from {where}. The reform is too close to {where}: move or drop the shock, or use "
            f"shock_kind='pulse'."
        )
    for s, kind in specs:
        if kind == "break":
            nxt = min([b for b in steps if b > s], default=np.inf)
            n_seg = int(((times >= s) & (times < nxt)).sum())
            if n_seg < 2:
                raise UserInputError(
                    f"segmented: only {n_seg} period(s) in the segment starting at {s}; at least 2 are needed "
                    f"to estimate a level and a slope change there (too close to the series end or to the "
                    f"next interruption)."
                )


def _ar1_corr(n: int, rho: float) -> np.ndarray:
    return rho ** np.abs(np.subtract.outer(np.arange(n), np.arange(n)))


def prais_winsten(y: np.ndarray, X: np.ndarray, maxiter: int = 100, tol: float = 1e-10) -> tuple[Any, float, bool]:
    """Iterated Prais-Winsten (1954) feasible GLS with AR(1) errors, keeping the first period.

    Alternates (1) ``rho`` = the no-intercept regression of the residual ``e_t`` on ``e_{t-1}``
    (``sum e_t e_{t-1} / sum e_{t-1}^2``, residuals on the original scale; Stata's ``prais`` default), clipped
    to +/-0.999, and (2) statsmodels ``GLS`` with the AR(1) correlation matrix ``rho^|i-j|`` (the
    whitening ``P'P = Sigma^-1`` is the Prais-Winsten transform: first row scaled by ``sqrt(1 - rho^2)``,
    the others quasi-differenced), until rho changes by less than ``tol``. Returns (GLS results, rho,
    converged). The covariance is ``s^2 (X' Sigma^-1 X)^-1`` with ``s^2`` on ``n - k`` degrees of freedom
    (rho treated as known, as in every feasible GLS)."""
    n = len(y)
    res = OLS(y, X).fit()
    rho = 0.0
    converged = False
    for _ in range(maxiter):
        e = y - X @ np.asarray(res.params)
        den = float(e[:-1] @ e[:-1])
        new = float(np.clip(e[1:] @ e[:-1] / den, -RHO_MAX, RHO_MAX)) if den > 0 else 0.0
        res = GLS(y, X, sigma=_ar1_corr(n, new)).fit()
        if abs(new - rho) < tol:
            rho, converged = new, True
            break
        rho = new
    return res, rho, converged


def segmented(
    data: pd.DataFrame,
    outcome: str,
    time: str,
    interruption: Any,
    hac_lags: int | None = None,
    errors: str = "ols",
    *,
    shocks: Sequence[Any] | None = None,
    shock_kind: str = "pulse",
    alpha: float = 0.05,
    simulated: bool | None = None,
    method: str = "Segmented regression (ITS)",
) -> Segmented:
    """Interrupted time series by segmented regression (Wagner et al. 2002; Lopez Bernal et al. 2017).

    ``data``: one row per period with columns ``time`` and ``outcome`` (rows with a missing outcome are
    dropped). ``interruption``: the reform period; it gets a level change and a slope change.

    ``shocks``: periods of common shocks (e.g. ``[2020]``) that hit the series whether or not the reform
    happened. ``shock_kind="pulse"`` (default) adds a dummy for that period only, ``"level"`` a step from
    that period on. Shock terms are estimated jointly with the reform terms and kept in BOTH the fitted
    path and the counterfactual, so the counterfactual dips in the shock year like the fit.

    The counterfactual assumes: the pre-reform level and slope continue after the reform, and each shock
    moves the counterfactual and the observed path by the same amount. It is the fit with the reform's
    level and slope terms set to zero, so ``fitted - counterfactual`` is the reform effect ``c + d k``.

    Legacy: a list ``interruption=[reform, t2, ...]`` still works; the first is the reform, each later
    one is a "break" (its own level and slope change, the slope measured relative to the post-reform
    slope) that is kept in both paths. After such a break the counterfactual is NOT the pre-reform trend
    (its slope is the pre-reform slope plus the break's slope change); the result warns. Use
    ``shocks=[t2]`` instead.

    ``errors``: ``"ols"`` (Newey-West HAC, lags ``hac_lags`` or ``floor(4 (n/100)^(2/9))``), ``"ar1"``
    (statsmodels GLSAR: iterated Yule-Walker FGLS, first period dropped) or ``"prais"`` (iterated
    Prais-Winsten FGLS, first period kept). See the module docstring for the model and measured coverage.
    Refuses (UserInputError) a shock in the reform period, or one that leaves fewer than 2 post-reform
    (2 pre-reform) periods free of shock terms, since the reform's (baseline) level and slope are then
    not identified apart from the shock.
    """
    if not isinstance(data, pd.DataFrame):
        raise UserInputError(f"segmented: data must be a pandas DataFrame; got {type(data).__name__}.")
    missing = [c for c in (outcome, time) if c not in data.columns]
    if missing:
        raise UserInputError(
            f"segmented: the data has no column(s) {missing}; columns present: {list(data.columns)}."
        )
    if errors not in ("ols", "ar1", "prais"):
        raise UserInputError(
            f"segmented: errors must be 'ols' (Newey-West HAC), 'ar1' (GLSAR) or 'prais' (Prais-Winsten); "
            f"got {errors!r}."
        )
    if shock_kind not in ("pulse", "level"):
        raise UserInputError(
            f"segmented: shock_kind must be 'pulse' (a dummy for the shock period only) or 'level' (a step "
            f"from the shock period on); got {shock_kind!r}."
        )
    if data[time].duplicated().any():
        dup = data.loc[data[time].duplicated(), time].iloc[0]
        raise UserInputError(
            f"segmented: more than one row for {time}={dup!r}. Segmented regression takes one series (one "
            f"row per period); filter to one unit, or use comparative() for a treated-vs-control design."
        )
    d = data[[time, outcome]].copy()
    d[time] = numeric_time(d[time], time, "segmented")
    d[outcome] = pd.to_numeric(d[outcome], errors="coerce")
    notes: list[str] = []
    n_missing = int(d[outcome].isna().sum())
    d = d.dropna(subset=[outcome]).sort_values(time)
    if n_missing:
        notes.append(f"{n_missing} period(s) with a missing '{outcome}' dropped.")
    times = d[time].to_numpy()
    y = d[outcome].to_numpy(dtype=float)
    ints = [numeric_period(x, "interruption", "segmented") for x in _as_list(interruption)]
    if not ints:
        raise UserInputError("segmented: give at least one interruption period.")
    if len(set(ints)) != len(ints):
        raise UserInputError(f"segmented: interruption periods repeat: {ints}.")
    if len(times) == 0:
        raise UserInputError(f"segmented: no non-missing values of '{outcome}'.")
    shock_list = [] if shocks is None else _as_list(shocks)
    t1 = ints[0]
    if any(tk < t1 for tk in ints[1:]):
        raise UserInputError(
            f"segmented: the first interruption listed ({t1}) is the reform and later ones are breaks after "
            f"it; got {ints}. List the reform first, or give shocks=[...]."
        )
    specs = [(tk, "break") for tk in ints[1:]] + [(s, shock_kind) for s in shock_list]
    _check_identified(times, t1, specs)
    if np.ptp(y) == 0:
        raise UserInputError(
            f"segmented: '{outcome}' is constant ({y[0]}) over all periods, so there is no change to estimate."
        )
    X = build_design(times, [t1])
    for s, kind in specs:
        for nm, col in _shock_columns(np.asarray(times, dtype=float), s, kind).items():
            X[nm] = col
    n, p = X.shape
    if n - p < 1:
        raise UserInputError(f"segmented: {n} periods are too few for {p} coefficients.")
    if np.linalg.matrix_rank(X.to_numpy()) < p:
        raise UserInputError(
            f"segmented: the reform at {t1} and the shocks {[s for s, _ in specs]} give collinear terms "
            f"(columns {list(X.columns)}); they cannot all be estimated. Drop or move a shock."
        )

    lags: int | None = None
    rho: float | None = None
    if errors == "ols":
        lags = newey_west_lags(n) if hac_lags is None else int(hac_lags)
        if lags < 0:
            raise UserInputError(f"segmented: hac_lags must be a non-negative integer; got {hac_lags!r}.")
        res = OLS(y, X.to_numpy()).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True}, use_t=True)
        inference = f"OLS, Newey-West HAC se ({lags} lag{'s' if lags != 1 else ''}), t({int(res.df_resid)})"
    else:
        if np.any(np.diff(times.astype(float)) != np.diff(times.astype(float))[0]):
            raise UserInputError(
                f"segmented(errors='{errors}'): the periods are not equally spaced (a missing year?); AR(1) "
                f"errors assume consecutive periods. Fill the gap or use errors='ols'."
            )
        if errors == "ar1":
            model = GLSAR(y, X.to_numpy(), rho=1)
            res = model.iterative_fit(maxiter=100, rtol=1e-8)
            rho = float(np.ravel(model.rho)[0])
            inference = (
                f"AR(1) errors by iterated Yule-Walker feasible GLS (statsmodels GLSAR, first period "
                f"dropped), rho = {rho:.3f}, t({int(res.df_resid)})"
            )
        else:
            res, rho, conv = prais_winsten(y, X.to_numpy())
            inference = (
                f"AR(1) errors by iterated Prais-Winsten feasible GLS (first period kept), rho = {rho:.3f}, "
                f"t({int(res.df_resid)})"
            )
            if not conv:
                notes.append("Prais-Winsten iterations did not converge in 100 steps; the last step is shown.")
        notes.append(
            "AR(1) feasible GLS intervals are too narrow in short series because the estimated rho is "
            "biased towards zero (see the coverage table in primarycare.methods.trends)."
        )
        if abs(rho) >= 0.99:
            notes.append(
                f"Estimated AR(1) coefficient {rho:.3f} is near 1: the series may be non-stationary."
            )
    if n < 12:
        notes.append(f"Only {n} periods: segmented-regression inference is fragile in short series.")
    breaks = list(ints[1:])
    if breaks:
        notes.append(
            f"Break(s) at {breaks} have their own level and slope terms, kept in both the fitted and the "
            f"counterfactual path: after them the counterfactual is not the pre-reform trend (its slope is "
            f"the pre-reform slope plus the break's slope change). Use shocks={breaks} (pulse or level) for a "
            f"counterfactual that continues the pre-reform trend."
        )

    names = list(X.columns)
    params = np.asarray(res.params)
    coef_rows = []
    for i, nm in enumerate(names):
        e = np.zeros(p)
        e[i] = 1.0
        coef_rows.append({"term": nm, **vars(_lincom(res, e, alpha))})
    coefs = pd.DataFrame(coef_rows).set_index("term")

    def coef(nm: str) -> Coefficient:
        return Coefficient(**coefs.loc[nm].to_dict())

    idx = pd.Index(times, name=time)
    fitted = X.to_numpy() @ params
    # counterfactual: the fit without the reform's level and slope terms (shock and break terms kept)
    Xc = X.copy()
    Xc[f"level_change_{t1}"] = 0.0
    Xc[f"slope_change_{t1}"] = 0.0
    Xc = Xc.loc[times >= t1].to_numpy()
    cov = np.asarray(res.cov_params())
    cf_est = Xc @ params
    cf_se = np.sqrt(np.einsum("ij,jk,ik->i", Xc, cov, Xc))
    crit = stats.t.ppf(1 - alpha / 2, res.df_resid)
    cf = pd.DataFrame(
        {"estimate": cf_est, "se": cf_se, "ci_low": cf_est - crit * cf_se, "ci_high": cf_est + crit * cf_se},
        index=pd.Index(times[times >= t1], name=time),
    )
    assumes = f"pre-{t1} level and slope continue after {t1}"
    if shock_list:
        assumes += (
            f"; the {shock_kind} shock(s) at {', '.join(map(str, shock_list))} move the counterfactual and the "
            f"fitted path by the same estimated amount"
        )
    if breaks:
        assumes += (
            f"; the break(s) at {', '.join(map(str, breaks))} (level and slope change) are added to both paths, "
            f"so after them the counterfactual is not the pre-{t1} trend"
        )
    if simulated is None:
        simulated = _is_simulated(data, outcome)
    out = Segmented(
        method=method,
        outcome=outcome,
        estimate=float("nan"),
        n_obs=int(n),
        alpha=alpha,
        inference=inference,
        warnings=notes,
        level_change=coef(f"level_change_{t1}"),
        slope_change=coef(f"slope_change_{t1}"),
        baseline_level=coef("baseline_level"),
        baseline_slope=coef("baseline_slope"),
        coefficients=coefs,
        interruptions=ints,
        shocks=list(shock_list),
        shock_kind=shock_kind,
        counterfactual_assumes=assumes,
        observed=pd.Series(y, index=idx, name=outcome),
        fitted=pd.Series(fitted, index=idx, name="fitted"),
        counterfactual=cf,
        design=X,
        errors=errors,
        hac_lags=lags,
        rho=rho,
        simulated=bool(simulated),
        _res=res,
    )
    last = out.effect_at(times.max() - t1)
    out.estimate, out.se, out.ci_low, out.ci_high, out.p_value = (
        last.estimate,
        last.se,
        last.ci_low,
        last.ci_high,
        last.p_value,
    )
    out.extra = {
        "interruption": str(t1),
        "level_change": out.level_change.estimate,
        "slope_change": out.slope_change.estimate,
        "estimate_is": f"effect in {times.max()} ({times.max() - t1} periods after {t1})",
        "counterfactual": assumes,
    }
    if shock_list:
        out.extra["shocks"] = f"{shock_kind} at {', '.join(map(str, shock_list))}"
    return out


def comparative(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treated_unit: Any,
    interruption: Any,
    controls: Sequence[Any] | None = None,
    *,
    hac_lags: int | None = None,
    errors: str = "ols",
    shocks: Sequence[Any] | None = None,
    shock_kind: str = "pulse",
    alpha: float = 0.05,
    simulated: bool | None = None,
) -> Segmented:
    """Comparative interrupted time series (Lopez Bernal, Cummins and Gasparrini 2018): segmented
    regression of the treated unit's series minus the mean of the control units' series, so shocks
    common to treated and controls cancel. ``controls`` defaults to every other unit; periods where
    the treated unit or every control is missing are dropped."""
    for c in (outcome, unit, time):
        if c not in data.columns:
            raise UserInputError(f"comparative: the data has no column '{c}'; columns: {list(data.columns)}.")
    if data.duplicated([unit, time]).any():
        raise UserInputError(
            f"comparative: more than one row per {unit} and {time}; filter the data to one indicator."
        )
    units = set(pd.unique(data[unit]))
    if treated_unit not in units:
        raise UserInputError(f"comparative: treated unit {treated_unit!r} is not in column '{unit}'.")
    ctrl = [u for u in pd.unique(data[unit]) if u != treated_unit] if controls is None else list(controls)
    unknown = [c for c in ctrl if c not in units]
    if unknown:
        raise UserInputError(f"comparative: control unit(s) {unknown} are not in column '{unit}'.")
    ctrl = [c for c in ctrl if c != treated_unit]
    if not ctrl:
        raise UserInputError(
            "comparative: no control units; give at least one unit other than the treated one."
        )
    wide = data.pivot(index=time, columns=unit, values=outcome).apply(pd.to_numeric, errors="coerce")
    diff = (wide[treated_unit] - wide[ctrl].mean(axis=1)).dropna()
    series = pd.DataFrame({time: diff.index.to_numpy(), outcome: diff.to_numpy()})
    if simulated is None:
        simulated = _is_simulated(data, outcome, data[unit].isin([treated_unit, *ctrl]))
    res = segmented(
        series,
        outcome,
        time,
        interruption,
        hac_lags=hac_lags,
        errors=errors,
        shocks=shocks,
        shock_kind=shock_kind,
        alpha=alpha,
        simulated=simulated,
        method="Comparative ITS (treated minus control mean)",
    )
    res.extra = {**res.extra, "treated_unit": str(treated_unit), "controls": len(ctrl)}
    return res
