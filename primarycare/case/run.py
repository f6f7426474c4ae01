"""Run every analysis of one case on a panel and keep the numbers (no prose: see primarycare.report).

:func:`run_case` takes a validated :class:`~primarycare.case.config.CaseConfig` and a tidy panel and
runs the chapter's analyses: trends, the segmented trend model, TWFE DiD with a randomization test, the
event study with placebo bands and the pre-trend tests, Callaway-Sant'Anna with a randomization test,
synthetic control with placebos, synthetic DiD, robustness checks, and the claims check. It returns a
:class:`~primarycare.case.result.CaseResult` that the chapter only displays and that the synthesis (and a
second-language edition) reads back from disk, so no estimate is computed twice.

Inference with one reforming province. Every interval this module marks as design-based
(``interval_basis`` randomization / placebo / placebo_variance / conformal) is valid with one treated
unit; model-based intervals (CRV1, analytic influence function, HAC) are kept for reference in
``detail`` rows or as a secondary column, and :mod:`primarycare.report.rules` never reads them as
evidence. ``tests/test_case_montecarlo.py`` checks the coverage of the design-based intervals.

Data status. Cross-province methods run for an outcome only when the treated province and all the
comparison provinces have the same status (all observed or all simulated); see
:mod:`primarycare.case.status`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..data import provinces
from ..errors import UserInputError
from .config import CaseConfig
from .result import CROSS_PROVINCE_METHODS, DESIGN_BASED, ESTIMATE_COLUMNS, CaseResult
from .status import check_no_switch, data_status

__all__ = ["run_case", "CaseResult", "analysis_frame", "claims_check", "compare_years", "planted_effects",
           "load_case_panel", "DESIGN_BASED", "CROSS_PROVINCE_METHODS"]

UNIT, TIME = "province", "year"
#: Synthetic-control placebos whose pre-reform RMSPE exceeds this multiple of the treated province's
#: are left out of the placebo plot (Abadie, Diamond and Hainmueller 2010 use 5, 20 and 2).
POOR_FIT_MULTIPLE = 5.0


# --------------------------------------------------------------------------------------------------
# small helpers


def _f(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _row(outcome: str, method: str, est: Any = None, spec: str = "main analysis", section: str = "main",
         basis: str = "none", **over: Any) -> dict[str, Any]:
    """One estimates row from a result object (anything with estimate / se / ci_low / ...)."""
    def get(name: str, default: Any = float("nan")) -> Any:
        return getattr(est, name, default) if est is not None else default

    row = {
        "outcome": outcome, "method": method, "spec": spec, "section": section,
        "estimate": _f(get("estimate")), "se": _f(get("se")), "ci_low": _f(get("ci_low")),
        "ci_high": _f(get("ci_high")), "p_value": _f(get("p_value")), "n_obs": int(_f(get("n_obs", 0)) or 0),
        "inference": str(get("inference", "") or ""), "interval_basis": basis,
        "warnings": " | ".join(get("warnings", []) or []), "planted": float("nan"), "same_as": "",
        "n_assignments": 0,
    }
    row.update(over)
    return row


def _attempt(problems: list[dict[str, str]], what: str, outcome: str, fn: Callable[[], Any]) -> Any:
    """Run one analysis; a failure is recorded (the chapter lists it) instead of stopping the case.

    An estimator's :class:`UserInputError` (for example too few periods in a segment) is recorded too:
    the case configuration was validated before, so this is a limit of the method on this panel.
    """
    try:
        return fn()
    except UserInputError as e:
        problems.append({"what": what, "outcome": outcome, "reason": "not_estimable", "detail": str(e)})
    except ImportError as e:
        problems.append({"what": what, "outcome": outcome, "reason": "unavailable", "detail": str(e)})
    except Exception as e:  # noqa: BLE001 - an estimator failing on this panel is reported, not hidden
        problems.append({"what": what, "outcome": outcome, "reason": "failed",
                         "detail": f"{type(e).__name__}: {e}"})
    return None


# --------------------------------------------------------------------------------------------------
# data


def load_case_panel(panel_source: str | None = None) -> pd.DataFrame:
    """The long panel: the default (simulated + imported observed) or a user's tidy CSV."""
    from ..data import panel as data

    return data.load_panel(panel_path=panel_source)


