"""A placebo (permutation) p-value for the event study's joint pre-trend statistic.

Why: the joint F-test of the pre-reform event-study coefficients uses cluster-robust (CRV1) errors.
With one treated province the lead coefficients are identified from a single cluster, whose CRV1
variance is badly underestimated, so the F-test rejects parallel pre-trends far too often even when
there is no pre-trend (Conley and Taber 2011; MacKinnon and Webb 2017). Following Conley and Taber's
reasoning, we keep the statistic but get its null distribution from the comparison units: the same
statistic is recomputed with each comparison unit as the pseudo-treated unit (given the treated unit's
reform timing), and the real statistic is ranked among them. The permutations are done by
:func:`primarycare.inference.randomization_test`, so the p-value is exact when all assignments are
enumerated (one treated unit: one assignment per unit).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import UserInputError
from .results import Estimate


@dataclass
class PretrendPlacebo(Estimate):
    """The pre-trend statistic with both p-values.

    ``estimate`` is the joint F statistic of the pre-reform coefficients; ``f_p_value`` its CRV1 F-test
    p-value; ``p_value`` the placebo p-value (share of assignments, the real one included, whose
    statistic is at least the real one); ``distribution`` the placebo statistics; ``n_treated_units``
    the number of treated units (the placebo p-value is the one to read when it is below 2).
    """

    f_p_value: float = float("nan")
    distribution: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)
    n_assignments: int = 0
    n_treated_units: int = 0

    @property
    def prefer_placebo(self) -> bool:
        """True when the CRV1 F-test is unreliable (fewer than 2 treated units)."""
        return self.n_treated_units < 2


def _pretrend_stat(data: pd.DataFrame, outcome: str, unit: str, time: str, first_treated: str,
                   window: tuple[int, int], reference: int, cluster: str | None) -> Estimate:
    """The event study's joint pre-trend F statistic as an :class:`Estimate` (for the permutation test)."""
    from . import did

    r = did.event_study(data, outcome, unit, time, first_treated, window=window, reference=reference,
                        method="twfe", cluster=cluster)
    pt = r.pretrend or {}
    return Estimate(method="Event-study pre-trend F statistic", outcome=outcome,
                    estimate=float(pt.get("statistic", float("nan"))), p_value=float(pt.get("p_value", float("nan"))),
                    n_obs=r.n_obs, inference=r.inference, warnings=list(r.warnings))


def pretrend_placebo(data: pd.DataFrame, outcome: str, unit: str, time: str, first_treated: str,
                     treatment: str, treated_units: list, window: tuple[int, int] = (-5, 5),
                     reference: int = -1, cluster: str | None = None, n_permutations: int | None = None,
                     seed: int = 0) -> PretrendPlacebo:
    """Joint pre-trend F statistic (TWFE event study) with its CRV1 p-value and a placebo p-value.

    The placebo p-value (Conley and Taber 2011-style; Fisher randomization inference as in
    :func:`primarycare.inference.randomization_test`) ranks the real statistic among the statistics
    obtained when the treated units' reform paths are given to comparison units instead; with one
    treated unit and N comparison units there are N + 1 assignments and the smallest p-value is
    1 / (N + 1). ``data`` needs ``treatment`` (0/1) and ``first_treated`` (reform year, 0 = never).
    """
    from . import inference

    if first_treated not in data.columns or treatment not in data.columns:
        raise UserInputError(f"pretrend_placebo: the data need the columns {first_treated!r} (first treated "
                             f"period, 0 = never) and {treatment!r} (0/1 treated indicator).")
    stat = functools.partial(_pretrend_stat, outcome=outcome, unit=unit, time=time, first_treated=first_treated,
                             window=window, reference=reference, cluster=cluster)
    observed = stat(data)
    if not np.isfinite(observed.estimate):
        raise UserInputError(f"pretrend_placebo: the event study of {outcome!r} has no pre-reform "
                             f"coefficients to test in window {window}.")
    rt = inference.randomization_test(stat, data, unit, list(treated_units), treatment,
                                      n_permutations=n_permutations, seed=seed, time=time,
                                      first_treated=first_treated, ci=False, progress=False)
    k = len(list(treated_units))
    return PretrendPlacebo(
        method="Pre-trend test (placebo p-value)", outcome=outcome, estimate=observed.estimate,
        p_value=float(rt.p_value), n_obs=observed.n_obs,
        inference=(f"joint F of the pre-reform event-study coefficients; placebo p-value from "
                   f"{rt.n_assignments} assignments of the reform to units (Conley and Taber 2011 style); "
                   f"CRV1 F-test p-value {observed.p_value:.3g}"),
        warnings=list(rt.warnings), f_p_value=observed.p_value,
        distribution=np.asarray(rt.distribution, dtype=float), n_assignments=int(rt.n_assignments),
        n_treated_units=k,
    )


