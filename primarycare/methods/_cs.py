"""Callaway and Sant'Anna (2021) group-time average treatment effects and their aggregations.

ATT(g, t) for cohort g (first treated period) and period t is the 2x2 DiD of mean outcome changes
between period t and a base period for cohort g versus a comparison group (outcome regression without
covariates, which is the difference of mean changes). Base period: ``"varying"``: g - 1 - anticipation
for post periods and t - 1 for pre periods; ``"universal"``: g - 1 - anticipation for all t.
Comparison: ``"never"`` (never-treated units) or ``"not_yet"`` (never treated or first treated after
max(t, base) + anticipation, excluding cohort g).

Conventions of R ``did`` (Callaway and Sant'Anna 2021), followed here and checked against its Python
port ``moderndid``: units first treated after the last sample period are never treated within the
sample and count as never treated (as in fixest and this library's Bacon decomposition and imputation
event study); units treated in the first period (or earlier) have no pre-period and are dropped, with a
warning. Panel: ``panel="balanced"`` (the default, as R ``did``) keeps only units observed in every
period and says in a warning how many units were dropped; ``panel="unbalanced_pairs"`` keeps every unit
and computes each 2x2 on the units observed in both of its periods (more data, but the comparison group
then changes from cell to cell; this is not R's ``allow_unbalanced_panel``, which switches to a
repeated cross-section estimator).

Standard errors from the analytic influence function (Callaway and Sant'Anna 2021, sec. 4; as in R
``did``): for unit i, IF_i = n/n_g 1{G_i=g}(dY_i - mean_g) - n/n_c 1{C_i}(dY_i - mean_c) and
se = sqrt(sum IF_i^2)/n with n the number of units. Aggregations weight ATT(g, t) by cohort sizes and
include the influence of the estimated weights (R ``did::aggte``). Uniform bands for the dynamic
aggregation use a multiplier bootstrap with Mammen (1993) weights: the critical value is the
1 - alpha quantile of max_e |bootstrap deviation_e / se_e| (seeded, hence reproducible).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import UserInputError
from . import _prep
from .results import Estimate


@dataclass
class CSAggregate(Estimate):
    """An aggregation of ATT(g, t): the overall ``estimate`` and a ``table`` by event time, cohort or
    period (with uniform-band columns ``band_low``/``band_high`` for ``"dynamic"``)."""

    kind: str = ""
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    critical_value: float = float("nan")

    def summary(self) -> str:
        return super().summary() + "\n" + self.table.to_string(index=False, float_format=lambda x: f"{x:.4f}")


@dataclass
class CSResult(Estimate):
    """Callaway-Sant'Anna result: ``attgt`` table and ``aggregate(kind)``; ``estimate`` is the simple
    aggregation (average post-treatment ATT(g, t), weighted by cohort size)."""

    attgt: pd.DataFrame = field(default_factory=pd.DataFrame)
    inf_func: np.ndarray | None = field(default=None, repr=False)
    unit_groups: np.ndarray | None = field(default=None, repr=False)
    anticipation: int = 0
    seed: int = 0

    def summary(self) -> str:
        return super().summary() + "\n" + self.attgt.to_string(index=False, float_format=lambda x: f"{x:.4f}")

    def aggregate(self, kind: str = "simple", alpha: float | None = None, n_boot: int = 999,
                  seed: int | None = None) -> CSAggregate:
        """Aggregate ATT(g, t): ``"simple"``, ``"dynamic"`` (event time), ``"group"`` or ``"calendar"``."""
        return _aggregate(self, kind, self.alpha if alpha is None else alpha, n_boot,
                          self.seed if seed is None else seed)


def callaway_santanna(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    control: str = "never",
    anticipation: int = 0,
    base_period: str = "varying",
    *,
    panel: str = "balanced",
    alpha: float = 0.05,
    seed: int = 0,
) -> CSResult:
    """Callaway and Sant'Anna (2021) ATT(g, t) by outcome regression without covariates (see module doc).

    ``first_treated`` is the first treated period (missing or 0 = never treated). Cohorts or cells with
    no valid comparison group or no base period are listed in a warning and left out; if nothing can be
    estimated a :class:`~primarycare.errors.UserInputError` says why. Periods must be integers (years;
    text such as "2015" is converted). ``panel``: ``"balanced"`` (default, R ``did``: units observed in
    every period) or ``"unbalanced_pairs"`` (each 2x2 uses the units observed in both of its periods); see
    the module docstring, also for units first treated after the sample (never treated) or before it.
    """
    where = "did.callaway_santanna"
    if control not in ("never", "not_yet"):
        raise UserInputError(f"{where}: control must be 'never' or 'not_yet', got {control!r}.")
    if base_period not in ("varying", "universal"):
        raise UserInputError(f"{where}: base_period must be 'varying' or 'universal', got {base_period!r}.")
    if int(anticipation) != anticipation or anticipation < 0:
        raise UserInputError(f"{where}: anticipation must be a non-negative integer, got {anticipation!r}.")
    if panel not in ("balanced", "unbalanced_pairs"):
        raise UserInputError(f"{where}: panel must be 'balanced' (units observed in every period, as R did) "
                             f"or 'unbalanced_pairs' (units observed in both periods of each 2x2), got {panel!r}.")
    d, g_row, Y = _prep.staggered_wide(data, outcome, unit, time, first_treated, where)
    G = g_row.groupby(d[unit]).first().reindex(Y.index).to_numpy()
    times = np.array(Y.columns, dtype=float)
    warn: list[str] = []
    n_late = int((G > times.max()).sum())
    G = np.where(G > times.max(), 0.0, G)  # first treated after the sample: never treated in-sample
    keep = ~((G > 0) & (G <= times.min()))
    if not keep.all():
        warn.append(f"{int((~keep).sum())} unit(s) treated in the first period ({times.min():g}) or earlier "
                    f"have no pre-period and were dropped: {list(Y.index[~keep])[:10]}")
    if panel == "balanced":
        full = Y.notna().all(axis=1).to_numpy()
        if not full[keep].all():
            warn.append(f"unbalanced panel: {int((keep & ~full).sum())} of {int(keep.sum())} units are not observed "
                        f"in all {len(times)} periods and were dropped (balanced panel, the R did default); "
                        "panel='unbalanced_pairs' keeps them and uses, for each ATT(g, t), the units observed "
                        "in both of its periods")
        keep = keep & full
    Y, G = Y.loc[keep], G[keep]
    Yv = Y.to_numpy()
    n = Yv.shape[0]
    if n == 0:
        raise UserInputError(f"{where}: no unit left: " + "; ".join(warn))
    tpos = {t: i for i, t in enumerate(times)}
    cohorts = sorted(g for g in np.unique(G) if g > 0)
    if not cohorts:
        raise UserInputError(f"{where}: no unit is treated within the sample (first-treated values all "
                             "missing, 0, or after the last period).")
    if control == "never" and not (G == 0).any():
        raise UserInputError(
            f"{where}: control='never' needs never-treated units, and every unit in {first_treated!r} is "
            "eventually treated. Use control='not_yet' (comparison with units not yet treated)."
        )
    rows, IF = [], []
    skipped: list[str] = []
    for g in cohorts:
        treat = G == g
        base_post = g - 1 - anticipation
        if base_post not in tpos:
            skipped.append(f"cohort {g:g}: no base period {base_post:g} in the data (first treated {g:g} "
                           f"with anticipation {anticipation})")
            continue
        for t in times:
            if base_period == "varying":
                b = base_post if t >= g - anticipation else t - 1
            else:
                b = base_post
            if b not in tpos:
                continue
            if t == b:  # universal base: the reference cell, 0 by construction (kept, as R did does)
                rows.append({"cohort": g, "time": t, "base_period": b, "rel_time": t - g, "att": 0.0,
                             "n_treated": int((treat & np.isfinite(Yv[:, tpos[t]])).sum()), "n_control": 0})
                IF.append(np.zeros(n))
                continue
            if control == "never":
                ctrl = G == 0
            else:
                ctrl = (G == 0) | ((G > max(t, b) + anticipation) & (G != g))
            dY = Yv[:, tpos[t]] - Yv[:, tpos[b]]
            ok = np.isfinite(dY)
            tr, co = treat & ok, ctrl & ok
            if tr.sum() == 0 or co.sum() == 0:
                skipped.append(f"cohort {g:g}, period {t:g}: "
                               + ("no comparison units" if co.sum() == 0 else "no treated unit observed"))
                continue
            mg, mc = dY[tr].mean(), dY[co].mean()
            inf = np.zeros(n)
            inf[tr] = n / tr.sum() * (dY[tr] - mg)
            inf[co] -= n / co.sum() * (dY[co] - mc)
            rows.append({"cohort": g, "time": t, "base_period": b, "rel_time": t - g, "att": mg - mc,
                         "n_treated": int(tr.sum()), "n_control": int(co.sum())})
            IF.append(inf)
    if not rows:
        raise UserInputError(f"{where}: no ATT(g, t) can be estimated: " + "; ".join(skipped))
    tab = pd.DataFrame(rows)
    IFm = np.column_stack(IF)
    se = np.sqrt((IFm**2).sum(axis=0)) / n
    z = stats.norm.ppf(1 - alpha / 2)
    tab["se"] = se
    tab["ci_low"] = tab["att"] - z * se
    tab["ci_high"] = tab["att"] + z * se
    if skipped:
        warn.append("ATT(g, t) not estimable and left out: " + "; ".join(skipped))
    n_treated_units = int((G > 0).sum())
    if n_treated_units < 2:
        warn.append("one treated unit: influence-function standard errors rest on a single unit's "
                    "deviations and are not reliable; use primarycare.inference.randomization_test.")
    res = CSResult(
        method="Callaway-Sant'Anna (2021)", outcome=outcome, estimate=float("nan"),
        n_obs=int(np.isfinite(Yv).sum()),
        alpha=alpha, inference=f"analytic influence function ({n} units), normal approximation",
        warnings=warn, extra={"control": control, "base_period": base_period, "anticipation": anticipation,
                              "panel": panel, "n_units": n, "n_first_treated_after_sample": n_late},
        attgt=tab, inf_func=IFm, unit_groups=G, anticipation=int(anticipation), seed=seed,
    )
    simple = res.aggregate("simple")
    res.estimate, res.se, res.ci_low, res.ci_high, res.p_value = (
        simple.estimate, simple.se, simple.ci_low, simple.ci_high, simple.p_value)
    return res


def _wif(keep: np.ndarray, pg: np.ndarray, G: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Influence of estimated cohort-share weights (R did: wif): n x len(keep)."""
    s = pg[keep].sum()
    ind = np.column_stack([(G == groups[k]).astype(float) - pg[k] for k in keep])
    if1 = ind / s
    if2 = ind.sum(axis=1, keepdims=True) @ (pg[keep] / s**2)[None, :]
    return if1 - if2