def planted_effects(case: CaseConfig, truth: pd.DataFrame | None) -> pd.DataFrame:
    """Planted effect by outcome and year for the treated province (all reforms planted there, summed)."""
    if truth is None or truth.empty:
        return pd.DataFrame(columns=["indicator", "year", "effect", "effect_reform"])
    t = truth[(truth["province"] == case.province) & truth["indicator"].isin(case.outcomes)]
    total = t.groupby(["indicator", "year"], as_index=False)["effect"].sum()
    own = t[t["reform_id"] == case.reform].groupby(["indicator", "year"])["effect"].sum().rename("effect_reform")
    return total.merge(own.reset_index(), on=["indicator", "year"], how="left").fillna({"effect_reform": 0.0})


def _planted_summary(planted: pd.DataFrame, outcome: str, start: int, end: int) -> dict[str, float]:
    p = planted[(planted["indicator"] == outcome) & planted["year"].between(start, end)].sort_values("year")
    if p.empty:
        return {"mean_post": float("nan"), "first_year": float("nan"), "slope": float("nan"),
                "last_year": float("nan")}
    eff = p["effect"].to_numpy(dtype=float)
    slope = float(np.mean(np.diff(eff))) if len(eff) > 1 else float("nan")
    return {"mean_post": float(eff.mean()), "first_year": float(eff[0]), "slope": slope,
            "last_year": float(eff[-1])}


def analysis_frame(wide: pd.DataFrame, case: CaseConfig, reform_year: int | None = None,
                   drop_years: tuple[int, ...] = ()) -> pd.DataFrame:
    """Treated province + donors within the window, with ``treated``, ``first_treated`` and ``post``."""
    year = reform_year or case.reform_year
    units = [case.province, *case.donors]
    df = wide[wide[UNIT].isin(units) & wide[TIME].between(*case.window) & ~wide[TIME].isin(drop_years)].copy()
    is_t = df[UNIT] == case.province
    df["treated"] = (is_t & (df[TIME] >= year)).astype(int)
    df["first_treated"] = np.where(is_t, year, 0)
    df["post"] = (df[TIME] >= year).astype(int)
    return df.sort_values([UNIT, TIME]).reset_index(drop=True)


def _frames(wide: pd.DataFrame, case: CaseConfig) -> Callable[..., pd.DataFrame]:
    """:func:`analysis_frame` memoised for one run: the robustness checks use the same frame (reform year,
    dropped years) for every outcome. The estimators do not modify their input frames."""
    @functools.cache
    def frame(reform_year: int | None = None, drop_years: tuple[int, ...] = ()) -> pd.DataFrame:
        return analysis_frame(wide, case, reform_year=reform_year, drop_years=drop_years)

    return frame