@dataclass
class EventStudyPlacebo(Estimate):
    """An event study of one (or a few) treated units with placebo bands (Conley and Taber 2011).

    ``estimate`` is the post-reform average of the event-study coefficients; ``ci_low``/``ci_high`` its
    placebo interval. ``table`` has one row per event time: ``estimate``, the CRV1 ``se`` (model-based,
    shown for reference only), ``band_low``/``band_high`` (placebo band) and ``placebo_p`` (the share of
    placebo runs, the real one included, with a coefficient at least as large in absolute value).
    ``f_statistic`` is the joint pre-period Wald F statistic, ``f_p_value`` its CRV1 p-value and
    ``p_value`` the placebo p-value of the joint pre-period test: the rank of the cluster-robust Wald
    statistic (no small-sample factor, so every run is on one scale) among the placebo runs.
    ``placebo_coefs`` holds the placebo coefficients (one row per placebo unit).
    """

    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    f_statistic: float = float("nan")
    f_p_value: float = float("nan")
    n_placebos: int = 0
    placebo_coefs: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    vcov: np.ndarray | None = field(default=None, repr=False)
    pre_times: tuple[int, ...] = ()
    post_times: tuple[int, ...] = ()

    @property
    def prefer_placebo(self) -> bool:
        return True


def _placebo_interval(b: float, placebo: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """Test inversion with the placebo values as the null distribution of |b - tau|.

    p(tau) = (1 + #{|placebo| >= |b - tau|}) / (1 + m); the kept set {tau: p(tau) > alpha} is
    b +/- the r-th largest |placebo| with r = floor(alpha (1 + m) - 1) + 1; unbounded when r < 1 (too
    few placebo units for the level). Returns (low, high, p-value of tau = 0).
    """
    a = np.sort(np.abs(placebo[np.isfinite(placebo)]))[::-1]
    m = len(a)
    p0 = float((1 + np.count_nonzero(a >= abs(b) - 1e-12 * max(1.0, abs(b)))) / (1 + m))
    r = math.floor(alpha * (1 + m) - 1) + 1
    if m == 0 or r < 1:
        return -math.inf, math.inf, p0
    c = float(a[min(r, m) - 1])
    return b - c, b + c, p0


def _es_fast(d: pd.DataFrame, outcome: str, unit: str, time: str, first_treated: str, lo: int, hi: int,
             reference: int, assign: list | None = None, year: float | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """TWFE event-study coefficients (endpoints binned into the end bins, ``reference`` omitted), their
    post-reform average (weights: treated observations per event time) and the joint Wald statistic of the
    pre-reform coefficients with a cluster-robust (by unit) meat and no small-sample factor.

    The same regression as :func:`primarycare.did.event_study` (``method="twfe"``), by the
    Frisch-Waugh-Lovell theorem: the dummies and the outcome are residualised on the two-way fixed effects
    (:class:`~primarycare.methods._fe.TwoWay`), then one small least-squares problem; the coefficients
    equal ``event_study``'s (tested). With ``assign`` (a list of units) it is run once per unit, each in turn
    given the reform in ``year`` and every other unit untreated; the fixed-effect projection of the outcome
    is shared, so hundreds of placebo runs cost little. Without ``assign`` the data's ``first_treated``
    column is used (one run).

    Returns ``(times, coefs, post_avg, wald)``: the event times ``lo..hi`` and, one row per run, the
    coefficients over them (``reference`` = 0, NaN where a run has no observation at that time), the
    post-reform averages and the Wald statistics.
    """
    from ._fe import TwoWay

    d = d.dropna(subset=[outcome])
    tw = TwoWay.from_frame(d, unit, time)
    t = pd.to_numeric(d[time]).to_numpy(float)
    yd = tw.demean(d[outcome].to_numpy(float))
    times = np.arange(lo, hi + 1)
    ks_all = times[times != reference]
    units = d[unit].to_numpy()
    runs = [pd.to_numeric(d[first_treated]).to_numpy(float)] if assign is None else \
        [np.where(units == j, float(year), 0.0) for j in assign]
    coefs = np.full((len(runs), len(times)), np.nan)
    coefs[:, times == reference] = 0.0
    posts, walds = np.full(len(runs), np.nan), np.full(len(runs), np.nan)
    for r, g in enumerate(runs):
        rel = np.where(g > 0, np.clip(t - g, lo, hi), np.nan)
        X = (rel[:, None] == ks_all[None, :]).astype(float)
        counts = X.sum(axis=0)
        keep = counts > 0
        ks = ks_all[keep]
        Xd = tw.demean(X[:, keep])
        b, *_ = np.linalg.lstsq(Xd, yd, rcond=None)
        u = yd - Xd @ b
        A_inv = np.linalg.pinv(Xd.T @ Xd)
        scores = np.zeros((tw.n_units, Xd.shape[1]))
        np.add.at(scores, tw.unit_codes, Xd * u[:, None])
        V = A_inv @ (scores.T @ scores) @ A_inv
        coefs[r, np.searchsorted(times, ks)] = b
        pre = ks < 0
        if pre.any():
            walds[r] = float(b[pre] @ np.linalg.pinv(V[np.ix_(pre, pre)]) @ b[pre])
        w = counts[keep][~pre]
        if len(w) and w.sum() > 0:
            posts[r] = float(w @ b[~pre] / w.sum())
    return times, coefs, posts, walds


def event_study_placebo(data: pd.DataFrame, outcome: str, unit: str, time: str, first_treated: str,
                        treated_units: list, window: tuple[int, int] = (-5, 5), reference: int = -1,
                        alpha: float = 0.05) -> EventStudyPlacebo:
    """TWFE event study of the treated unit(s) with placebo bands and a placebo pre-trend p-value.

    Why: with one treated province the CRV1 standard errors of the event-study coefficients rest on one
    cluster and are far too small (Conley and Taber 2011; MacKinnon and Webb 2017). Following Conley and
    Taber (2011), the null distribution of each coefficient comes from the comparison units: the same
    event study is re-estimated with each comparison unit in turn given the treated unit's reform year,
    on the comparison units only (the really treated unit is left out, so its effect cannot leak into
    the placebo runs). The band of event time k is the set of constant effects tau_k not rejected at
    ``alpha`` when |b_k - tau_k| is ranked among the placebo |b_k| (the real run included in the count),
    which is b_k +/- the appropriate order statistic of the placebo |b_k|. The post-reform average and
    the joint pre-period F statistic are treated the same way. Valid when the comparison units' paths
    are exchangeable with the treated unit's absent the reform (parallel trends and similar noise).
    """
    from . import did

    treated_units = list(treated_units)
    if first_treated not in data.columns:
        raise UserInputError(f"event_study_placebo: the data need the column {first_treated!r} (first treated "
                             "period, 0 = never).")
    units = list(dict.fromkeys(data[unit]))
    missing = [u for u in treated_units if u not in units]
    if missing:
        raise UserInputError(f"event_study_placebo: treated unit(s) {missing} are not in the {unit!r} column.")
    years = {u: int(data.loc[data[unit] == u, first_treated].iloc[0]) for u in treated_units}
    if len(set(years.values())) != 1:
        raise UserInputError("event_study_placebo: the treated units must share one reform year (a block design); "
                             f"got {years}.")
    year = next(iter(years.values()))

    res = did.event_study(data, outcome, unit, time, first_treated, window=window, reference=reference,
                          method="twfe", cluster=unit)
    pt = res.pretrend or {}
    f_stat, f_p = float(pt.get("statistic", np.nan)), float(pt.get("p_value", np.nan))
    lo_w, hi_w = int(window[0]), int(window[1])
    _, _, (post,), (w_obs,) = _es_fast(data, outcome, unit, time, first_treated, lo_w, hi_w, reference)
    donors = [u for u in units if u not in treated_units]
    if not donors:
        raise UserInputError("event_study_placebo: no comparison unit could carry the placebo reform.")
    base = data[data[unit].isin(donors)]
    times, coefs, posts, fs = _es_fast(base, outcome, unit, time, first_treated, lo_w, hi_w, reference,
                                       assign=donors, year=year)
    pc = pd.DataFrame(coefs, index=pd.Index(donors), columns=pd.Index(times.tolist()))
    pc = pc.loc[:, pc.notna().any(axis=0)]  # event times that no placebo run has
    table = res.table[["rel_time", "estimate", "se", "reference"]].copy()
    low, high, pp = [], [], []
    for k, b in zip(table["rel_time"], table["estimate"], strict=True):
        if k == reference:
            low.append(np.nan), high.append(np.nan), pp.append(np.nan)
            continue
        lo_k, hi_k, p_k = _placebo_interval(float(b), pc[k].to_numpy(float), alpha)
        low.append(lo_k), high.append(hi_k), pp.append(p_k)
    table["band_low"], table["band_high"], table["placebo_p"] = low, high, pp
    p_lo, p_hi, p_post = _placebo_interval(post, np.asarray(posts) - 0.0, alpha)
    fs_arr = np.asarray(fs, dtype=float)
    f_placebo = float((1 + np.count_nonzero(fs_arr >= w_obs - 1e-12 * max(1.0, abs(w_obs)))) / (1 + len(fs_arr)))
    pre = tuple(int(k) for k in table["rel_time"] if k < 0 and k != reference)
    postk = tuple(int(k) for k in table["rel_time"] if k >= 0)
    warn = []
    if 1.0 / (1 + len(fs_arr)) > alpha:
        warn.append(f"only {len(fs_arr)} placebo units: the smallest attainable p-value is "
                    f"{1 / (1 + len(fs_arr)):.3f} > {alpha}, so the bands are unbounded.")
    return EventStudyPlacebo(
        method="Event study (TWFE leads and lags)", outcome=outcome, estimate=post, ci_low=p_lo, ci_high=p_hi,
        p_value=f_placebo, n_obs=res.n_obs, alpha=alpha,
        inference=(f"placebo bands (Conley and Taber 2011): {len(fs_arr)} comparison units each given the "
                   "reform in turn, the treated unit left out of the placebo runs"),
        warnings=warn, extra={"post_p_value": p_post}, table=table, f_statistic=f_stat, f_p_value=f_p,
        n_placebos=len(fs_arr), placebo_coefs=pc, vcov=res.vcov, pre_times=pre, post_times=postk,
    )