def _combine(res: CSResult, keep: np.ndarray, pg: np.ndarray, with_wif: bool) -> tuple[float, np.ndarray]:
    att = res.attgt["att"].to_numpy()
    w = pg[keep] / pg[keep].sum()
    est = float(w @ att[keep])
    inf = res.inf_func[:, keep] @ w
    if with_wif:
        inf = inf + _wif(keep, pg, res.unit_groups, res.attgt["cohort"].to_numpy()) @ att[keep]
    return est, inf


def _aggregate(res: CSResult, kind: str, alpha: float, n_boot: int, seed: int) -> CSAggregate:
    if kind not in ("simple", "dynamic", "group", "calendar"):
        raise UserInputError(f"aggregate: kind must be 'simple', 'dynamic', 'group' or 'calendar', got {kind!r}.")
    tab = res.attgt
    G = res.unit_groups
    n = len(G)
    pg = np.array([np.mean(G == g) for g in tab["cohort"]])
    post = (tab["time"] >= tab["cohort"]).to_numpy()
    z = stats.norm.ppf(1 - alpha / 2)
    rows: list[dict[str, Any]] = []
    infs: list[np.ndarray] = []

    def se_of(inf: np.ndarray) -> float:
        return float(np.sqrt((inf**2).sum()) / n)

    if kind == "simple":
        keep = np.flatnonzero(post)
        if keep.size == 0:
            raise UserInputError("aggregate: no post-treatment ATT(g, t) to aggregate.")
        est, inf = _combine(res, keep, pg, True)
        overall_se = se_of(inf)
    elif kind == "dynamic":
        e_all = tab["rel_time"].to_numpy()
        for e in np.unique(e_all):
            keep = np.flatnonzero(e_all == e)
            th, inf = _combine(res, keep, pg, True)
            rows.append({"rel_time": int(e), "estimate": th})
            infs.append(inf)
        post_idx = [i for i, r in enumerate(rows) if r["rel_time"] >= 0]
        if not post_idx:
            raise UserInputError("aggregate: no post-treatment event time to aggregate.")
        est = float(np.mean([rows[i]["estimate"] for i in post_idx]))
        overall_se = se_of(np.mean([infs[i] for i in post_idx], axis=0))
    elif kind == "group":
        gs = np.unique(tab["cohort"][post])
        for g in gs:
            keep = np.flatnonzero(post & (tab["cohort"] == g).to_numpy())
            rows.append({"cohort": g, "estimate": float(tab["att"].to_numpy()[keep].mean())})
            infs.append(res.inf_func[:, keep].mean(axis=1))
        pgg = np.array([np.mean(G == g) for g in gs])
        th = np.array([r["estimate"] for r in rows])
        w = pgg / pgg.sum()
        est = float(w @ th)
        ind = np.column_stack([(G == g).astype(float) - p for g, p in zip(gs, pgg, strict=True)])
        wif = ind / pgg.sum() - ind.sum(axis=1, keepdims=True) @ (pgg / pgg.sum() ** 2)[None, :]
        overall_se = se_of(np.column_stack(infs) @ w + wif @ th)
    else:  # calendar
        ts = np.unique(tab["time"][post])
        for t in ts:
            keep = np.flatnonzero(post & (tab["time"] == t).to_numpy())
            th, inf = _combine(res, keep, pg, True)
            rows.append({"time": t, "estimate": th})
            infs.append(inf)
        est = float(np.mean([r["estimate"] for r in rows]))
        overall_se = se_of(np.mean(infs, axis=0))
    crit = float("nan")
    table = pd.DataFrame(rows)
    if rows:
        ses = np.array([se_of(i) for i in infs])
        table["se"] = ses
        table["ci_low"] = table["estimate"] - z * ses
        table["ci_high"] = table["estimate"] + z * ses
        if kind == "dynamic":
            crit = _uniform_critical(np.column_stack(infs), ses, n, alpha, n_boot, seed)
            table["band_low"] = table["estimate"] - crit * ses
            table["band_high"] = table["estimate"] + crit * ses
    p = float(2 * stats.norm.sf(abs(est / overall_se))) if overall_se > 0 else float("nan")
    inference = "analytic influence function (with estimated-weight terms), normal approximation"
    if kind == "dynamic":
        inference += f"; uniform bands: Mammen multiplier bootstrap, {n_boot} draws, seed {seed}"
    return CSAggregate(
        method=f"Callaway-Sant'Anna (2021), {kind} aggregation", outcome=res.outcome, estimate=est,
        se=overall_se, ci_low=est - z * overall_se, ci_high=est + z * overall_se, p_value=p,
        n_obs=res.n_obs, alpha=alpha, inference=inference, warnings=list(res.warnings), kind=kind,
        table=table, critical_value=crit,
    )


def _uniform_critical(inf: np.ndarray, ses: np.ndarray, n: int, alpha: float, n_boot: int, seed: int) -> float:
    """Sup-t critical value from a Mammen multiplier bootstrap of the influence functions (vectorised)."""
    rng = np.random.default_rng(seed)
    s5 = np.sqrt(5.0)
    p = (s5 + 1) / (2 * s5)
    v = np.where(rng.random((n_boot, inf.shape[0])) < p, (1 - s5) / 2, (1 + s5) / 2)
    boot = v @ inf / n
    ok = ses > 0
    tmax = np.max(np.abs(boot[:, ok] / ses[ok]), axis=1)
    return float(np.quantile(tmax, 1 - alpha))