def trends_table(wide: pd.DataFrame, case: CaseConfig) -> pd.DataFrame:
    """Province, mean of all 31 provinces (unweighted) and mean of the other provinces of its region.

    ``series`` holds codes (``province``, ``national_mean``, ``region_mean``); ``region`` the region id.
    """
    region = provinces.region(case.province)
    reg = provinces.table().set_index("province")["region"]
    w = wide[wide[TIME].between(*case.window)]
    is_own = w[UNIT] == case.province
    own_rows, others = w[is_own], w[(w[UNIT].map(reg) == region) & ~is_own]
    out = []
    for o in case.outcomes:
        if o not in w:
            continue
        own = own_rows[[TIME, o]].assign(series="province")
        nat = w.groupby(TIME, as_index=False)[o].mean().assign(series="national_mean")
        rg = others.groupby(TIME, as_index=False)[o].mean().assign(series="region_mean")
        for part in (own, nat, rg):
            out.append(part.rename(columns={o: "value"}).assign(outcome=o, region=region))
    cols = ["outcome", "series", "region", TIME, "value"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def province_facts(case: CaseConfig) -> pd.DataFrame:
    """Facts-register rows for the province (reported figures with their sources, geography and notes)."""
    from ..data import facts as facts_mod

    return facts_mod.for_province(facts_mod.load_facts(), case.province).reset_index(drop=True)


def donor_table(case: CaseConfig) -> pd.DataFrame:
    """Treated, excluded and comparison provinces with the reason (excluded: the reform that excludes it)."""
    rows = [{"province": case.province, "role": "treated", "reason": case.reform}]
    rows += [{"province": p, "role": "excluded", "reason": r} for p, r in case.excluded.items()]
    rows += [{"province": p, "role": "donor", "reason": ""} for p in case.donors]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# the analyses


def _cs_simple(d: pd.DataFrame, o: str) -> Any:
    from ..methods import did

    return did.callaway_santanna(d, o, UNIT, TIME, "first_treated", control="never").aggregate("simple")


def _did_block(df: pd.DataFrame, case: CaseConfig, o: str, problems: list, rows: list[dict],
               tables: dict[str, list[pd.DataFrame]], planted: float, n_perm: int, alpha: float) -> None:
    """TWFE with a randomization test; event study with placebo bands; Callaway-Sant'Anna with a
    randomization test (counted once when it equals the event-study average, as it does with one treated
    province and never-treated comparisons)."""
    from ..methods import did, inference
    from ..methods.pretrend import event_study_placebo

    def twfe_main() -> None:
        est = functools.partial(did.twfe, outcome=o, unit=UNIT, time=TIME, treatment="treated")
        r = did.twfe(df, o, UNIT, TIME, "treated", cluster=UNIT)
        rows.append(_row(o, "TWFE DiD", r, spec="cluster-robust standard errors", section="detail",
                         basis="crv1", planted=planted))
        rt = inference.randomization_test(est, df, UNIT, [case.province], "treated", n_permutations=n_perm,
                                          seed=case.seed, time=TIME, progress=False, alpha=alpha)
        rows.append(_row(o, "TWFE DiD", rt, basis="randomization", se=float("nan"), planted=planted,
                         n_obs=r.n_obs, n_assignments=rt.n_assignments))
        tables["perm"].append(pd.DataFrame({"outcome": o, "estimate": np.asarray(rt.distribution, dtype=float)}))

    _attempt(problems, "twfe_randomization", o, twfe_main)

    es_post: dict[str, float] = {}

    def es() -> None:
        r = event_study_placebo(df, o, UNIT, TIME, "first_treated", [case.province], window=case.event_window,
                                reference=-1, alpha=alpha)
        t = r.table.assign(outcome=o)
        tables["event_study"].append(t)
        tables["pretrend"].append(pd.DataFrame([{
            "outcome": o, "statistic": r.f_statistic, "p_value": r.f_p_value, "placebo_p_value": r.p_value,
            "n_assignments": r.n_placebos + 1, "n_treated": 1,
            "n_leads": len(r.pre_times),
            "leads_above_zero": int((r.table.loc[r.table["rel_time"].isin(r.pre_times), "estimate"] > 0).sum()),
            "leads_below_zero": int((r.table.loc[r.table["rel_time"].isin(r.pre_times), "estimate"] < 0).sum()),
            "leads_band_excludes_zero": int(((r.table["band_low"] > 0) | (r.table["band_high"] < 0))
                                            [r.table["rel_time"].isin(r.pre_times)].sum()),
            "leads_crv1_excludes_zero": int((np.abs(r.table["estimate"] / r.table["se"]) > 1.96)
                                            [r.table["rel_time"].isin(r.pre_times)].sum()),
        }]))
        es_post["estimate"] = r.estimate
        rows.append(_row(o, "Event study (post average)", r, basis="placebo", planted=planted,
                         p_value=_f(r.extra.get("post_p_value")), n_assignments=r.n_placebos + 1))
        sens = _sensitivity(r, o, problems, alpha)
        if sens is not None:
            tables["sensitivity"].append(sens)

    _attempt(problems, "event_study", o, es)

    def cs() -> None:
        r = _cs_simple(df, o)
        same = ("estimate" in es_post
                and abs(r.estimate - es_post["estimate"]) <= 1e-8 * max(1.0, abs(r.estimate)))
        if same:
            rows.append(_row(o, "Callaway-Sant'Anna", r, basis="none", ci_low=float("nan"),
                             ci_high=float("nan"), se=float("nan"), p_value=float("nan"), planted=planted,
                             same_as="Event study (post average)", inference="", warnings=""))
            return
        rt = inference.randomization_test(lambda d: _cs_simple(d, o), df, UNIT, [case.province], "treated",
                                          time=TIME, progress=False, linear=True, alpha=alpha)
        rows.append(_row(o, "Callaway-Sant'Anna", rt, basis="randomization", se=float("nan"), planted=planted,
                         n_obs=r.n_obs, n_assignments=rt.n_assignments))

    _attempt(problems, "callaway_santanna", o, cs)


def _sensitivity(es: Any, o: str, problems: list, alpha: float) -> pd.DataFrame | None:
    """Pre-test power (Roth 2022) and honest-DiD breakdown values (Rambachan and Roth 2023) of the event
    study, with the coefficients' covariance estimated from the placebo runs (Conley and Taber 2011): the
    CRV1 covariance rests on one treated cluster and is far too small, so it is not used here.

    Rows: ``kind="power"`` (slopes per year of a linear pre-trend at which the joint Wald test has 50% and
    80% power), ``kind="breakdown"`` (``method``, ``value``: the smallest M or Mbar at which the interval
    for the average post-reform effect includes zero; relative magnitudes and smoothness) and
    ``kind="grid"`` (``method="relative_magnitudes"``, ``M``, ``lower``, ``upper``: the chapter's table).
    The smoothness breakdown is computed alone (:func:`~primarycare.methods.sensitivity.breakdown_value`,
    the same number as ``honest_did``'s); its grid of intervals is not shown, so it is not computed."""
    from ..methods import sensitivity

    def go() -> pd.DataFrame:
        t = es.table[~es.table["reference"].astype(bool)]
        times = t["rel_time"].to_numpy(int)
        pc = es.placebo_coefs.reindex(columns=times)
        if pc.shape[0] < pc.shape[1] + 2:
            raise UserInputError(f"too few placebo runs ({pc.shape[0]}) to estimate the covariance of "
                                 f"{pc.shape[1]} event-study coefficients")
        sigma = np.cov(pc.to_numpy(float), rowvar=False)
        raw = {"betahat": t["estimate"].to_numpy(float), "sigma": sigma, "event_times": times, "reference": -1}
        rows: list[dict[str, Any]] = []
        pw = sensitivity.pretrend_power(alpha=alpha, test="chi2", **raw).table.set_index("power")["slope"]
        rows.append({"kind": "power", "method": "wald", "slope_50": float(pw.get(0.5, np.nan)),
                     "slope_80": float(pw.get(0.8, np.nan))})
        rm = sensitivity.honest_did(method="relative_magnitudes", M=np.arange(0, 2.01, 0.5), alpha=alpha, **raw)
        rows.append({"kind": "breakdown", "method": "relative_magnitudes", "value": float(rm.breakdown)})
        rows += [{"kind": "grid", "method": "relative_magnitudes", "M": float(x.M), "lower": float(x.lower),
                  "upper": float(x.upper)} for x in rm.table.itertuples(index=False)]
        sd = sensitivity.breakdown_value(method="smoothness", alpha=alpha, **raw)
        rows.append({"kind": "breakdown", "method": "smoothness", "value": float(sd)})
        return pd.DataFrame(rows).assign(outcome=o)

    return _attempt(problems, "sensitivity", o, go)


def _synth_block(df: pd.DataFrame, case: CaseConfig, o: str, problems: list, rows: list[dict],
                 tables: dict[str, list[pd.DataFrame]], planted: float, alpha: float) -> Any:
    from ..methods import synth

    sc = _attempt(problems, "synthetic_control", o,
                  lambda: synth.synthetic_control(df, o, UNIT, TIME, case.province, case.reform_year,
                                                  donors=case.donors))
    if sc is None:
        return None
    w = pd.Series(sc.weights).rename("weight").rename_axis("donor").reset_index()
    tables["synth_weights"].append(w.assign(outcome=o))
    gap = pd.Series(sc.gap).rename("gap").rename_axis(TIME).reset_index()
    tables["synth_gap"].append(gap.assign(outcome=o, unit=case.province, placebo=False, poor_fit=False))
    stats = {"outcome": o, "pre_rmspe": _f(sc.pre_rmspe), "post_rmspe": _f(sc.post_rmspe), "p_value": np.nan,
             "n_placebos": 0, "n_poor_fit": 0, "poor_fit_multiple": POOR_FIT_MULTIPLE}

    def placebos() -> None:
        pl = sc.placebo_in_space()
        stats["p_value"] = _f(getattr(pl, "p_value", np.nan))
        gaps = getattr(pl, "gaps", None)
        if isinstance(gaps, pd.DataFrame):
            g = gaps if {UNIT, TIME}.issubset(gaps.columns) else (
                gaps.rename_axis(TIME).reset_index().melt(id_vars=TIME, var_name=UNIT, value_name="gap"))
            g = g.rename(columns={UNIT: "unit"})
            g = g[g["unit"] != case.province]
            pre = g[g[TIME] < case.reform_year].groupby("unit")["gap"].apply(lambda s: float(np.sqrt(np.mean(s ** 2))))
            poor = set(pre[pre > POOR_FIT_MULTIPLE * max(stats["pre_rmspe"], 1e-12)].index)
            stats["n_placebos"], stats["n_poor_fit"] = int(len(pre)), int(len(poor))
            tables["synth_gap"].append(g.assign(outcome=o, placebo=True, poor_fit=g["unit"].isin(poor)))

    _attempt(problems, "synthetic_control_placebos", o, placebos)
    conf = _conformal(sc, o, problems, alpha)
    if conf is not None:
        stats.update({"conformal_low": conf["lower"], "conformal_high": conf["upper"],
                      "conformal_status": conf["status"], "conformal_n_perms": conf["n_perms"]})
    tables["synth_stats"].append(pd.DataFrame([stats]))
    if conf is not None and np.isfinite(conf["lower"]) and np.isfinite(conf["upper"]):
        rows.append(_row(o, "Synthetic control", sc, basis="conformal", ci_low=conf["lower"], ci_high=conf["upper"],
                         p_value=stats["p_value"], planted=planted, se=float("nan"),
                         inference="placebo in space (RMSPE-ratio rank); conformal interval (moving blocks)"))
    else:
        rows.append(_row(o, "Synthetic control", sc, basis="none", ci_low=float("nan"), ci_high=float("nan"),
                         se=float("nan"), p_value=stats["p_value"], planted=planted,
                         inference="placebo in space (RMSPE-ratio rank)"))

    def sdid() -> None:
        # one treated province and fewer than 200 controls: every placebo assignment is used once (the
        # exact placebo variance; synthetic_did's placebo="auto"), so the seed is not used
        r = synth.synthetic_did(df[[UNIT, TIME, o]], o, UNIT, TIME, [case.province], case.reform_year,
                                n_placebo=200, seed=case.seed)
        rows.append(_row(o, "Synthetic DiD", r, basis="placebo_variance", planted=planted))

    _attempt(problems, "synthetic_did", o, sdid)
    return sc


def _conformal(sc: Any, o: str, problems: list, alpha: float) -> dict[str, Any] | None:
    """Conformal inference for the synthetic control's average effect (Chernozhukov, Wüthrich and Zhu
    2021): moving-block permutations (robust to serial correlation), the sharp null of a constant effect
    in every post-reform year. With T years the smallest attainable p-value is 1/T, so with 14 years the
    95% interval is unbounded; it is then reported as such and the synthetic control is read by its
    placebo p-value alone."""
    def go() -> dict[str, Any]:
        c = sc.conformal(alpha=alpha, average="constant")
        return {"lower": _f(c.ci_low), "upper": _f(c.ci_high), "p_value": _f(c.p_value),
                "status": str(c.average.get("status", "")) if hasattr(c.average, "get") else "",
                "n_perms": int(_f(c.average.get("n_perms", 0)) or 0) if hasattr(c.average, "get") else 0}

    return _attempt(problems, "synthetic_control_conformal", o, go)


def _segmented_block(wide: pd.DataFrame, case: CaseConfig, o: str, problems: list, rows: list[dict],
                     tables: dict[str, list[pd.DataFrame]], planted: dict[str, float], alpha: float) -> None:
    from ..methods import trends

    def fit() -> None:
        own = wide[(wide[UNIT] == case.province) & wide[TIME].between(*case.window)][[TIME, o]].dropna()
        shock = case.drop_year_check
        shocks = [shock] if shock and shock != case.reform_year and shock in set(own[TIME]) else []
        try:
            r = trends.segmented(own, o, TIME, case.reform_year, shocks=shocks or None, alpha=alpha)
        except UserInputError as e:  # a shock too close to the reform or the series end: fit without it
            if not shocks:
                raise
            problems.append({"what": "segmented_shock", "outcome": o, "reason": "not_estimable", "detail": str(e)})
            shocks = []
            r = trends.segmented(own, o, TIME, case.reform_year, alpha=alpha)
        inf = str(r.inference)
        last = int(own[TIME].max())
        spec = f"shock_pulse:{shocks[0]}" if shocks else "no_shock"
        rows.append(_row(o, "Segmented: level change", r.level_change, planted=planted["first_year"],
                         inference=inf, n_obs=r.n_obs, basis="hac", spec=spec))
        rows.append(_row(o, "Segmented: slope change", r.slope_change, planted=planted["slope"],
                         inference=inf, n_obs=r.n_obs, basis="hac", spec=spec))
        rows.append(_row(o, f"Segmented: effect in {last}", r, planted=planted["last_year"], inference=inf,
                         basis="hac", spec=spec))
        cf = r.counterfactual.rename(columns={"estimate": "counterfactual", "ci_low": "cf_low",
                                              "ci_high": "cf_high"}).drop(columns=["se"], errors="ignore")
        t = pd.DataFrame({"observed": r.observed, "fitted": r.fitted}).join(cf, how="left")
        tables["segmented"].append(t.rename_axis(TIME).reset_index().assign(outcome=o))

    _attempt(problems, "segmented", o, fit)


def _robustness_block(wide: pd.DataFrame, case: CaseConfig, o: str, problems: list, rows: list[dict],
                      sc: Any, planted_tab: pd.DataFrame, simulated: bool, n_perm: int, alpha: float,
                      frame: Callable[..., pd.DataFrame] | None = None) -> None:
    """Placebo reform year, other reform years, dropping the shock year: TWFE with a randomization test
    each (design-based intervals); synthetic-control leave-one-out and placebo in time. ``frame(reform_year,
    drop_years)`` gives the analysis frames (default :func:`analysis_frame`; :func:`run_case` passes
    :func:`_frames`, shared by the outcomes)."""
    from ..methods import did, inference

    frame = frame or functools.partial(analysis_frame, wide, case)

    def twfe_ri(df: pd.DataFrame) -> Any:
        est = functools.partial(did.twfe, outcome=o, unit=UNIT, time=TIME, treatment="treated")
        return inference.randomization_test(est, df, UNIT, [case.province], "treated", n_permutations=n_perm,
                                            seed=case.seed, time=TIME, progress=False, alpha=alpha)

    def planted_for(start: int) -> float:
        return _planted_summary(planted_tab, o, start, case.window[1])["mean_post"] if simulated else float("nan")

    pre_years = case.reform_year - case.window[0]
    fake = case.reform_year - max(2, pre_years // 2)
    if fake - case.window[0] >= 2:
        def placebo_year() -> None:
            pre = frame(reform_year=fake)
            pre = pre[pre[TIME] < case.reform_year]
            r = twfe_ri(pre)
            rows.append(_row(o, "TWFE DiD", r, spec=f"placebo_year:{fake}", section="robustness",
                             basis="randomization", se=float("nan"), n_assignments=r.n_assignments, planted=0.0 if simulated else float("nan")))
        _attempt(problems, f"placebo_year:{fake}", o, placebo_year)
    for y in case.robustness_years:
        def alt(y: int = y) -> None:
            r = twfe_ri(frame(reform_year=y))
            rows.append(_row(o, "TWFE DiD", r, spec=f"reform_year:{y}", section="robustness",
                             basis="randomization", se=float("nan"), n_assignments=r.n_assignments,
                             planted=planted_for(y)))
        _attempt(problems, f"reform_year:{y}", o, alt)
    if case.drop_year_check and case.window[0] <= case.drop_year_check <= case.window[1]:
        def drop() -> None:
            r = twfe_ri(frame(drop_years=(case.drop_year_check,)))
            rows.append(_row(o, "TWFE DiD", r, spec=f"drop_year:{case.drop_year_check}",
                             section="robustness", basis="randomization", se=float("nan"),
                             n_assignments=r.n_assignments,
                             planted=planted_for(case.reform_year)))
        _attempt(problems, f"drop_year:{case.drop_year_check}", o, drop)
    if sc is not None:
        def loo() -> None:
            res = sc.leave_one_out()
            atts = pd.Series(getattr(res, "atts", pd.Series(dtype=float)), dtype=float)
            planted = planted_for(case.reform_year)
            for dropped, att in atts.items():
                rows.append(_row(o, "Synthetic control", None, estimate=_f(att), spec=f"leave_out:{dropped}",
                                 section="robustness", planted=planted))
        _attempt(problems, "leave_one_out", o, loo)
        if case.reform_year - 3 - case.window[0] >= 3:
            def pit() -> None:
                r = sc.placebo_in_time(case.reform_year - 3)
                rows.append(_row(o, "Synthetic control", r, spec=f"placebo_in_time:{case.reform_year - 3}",
                                 section="robustness", ci_low=float("nan"), ci_high=float("nan"), se=float("nan"),
                                 p_value=float("nan"), planted=0.0 if simulated else float("nan")))
            _attempt(problems, f"placebo_in_time:{case.reform_year - 3}", o, pit)


def run_case(case: CaseConfig, panel: pd.DataFrame | None = None, panel_source: str | None = None,
             n_permutations: int | None = None, progress: bool = False, alpha: float = 0.05) -> CaseResult:
    """Run all analyses of ``case`` on ``panel`` (default: the project panel) and return the result."""
    from ..data import panel as data

    panel = load_case_panel(panel_source) if panel is None else panel
    missing = sorted(set(case.outcomes) - set(panel["indicator"].unique()))
    if missing:
        raise UserInputError(f"Case {case.case_id!r}: outcome(s) {', '.join(missing)} are not in the panel "
                             f"({panel_source or 'default panel'}). Available: "
                             + ", ".join(sorted(panel["indicator"].unique())) + ".")
    if case.province not in set(panel[UNIT]):
        raise UserInputError(f"Case {case.case_id!r}: the panel has no rows for {case.province}.")
    check_no_switch(panel, case, panel_source or "the project panel")
    status = data_status(panel, case, panel_source)
    wide = data.wide(panel)
    truth = None
    if status["any_simulated"]:
        try:
            truth = data.load_truth()
        except Exception:  # noqa: BLE001 - a user panel may have no truth file
            truth = None
    planted_tab = planted_effects(case, truth)
    problems: list[dict[str, str]] = []
    rows: list[dict[str, Any]] = []
    tabs: dict[str, list[pd.DataFrame]] = {k: [] for k in (
        "event_study", "pretrend", "synth_weights", "synth_gap", "synth_stats", "segmented", "perm", "sensitivity")}
    frame = _frames(wide, case)
    df = frame()
    n_perm = n_permutations or case.n_permutations
    outcomes = case.outcomes
    if progress:
        from tqdm.auto import tqdm

        outcomes = tqdm(outcomes, desc=f"{case.case_id}: outcomes")
    caveats: list[dict[str, str]] = []
    skipped: list[dict[str, str]] = []
    for o in outcomes:
        st = status["by_outcome"][o]
        sim_o = st["treated_status"] == "simulated"
        pl = _planted_summary(planted_tab, o, case.reform_year, case.window[1]) if sim_o else \
            dict.fromkeys(("mean_post", "first_year", "slope", "last_year"), float("nan"))
        # Estimator warnings (poor synthetic-control fit, ...) become caveats shown in the chapter, not stderr.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _segmented_block(wide, case, o, problems, rows, tabs, pl, alpha)
            if st["cross_province"]:
                _did_block(df, case, o, problems, rows, tabs, pl["mean_post"], n_perm, alpha)
                sc = _synth_block(df, case, o, problems, rows, tabs, pl["mean_post"], alpha)
                _robustness_block(wide, case, o, problems, rows, sc, planted_tab, sim_o, n_perm, alpha, frame)
            else:
                skipped.append({"outcome": o, "treated_status": st["treated_status"],
                                "donor_status": st["donor_status"]})
        for w in caught:
            if issubclass(w.category, (DeprecationWarning, FutureWarning)) or "IProgress" in str(w.message):
                continue
            c = {"outcome": o, "message": str(w.message)}
            if c not in caveats:
                caveats.append(c)
    estimates = pd.DataFrame(rows)
    estimates = estimates.reindex(columns=ESTIMATE_COLUMNS) if len(estimates) else pd.DataFrame(columns=ESTIMATE_COLUMNS)
    tables = {k: pd.concat(v, ignore_index=True) for k, v in tabs.items() if v}
    tables["trends"] = trends_table(wide, case)
    tables["donors"] = donor_table(case)
    tables["planted"] = planted_tab
    tables["position"] = position_table(wide, case)
    tables["panel_slice"] = panel[panel[UNIT].isin([case.province, *case.donors]) & panel["indicator"].isin(case.outcomes)
                                  & panel[TIME].between(*case.window)].reset_index(drop=True)
    facts = _attempt(problems, "facts_register", "", lambda: province_facts(case))
    if facts is not None:
        tables["facts"] = facts
        tables["claims"] = claims_check(facts, panel, case)
    if case.compare_years:
        tables["compare"] = compare_years(panel, facts, case)
    meta = {"library_version": __version__, "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "n_permutations": n_perm, "panel_source": panel_source, "caveats": caveats, "skipped": skipped,
            "alpha": alpha, "n_donors": len(case.donors)}
    return CaseResult(config=case.to_dict(), status=status, estimates=estimates, tables=tables,
                      problems=problems, meta=meta)


def position_table(wide: pd.DataFrame, case: CaseConfig) -> pd.DataFrame:
    """Every province's value of each outcome in the last year before the reform and the last year of the
    window, with the treated province flagged (the chapter's 'where the province stands' figure)."""
    out = []
    for o in case.outcomes:
        if o not in wide:
            continue
        st = f"{o}_status"
        for y in dict.fromkeys((case.reform_year - 1, case.window[1])):
            w = wide[wide[TIME] == y][[UNIT, o] + ([st] if st in wide else [])].dropna(subset=[o])
            w = w.rename(columns={o: "value", st: "status"})
            out.append(w.assign(outcome=o, year=y, treated=w[UNIT] == case.province))
    cols = ["outcome", "year", UNIT, "value", "status", "treated"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


# --------------------------------------------------------------------------------------------------
# reported figures against the panel (verdict codes; the words are in primarycare.report)


def claims_check(facts: pd.DataFrame, panel: pd.DataFrame, case: CaseConfig,
                 rel_tol: float = 0.01) -> pd.DataFrame:
    """Each reported figure for the province beside the panel's value, with a verdict code.

    Verdicts: ``agrees`` / ``differs`` (only against an observed panel value of the same indicator, year
    and geography: the province), ``nc_simulated`` (the panel value is simulated: a simulated value can
    neither confirm nor contradict a report), ``nc_target`` (a target, not an outcome), ``nc_geography``
    (the figure is for a county or city, not the province), ``nc_no_series`` (the indicator is not in the
    panel), ``nc_year`` (no panel value for that year or the year is not stated). Agreement allows
    ``rel_tol`` (rounding).
    """
    cols = ["fact_id", "year", "indicator", "reported", "unit", "kind", "source", "geography_level", "geography",
            "panel_value", "panel_status", "verdict"]
    if facts is None or facts.empty:
        return pd.DataFrame(columns=cols)
    p = panel[panel[UNIT] == case.province].set_index(["indicator", TIME])
    inds = set(panel["indicator"])
    out = []
    for f in facts.itertuples(index=False):
        ind, year = str(getattr(f, "indicator", "")), getattr(f, "year", None)
        level = str(getattr(f, "geography_level", "province"))
        row = {"fact_id": getattr(f, "fact_id", ""), "year": year, "indicator": ind,
               "reported": getattr(f, "value", None), "unit": getattr(f, "unit", ""),
               "kind": getattr(f, "kind", ""), "source": getattr(f, "source", ""), "geography_level": level,
               "geography": getattr(f, "geography", ""), "panel_value": float("nan"), "panel_status": ""}
        y = None if math.isnan(_f(year)) else int(_f(year))
        if ind not in inds:
            row["verdict"] = "nc_no_series"
        elif level not in ("province",):
            row["verdict"] = "nc_geography"
        elif y is None or (ind, y) not in p.index:
            row["verdict"] = "nc_year"
        else:
            hit = p.loc[(ind, y)]
            hit = hit.iloc[0] if isinstance(hit, pd.DataFrame) else hit
            row["panel_value"], row["panel_status"] = float(hit["value"]), str(hit["status"])
            if row["panel_status"] != "observed":
                row["verdict"] = "nc_simulated"
            elif str(row["kind"]) == "target":
                row["verdict"] = "nc_target"
            else:
                rep = _f(row["reported"])
                ok = abs(row["panel_value"] - rep) <= rel_tol * max(abs(rep), 1e-9)
                row["verdict"] = "agrees" if ok else "differs"
        out.append(row)
    return pd.DataFrame(out, columns=cols)


def compare_years(panel: pd.DataFrame, facts: pd.DataFrame | None, case: CaseConfig) -> pd.DataFrame:
    """Change between the case's ``compare_years`` in the panel (with its status), beside the change the
    province-level reports imply. The report layer compares the two only when the panel is observed."""
    y0, y1 = case.compare_years[0], case.compare_years[-1]
    p = panel[panel[UNIT] == case.province]
    out = []
    for o in case.outcomes:
        s = p[p["indicator"] == o].set_index(TIME)
        v0 = _f(s["value"].get(y0)) if y0 in s.index else float("nan")
        v1 = _f(s["value"].get(y1)) if y1 in s.index else float("nan")
        st = sorted(set(s.loc[[y for y in (y0, y1) if y in s.index], "status"])) if len(s) else []
        rep0 = rep1 = float("nan")
        if facts is not None and not facts.empty and "indicator" in facts:
            f = facts[(facts["indicator"] == o) & (facts["kind"].astype(str) != "target")]
            if "geography_level" in f:
                f = f[f["geography_level"].astype(str) == "province"]
            for y in (y0, y1):
                vals = f[pd.to_numeric(f["year"], errors="coerce") == y]["value"]
                if len(vals):
                    if y == y0:
                        rep0 = _f(vals.iloc[0])
                    else:
                        rep1 = _f(vals.iloc[0])
        out.append({"outcome": o, "from": y0, "to": y1, "panel_from": v0, "panel_to": v1,
                    "panel_change": v1 - v0, "panel_status": "mixed" if len(st) > 1 else (st[0] if st else ""),
                    "reported_from": rep0, "reported_to": rep1, "reported_change": rep1 - rep0})
    return pd.DataFrame(out)


def reform_brief(reform_id: str) -> dict[str, Any]:
    """The reform's short description and its sources from ``data/reform_briefs.yml`` (empty if none)."""
    import yaml

    from ..paths import DATA

    path = DATA / "reform_briefs.yml"
    briefs = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    return dict((briefs or {}).get(reform_id) or {})

