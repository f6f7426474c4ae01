"""Run every analysis of one case on a panel, keep the results, and write the text built from them.

:func:`run_case` takes a validated :class:`~primarycare.cases.CaseConfig` and a tidy panel and runs the
chapter's analyses (trends, segmented regression, DiD with randomization inference, event study,
Callaway-Sant'Anna, synthetic control with placebos, robustness checks, claims check). It returns a
:class:`CaseResult` that the notebook only displays and that the synthesis chapter reads back from disk
(``save`` / ``load``), so no estimate is computed twice. The text helpers (:func:`interpretation`,
:func:`claims_check`, :func:`data_status_text`) turn numbers into hedged sentences; they never contain a
number that is not in the result.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..data import indicators, provinces
from ..errors import UserInputError
from ..files import atomic_write
from .config import CaseConfig

UNIT, TIME = "province", "year"
ATT_METHODS = ("TWFE DiD", "Event study (post average)", "Callaway-Sant'Anna", "Synthetic control",
               "Synthetic DiD")


@dataclass
class CaseResult:
    """Everything a case chapter shows: config, data status, estimates and the tables behind the figures.

    ``estimates`` has one row per (outcome, method, spec) with estimate, CI, p-value, the inference used,
    warnings and, with simulated data, the planted effect it should be compared with. ``tables`` holds
    named frames (trends, event_study, synth_gap, ...). ``problems`` lists analyses that could not run
    and why; the chapter shows them.
    """

    config: dict[str, Any]
    status: dict[str, Any]
    estimates: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        return bool(self.status.get("any_simulated", True))

    def main_estimates(self) -> pd.DataFrame:
        return self.estimates[self.estimates["section"] == "main"].reset_index(drop=True)

    def save(self, directory: str | Path) -> Path:
        """Write ``results.json`` (everything) and ``estimates.csv`` (the summary table) to ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        payload = {
            "config": self.config, "status": self.status, "problems": self.problems, "meta": self.meta,
            "estimates": json.loads(self.estimates.to_json(orient="split", index=False)),
            "tables": {k: json.loads(v.to_json(orient="split", index=False)) for k, v in self.tables.items()},
        }
        with atomic_write(d / "results.json") as fh:
            json.dump(payload, fh, ensure_ascii=False, indent=1)
        with atomic_write(d / "estimates.csv") as fh:
            self.estimates.assign(case_id=self.config["case_id"]).to_csv(fh, index=False)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> CaseResult:
        """Read a result written by :meth:`save`."""
        path = Path(directory) / "results.json"
        if not path.exists():
            raise UserInputError(f"No saved case result at {path}: run the case first "
                                 "(python scripts/build_book.py --only <case>).")
        raw = json.loads(path.read_text(encoding="utf-8"))

        def frame(spec: dict) -> pd.DataFrame:
            return pd.DataFrame(spec["data"], columns=spec["columns"])

        return cls(config=raw["config"], status=raw["status"], estimates=frame(raw["estimates"]),
                   tables={k: frame(v) for k, v in raw["tables"].items()}, problems=raw.get("problems", []),
                   meta=raw.get("meta", {}))


# --------------------------------------------------------------------------------------------------
# small helpers


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """First attribute (or key) of ``obj`` among ``names``; lets this module follow estimator objects."""
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            v = getattr(obj, n)
            return v() if callable(v) and n in ("pretrend_test",) else v
    return default


def _f(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _row(outcome: str, method: str, est: Any, spec: str = "main analysis", section: str = "main",
         **over: Any) -> dict[str, Any]:
    """One estimates row from a result object (anything with estimate / se / ci_low / ...)."""
    row = {
        "outcome": outcome, "method": method, "spec": spec, "section": section,
        "estimate": _f(_get(est, "estimate", "att")), "se": _f(_get(est, "se")),
        "ci_low": _f(_get(est, "ci_low")), "ci_high": _f(_get(est, "ci_high")),
        "p_value": _f(_get(est, "p_value")), "n_obs": int(_f(_get(est, "n_obs", default=0)) or 0),
        "inference": str(_get(est, "inference", default="") or ""),
        "warnings": " | ".join(_get(est, "warnings", default=[]) or []),
        "planted": float("nan"),
    }
    row.update(over)
    return row


def _attempt(problems: list[str], what: str, fn: Callable[[], Any]) -> Any:
    """Run one analysis; a failure is recorded (shown in the chapter) instead of stopping the case.

    An estimator's :class:`UserInputError` (for example too few periods in a segment) is recorded too:
    the case configuration was validated before, so this is a limit of the method on this panel.
    """
    try:
        return fn()
    except UserInputError as e:
        problems.append(f"{what}: not estimable here: {e}")
    except ImportError as e:
        problems.append(f"{what}: not available in this build ({e}).")
    except Exception as e:  # noqa: BLE001 - an estimator failing on this panel is reported, not hidden
        problems.append(f"{what}: failed with {type(e).__name__}: {e}")
    return None


# --------------------------------------------------------------------------------------------------
# data


def load_case_panel(panel_source: str | None = None) -> pd.DataFrame:
    """The long panel: the default (simulated + imported observed) or a user's tidy CSV."""
    from ..data import panel as data

    return data.load_panel(panel_path=panel_source)


def data_status(panel: pd.DataFrame, case: CaseConfig, source: str | None = None) -> dict[str, Any]:
    """Counts of observed and simulated values, overall and for the treated province, by outcome."""
    sub = panel[panel["indicator"].isin(case.outcomes) & panel[TIME].between(*case.window)]
    own = sub[sub[UNIT] == case.province]
    by = {}
    for o in case.outcomes:
        s = sub[sub["indicator"] == o]["status"].value_counts()
        t = own[own["indicator"] == o]["status"].value_counts()
        by[o] = {"observed": int(s.get("observed", 0)), "simulated": int(s.get("simulated", 0)),
                 "province_observed": int(t.get("observed", 0)), "province_simulated": int(t.get("simulated", 0))}
    n_sim = sum(v["simulated"] for v in by.values())
    n_obs = sum(v["observed"] for v in by.values())
    return {"panel_source": source or "default panel (data/panel/)", "simulated": n_sim, "observed": n_obs,
            "any_simulated": n_sim > 0, "all_simulated": n_obs == 0, "by_outcome": by}


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


# --------------------------------------------------------------------------------------------------
# the analyses


def trends_table(wide: pd.DataFrame, case: CaseConfig) -> pd.DataFrame:
    """Province, national mean (31 provinces, unweighted) and regional mean (others in the region)."""
    region = provinces.region(case.province)
    reg = provinces.table().set_index("province")["region"]
    w = wide[wide[TIME].between(*case.window)]
    out = []
    for o in case.outcomes:
        if o not in w:
            continue
        own = w[w[UNIT] == case.province][[TIME, o]].assign(series=case.province)
        nat = w.groupby(TIME, as_index=False)[o].mean().assign(series="National mean (31 provinces)")
        others = w[(w[UNIT].map(reg) == region) & (w[UNIT] != case.province)]
        rg = others.groupby(TIME, as_index=False)[o].mean().assign(series=f"{region.title()} region mean")
        for part in (own, nat, rg):
            out.append(part.rename(columns={o: "value"}).assign(outcome=o))
    return pd.concat(out, ignore_index=True)[["outcome", "series", TIME, "value"]] if out else pd.DataFrame()


def province_facts(case: CaseConfig) -> pd.DataFrame:
    """Facts-register rows for the province (reported figures with their sources)."""
    from ..data import facts as facts_mod

    f = facts_mod.for_province(facts_mod.load_facts(), case.province)
    return f.reset_index(drop=True)


# Indicators "closely related" to a chapter's outcomes: visit shares and counts, county-internal visit
# rates, primary-care staff, GPs and family-doctor signing (shown first in part 1; the rest collapsed).
RELATED = re.compile(r"visit|county_internal|outside_county|primary_care_staff|^gps_|recruited_gps|"
                     r"family_doctor|signing|signed_residents")
UNRELATED = re.compile(r"remote_centre|outreach|subcentre_visits")
QUALIFIER_WORDS = {"about": "about", "more_than": "more than", "at_least": "at least", "less_than": "less than",
                   "at_most": "at most", "over": "over"}


def short_source(source: Any) -> str:
    """Seed files cited by their number ("seed 004"); other sources (public_figures.md) as they are."""
    s = str(source)
    return "seed " + s[:3] if s[:3].isdigit() and s.endswith(".txt") else s


def printed_value(value: Any, qualifier: Any = None) -> str:
    """A reported figure as printed: no trailing zeros, the qualifier in words ("more than 20")."""
    v = _f(value)
    if math.isnan(v):
        txt = "unknown"
    else:
        txt = f"{v:.6f}".rstrip("0").rstrip(".")
    q = "" if qualifier is None or (isinstance(qualifier, float) and math.isnan(qualifier)) else str(qualifier)
    q = QUALIFIER_WORDS.get(q, q.replace("_", " "))
    return f"{q} {txt}".strip()


def _year_words(year: Any) -> str:
    y = _f(year)
    return "—" if math.isnan(y) else str(int(y))


THEMES = (r"visit_share|visit_rate|county_internal|outside_county", r"visit", r"staff", r"gps?_|_gps",
          r"family_doctor|signing|signed")


def _theme_rank(indicator: str, outcomes: list[str]) -> int:
    if indicator in outcomes:
        return outcomes.index(indicator)
    hit = [k for k, pat in enumerate(THEMES) if re.search(pat, indicator)]
    return len(outcomes) + (hit[0] if hit else len(THEMES))


def is_related(indicator: str, outcomes: list[str] | tuple[str, ...]) -> bool:
    """Whether a register indicator belongs in the chapter's main table of reported figures."""
    return indicator in outcomes or (bool(RELATED.search(indicator)) and not UNRELATED.search(indicator))


def facts_tables(facts: pd.DataFrame, outcomes: list[str] | tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Part 1's reported figures as two readable tables: related to the outcomes, and the rest.

    Columns: Figure (the English label from data/indicators.csv), Value (as printed, with its qualifier in
    words), Unit, Year, Kind, Source (seed number). The outcomes come first, then related figures, each
    group by indicator and year.
    """
    cols = ["Figure", "Value", "Unit", "Year", "Kind", "Source"]
    if facts is None or facts.empty:
        return pd.DataFrame(columns=cols), pd.DataFrame(columns=cols)
    f = facts.copy()
    ind = f["indicator"].astype(str)
    base = ind.str.replace(r"_change$", "", regex=True)  # a change sits next to its level
    f["_rel"] = [is_related(i, outcomes) for i in ind]
    f["_rank"] = [_theme_rank(b, list(outcomes)) for b in base]
    f["_base"], f["_chg"] = base, ind.str.endswith("_change")
    f["_y"] = pd.to_numeric(f["year"], errors="coerce")
    f = f.sort_values(["_rank", "_base", "_chg", "_y"], na_position="last", kind="stable")

    def label(i: str) -> str:
        try:
            return str(indicators.label(i))
        except Exception:  # noqa: BLE001 - an id missing from the vocabulary is shown as it is
            return i

    qual = f["qualifier"] if "qualifier" in f else pd.Series(None, index=f.index)
    out = pd.DataFrame({
        "Figure": [label(i) for i in f["indicator"].astype(str)],
        "Value": [printed_value(v, q) for v, q in zip(f["value"], qual, strict=True)],
        "Unit": f["unit"].fillna("").astype(str).to_numpy(),
        "Year": [_year_words(y) for y in f["year"]],
        "Kind": f["kind"].fillna("").astype(str).to_numpy(),
        "Source": [short_source(x) for x in f["source"]],
    }, index=f.index)
    rel = f["_rel"].to_numpy(bool)
    return out[rel].reset_index(drop=True), out[~rel].reset_index(drop=True)


def donor_table(case: CaseConfig) -> pd.DataFrame:
    rows = [{"province": case.province, "role": "treated", "reason": f"reform {case.reform} from {case.reform_year}"}]
    rows += [{"province": p, "role": "excluded", "reason": r} for p, r in case.excluded.items()]
    rows += [{"province": p, "role": "donor", "reason": "no reform row in data/policies.csv"} for p in case.donors]
    return pd.DataFrame(rows)


def _did_block(df: pd.DataFrame, case: CaseConfig, o: str, problems: list[str], rows: list[dict],
               tables: dict[str, list[pd.DataFrame]], planted: dict[str, float], n_perm: int) -> None:
    def twfe_main() -> None:
        from ..methods import did, inference

        est = functools.partial(did.twfe, outcome=o, unit=UNIT, time=TIME, treatment="treated")
        r = did.twfe(df, o, UNIT, TIME, "treated", cluster=UNIT)
        rows.append(_row(o, "TWFE DiD", r, spec="cluster-robust SE (unreliable with one treated province)",
                         section="detail", planted=planted["mean_post"]))
        rt = inference.randomization_test(est, df, UNIT, [case.province], "treated",
                                          n_permutations=n_perm, seed=case.seed, time=TIME,
                                          progress=False)
        rows.append(_row(o, "TWFE DiD", r, inference="randomization test (placebo in space)",
                         p_value=_f(_get(rt, "p_value")), ci_low=_f(_get(rt, "ci_low")),
                         ci_high=_f(_get(rt, "ci_high")), se=float("nan"), warnings="",
                         planted=planted["mean_post"]))
        dist = _get(rt, "distribution", "permutation_estimates", "null_distribution")
        if dist is not None:
            tables["perm"].append(pd.DataFrame({"outcome": o, "estimate": np.asarray(dist, dtype=float)}))

    _attempt(problems, f"TWFE with randomization test ({o})", twfe_main)

    def es() -> None:
        from ..methods import did, pretrend

        r = did.event_study(df, o, UNIT, TIME, "first_treated", window=case.event_window, reference=-1,
                            method="twfe", cluster=UNIT)
        coefs = _get(r, "coefficients", "coefs", "table", "by_rel_time")
        if isinstance(coefs, pd.DataFrame):
            tables["event_study"].append(coefs.assign(outcome=o))
        pre = _get(r, "pretrend", "pre_trend", "pretrend_test")
        stat = _f(_get(pre, "statistic", "stat")) if pre is not None else _f(_get(r, "pretrend_stat"))
        pval = _f(_get(pre, "p_value", "pvalue")) if pre is not None else _f(_get(r, "pretrend_p"))
        row = {"outcome": o, "statistic": stat, "p_value": pval, "placebo_p_value": float("nan"),
               "n_assignments": 0, "n_treated": 1}
        pl = _attempt(problems, f"pre-trend placebo p-value ({o})", lambda: pretrend.pretrend_placebo(
            df, o, UNIT, TIME, "first_treated", "treated", [case.province], window=case.event_window,
            reference=-1, cluster=UNIT, n_permutations=n_perm, seed=case.seed))
        if pl is not None:
            row.update(placebo_p_value=float(pl.p_value), n_assignments=int(pl.n_assignments),
                       n_treated=int(pl.n_treated_units))
        tables["pretrend"].append(pd.DataFrame([row]))
        agg = _get(r, "aggregate", "post", "overall", default=r)
        rows.append(_row(o, "Event study (post average)", agg if not callable(agg) else r,
                         planted=planted["mean_post"]))

    _attempt(problems, f"event study ({o})", es)

    def cs() -> None:
        from ..methods import did

        r = did.callaway_santanna(df, o, UNIT, TIME, "first_treated", control="never")
        rows.append(_row(o, "Callaway-Sant'Anna", r.aggregate("simple"), planted=planted["mean_post"]))

    _attempt(problems, f"Callaway-Sant'Anna ({o})", cs)


def _synth_block(df: pd.DataFrame, case: CaseConfig, o: str, problems: list[str], rows: list[dict],
                 tables: dict[str, list[pd.DataFrame]], planted: dict[str, float]) -> Any:
    def fit() -> Any:
        from ..methods import synth

        return synth.synthetic_control(df, o, UNIT, TIME, case.province, case.reform_year, donors=case.donors)

    sc = _attempt(problems, f"synthetic control ({o})", fit)
    if sc is None:
        return None
    w = pd.Series(sc.weights).rename("weight").rename_axis("donor").reset_index()
    tables["synth_weights"].append(w.assign(outcome=o))
    gap = pd.Series(sc.gap).rename("gap").rename_axis(TIME).reset_index()
    tables["synth_gap"].append(gap.assign(outcome=o, unit=case.province, placebo=False))
    stats = {"outcome": o, "pre_rmspe": _f(sc.pre_rmspe), "post_rmspe": _f(sc.post_rmspe), "p_value": np.nan}

    def placebos() -> None:
        pl = sc.placebo_in_space()
        stats["p_value"] = _f(_get(pl, "p_value"))
        gaps = _get(pl, "gaps", "placebo_gaps")
        if isinstance(gaps, pd.DataFrame):
            g = gaps if {UNIT, TIME}.issubset(gaps.columns) else (
                gaps.rename_axis(TIME).reset_index().melt(id_vars=TIME, var_name=UNIT, value_name="gap"))
            g = g.rename(columns={UNIT: "unit"})
            tables["synth_gap"].append(g[g["unit"] != case.province].assign(outcome=o, placebo=True))

    _attempt(problems, f"synthetic control placebos in space ({o})", placebos)
    tables["synth_stats"].append(pd.DataFrame([stats]))

    def sdid() -> None:
        from ..methods import synth

        r = synth.synthetic_did(df[[UNIT, TIME, o]], o, UNIT, TIME, [case.province], case.reform_year,
                                n_placebo=200, seed=case.seed)
        rows.append(_row(o, "Synthetic DiD", r, planted=planted["mean_post"]))

    _attempt(problems, f"synthetic difference-in-differences ({o})", sdid)
    rows.append(_row(o, "Synthetic control", sc, estimate=_f(_get(sc, "att", "estimate")),
                     p_value=stats["p_value"], inference="placebo in space (RMSPE-ratio rank)",
                     planted=planted["mean_post"]))
    return sc


def _segmented_block(wide: pd.DataFrame, case: CaseConfig, o: str, problems: list[str], rows: list[dict],
                     tables: dict[str, list[pd.DataFrame]], planted: dict[str, float]) -> None:
    def fit() -> None:
        from ..methods import trends

        own = wide[(wide[UNIT] == case.province) & wide[TIME].between(*case.window)][[TIME, o]].dropna()
        cuts = [case.reform_year]
        shock = case.drop_year_check
        if shock and abs(shock - case.reform_year) >= 2 and case.window[0] < shock <= case.window[1] - 1:
            cuts.append(shock)  # the 2020 shock gets its own level and slope terms
        r = trends.segmented(own, o, TIME, cuts)
        inf = str(r.inference)
        last = int(own[TIME].max())
        rows.append(_row(o, "Segmented: level change", r.level_change, planted=planted["first_year"],
                         inference=inf, n_obs=r.n_obs))
        rows.append(_row(o, "Segmented: slope change", r.slope_change, planted=planted["slope"],
                         inference=inf, n_obs=r.n_obs))
        rows.append(_row(o, f"Segmented: effect in {last}", r, planted=planted["last_year"], inference=inf,
                         spec=f"interruptions at {', '.join(map(str, cuts))}"))
        cf = r.counterfactual.rename(columns={"estimate": "counterfactual", "ci_low": "cf_low",
                                              "ci_high": "cf_high"}).drop(columns=["se"], errors="ignore")
        t = pd.DataFrame({"observed": r.observed, "fitted": r.fitted}).join(cf, how="left")
        tables["segmented"].append(t.rename_axis(TIME).reset_index().assign(outcome=o))

    _attempt(problems, f"segmented trend model ({o})", fit)


def _robustness_block(wide: pd.DataFrame, case: CaseConfig, o: str, problems: list[str], rows: list[dict],
                      sc: Any, planted_tab: pd.DataFrame) -> None:
    def twfe_on(df: pd.DataFrame) -> Any:
        from ..methods import did

        return did.twfe(df, o, UNIT, TIME, "treated", cluster=UNIT)

    pre_years = case.reform_year - case.window[0]
    fake = case.reform_year - max(2, pre_years // 2)
    if fake - case.window[0] >= 2:
        def placebo_year() -> None:
            pre = analysis_frame(wide, case, reform_year=fake)
            pre = pre[pre[TIME] < case.reform_year]
            rows.append(_row(o, "TWFE DiD", twfe_on(pre), spec=f"placebo reform year {fake} (pre-period only)",
                             section="robustness", planted=0.0))
        _attempt(problems, f"placebo reform year ({o})", placebo_year)
    for y in case.robustness_years:
        def alt(y: int = y) -> None:
            p = _planted_summary(planted_tab, o, y, case.window[1])["mean_post"]
            rows.append(_row(o, "TWFE DiD", twfe_on(analysis_frame(wide, case, reform_year=y)),
                             spec=f"alternative reform year {y}", section="robustness", planted=p))
        _attempt(problems, f"alternative reform year {y} ({o})", alt)
    if case.drop_year_check and case.window[0] <= case.drop_year_check <= case.window[1]:
        def drop() -> None:
            rows.append(_row(o, "TWFE DiD", twfe_on(analysis_frame(wide, case, drop_years=(case.drop_year_check,))),
                             spec=f"dropping {case.drop_year_check}", section="robustness",
                             planted=_planted_summary(planted_tab, o, case.reform_year, case.window[1])["mean_post"]))
        _attempt(problems, f"dropping {case.drop_year_check} ({o})", drop)
    if sc is not None:
        def loo() -> None:
            res = sc.leave_one_out()
            atts = pd.Series(_get(res, "atts", default=pd.Series(dtype=float)), dtype=float)
            p = _planted_summary(planted_tab, o, case.reform_year, case.window[1])["mean_post"]
            for dropped, att in atts.items():
                rows.append(_row(o, "Synthetic control", {}, estimate=_f(att), spec=f"leave out {dropped}",
                                 section="robustness", planted=p))
        _attempt(problems, f"synthetic control leave-one-out ({o})", loo)
        if case.reform_year - 3 - case.window[0] >= 3:
            def pit() -> None:
                r = sc.placebo_in_time(case.reform_year - 3)
                rows.append(_row(o, "Synthetic control", r, estimate=_f(_get(r, "att", "estimate")),
                                 spec=f"placebo in time: reform moved to {case.reform_year - 3}",
                                 section="robustness", planted=0.0))
            _attempt(problems, f"synthetic control placebo in time ({o})", pit)


def run_case(case: CaseConfig, panel: pd.DataFrame | None = None, panel_source: str | None = None,
             n_permutations: int | None = None, progress: bool = False) -> CaseResult:
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
    status = data_status(panel, case, panel_source)
    wide = data.wide(panel)
    truth = None
    if status["any_simulated"]:
        try:
            truth = data.load_truth()
        except Exception:  # noqa: BLE001 - a user panel may have no truth file
            truth = None
    planted_tab = planted_effects(case, truth)
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    tabs: dict[str, list[pd.DataFrame]] = {k: [] for k in (
        "event_study", "pretrend", "synth_weights", "synth_gap", "synth_stats", "segmented", "perm")}
    df = analysis_frame(wide, case)
    n_perm = n_permutations or case.n_permutations
    outcomes = case.outcomes
    if progress:
        from tqdm.auto import tqdm

        outcomes = tqdm(outcomes, desc=f"{case.case_id}: outcomes")
    caveats: list[str] = []
    for o in outcomes:
        planted = _planted_summary(planted_tab, o, case.reform_year, case.window[1])
        # Estimator warnings (poor synthetic-control fit, ...) become caveats shown in the chapter, not stderr.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _segmented_block(wide, case, o, problems, rows, tabs, planted)
            _did_block(df, case, o, problems, rows, tabs, planted, n_perm)
            sc = _synth_block(df, case, o, problems, rows, tabs, planted)
            _robustness_block(wide, case, o, problems, rows, sc, planted_tab)
        for w in caught:
            if issubclass(w.category, (DeprecationWarning, FutureWarning)) or "IProgress" in str(w.message):
                continue
            msg = f"{indicators.label(o)}: {w.message}"
            if msg not in caveats:
                caveats.append(msg)
    estimates = pd.DataFrame(rows, columns=list(_row("", "", {}).keys()))
    tables = {k: pd.concat(v, ignore_index=True) for k, v in tabs.items() if v}
    tables["trends"] = trends_table(wide, case)
    tables["donors"] = donor_table(case)
    tables["planted"] = planted_tab
    facts = _attempt(problems, "facts register", lambda: province_facts(case))
    if facts is not None:
        tables["facts"] = facts
        tables["claims"] = claims_check(facts, panel, case)
    if case.compare_years:
        tables["compare"] = compare_years(panel, facts, case)
    meta = {"library_version": __version__, "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "n_permutations": n_perm, "panel_source": panel_source, "caveats": caveats}
    return CaseResult(config=case.to_dict(), status=status, estimates=estimates, tables=tables,
                      problems=problems, meta=meta)


# --------------------------------------------------------------------------------------------------
# text built from the numbers


def _num(x: float, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if math.isinf(x):
        return "unbounded" if x > 0 else "minus unbounded"
    return f"{x:,.{digits}f}"


def _unit_words(outcome: str) -> str:
    u = indicators.unit(outcome)
    return "percentage points" if u == "%" else u


def claims_check(facts: pd.DataFrame, panel: pd.DataFrame, case: CaseConfig,
                 rel_tol: float = 0.01) -> pd.DataFrame:
    """Each reported figure for the province beside the panel's value: agrees / differs / not checkable.

    A figure is checkable only against an observed panel value of the same indicator and year; a
    simulated value cannot confirm or contradict a report. Agreement allows ``rel_tol`` (rounding).
    """
    cols = ["year", "indicator", "reported", "unit", "kind", "source", "panel_value", "panel_status", "verdict"]
    if facts is None or facts.empty:
        return pd.DataFrame(columns=cols)
    p = panel[panel[UNIT] == case.province].set_index(["indicator", TIME])
    out = []
    for f in facts.itertuples(index=False):
        ind, year = str(getattr(f, "indicator", "")), getattr(f, "year", None)
        row = {"year": year, "indicator": ind, "reported": getattr(f, "value", None),
               "unit": getattr(f, "unit", ""), "kind": getattr(f, "kind", ""), "source": getattr(f, "source", ""),
               "panel_value": float("nan"), "panel_status": ""}
        try:
            y = int(year)
        except (TypeError, ValueError):
            y = None
        if y is None or (ind, y) not in p.index:
            why = "indicator not in panel" if ind not in set(panel["indicator"]) else "year not in panel"
            row["verdict"] = f"not checkable ({why})"
        else:
            hit = p.loc[(ind, y)]
            hit = hit.iloc[0] if isinstance(hit, pd.DataFrame) else hit
            row["panel_value"], row["panel_status"] = float(hit["value"]), str(hit["status"])
            if row["panel_status"] != "observed":
                row["verdict"] = "not checkable (panel value simulated)"
            elif str(row["kind"]) == "target":
                row["verdict"] = "not checkable (a target, not a reported value)"
            else:
                rep = _f(row["reported"])
                ok = abs(row["panel_value"] - rep) <= rel_tol * max(abs(rep), 1e-9)
                row["verdict"] = "agrees" if ok else "differs"
        out.append(row)
    return pd.DataFrame(out, columns=cols)


def compare_years(panel: pd.DataFrame, facts: pd.DataFrame | None, case: CaseConfig) -> pd.DataFrame:
    """Change between the case's ``compare_years`` in the panel, beside the change the reports imply."""
    y0, y1 = case.compare_years[0], case.compare_years[-1]
    p = panel[panel[UNIT] == case.province]
    out = []
    for o in case.outcomes:
        s = p[p["indicator"] == o].set_index(TIME)
        v0 = _f(s["value"].get(y0)) if y0 in s.index else float("nan")
        v1 = _f(s["value"].get(y1)) if y1 in s.index else float("nan")
        st = ", ".join(sorted(set(s.loc[[y for y in (y0, y1) if y in s.index], "status"]))) if len(s) else ""
        rep0 = rep1 = float("nan")
        if facts is not None and not facts.empty and "indicator" in facts:
            f = facts[(facts["indicator"] == o) & (facts["kind"].astype(str) != "target")]
            for y, name in ((y0, "rep0"), (y1, "rep1")):
                vals = f[pd.to_numeric(f["year"], errors="coerce") == y]["value"]
                if len(vals):
                    if name == "rep0":
                        rep0 = _f(vals.iloc[0])
                    else:
                        rep1 = _f(vals.iloc[0])
        out.append({"outcome": o, "from": y0, "to": y1, "panel_from": v0, "panel_to": v1,
                    "panel_change": v1 - v0, "panel_status": st, "reported_from": rep0, "reported_to": rep1,
                    "reported_change": rep1 - rep0})
    return pd.DataFrame(out)


def data_status_text(status: dict[str, Any], case_label: str = "this chapter") -> str:
    """Markdown for the data-status box: what is observed, what simulated, and how to read the chapter."""
    n_sim, n_obs = status.get("simulated", 0), status.get("observed", 0)
    src = status.get("panel_source", "default panel")
    lines = [f"**Panel:** {src}. Of the values {case_label} uses, {n_obs:,} are observed and {n_sim:,} simulated."]
    for o, v in status.get("by_outcome", {}).items():
        lines.append(f"- {indicators.label(o)}: treated province {v['province_observed']} observed / "
                     f"{v['province_simulated']} simulated values; all provinces {v['observed']:,} observed / "
                     f"{v['simulated']:,} simulated.")
    if status.get("all_simulated"):
        lines.append("\n**Every value here is simulated.** The panel was generated from a documented model "
                     "with reform effects planted in it, so the estimates below show whether the methods "
                     "recover a known effect. They demonstrate the method; they are **not** estimates of the "
                     "reform's real effect. Each estimate is shown beside the planted effect.")
    elif status.get("any_simulated"):
        lines.append("\n**Some values are simulated.** Estimates mix observed and simulated values and cannot be "
                     "read as findings about the reform; the tables mark which values are which.")
    else:
        lines.append("\nAll values are observed (imported by the user); estimates describe the data as imported.")
    return "\n".join(lines)


def interpretation(estimates: pd.DataFrame, outcome: str, simulated: bool, alpha: float = 0.05) -> str:
    """A short hedged paragraph for one outcome from the main estimates: direction, size, CI, agreement.

    The wording follows the numbers: "consistent with an increase" only when the interval excludes zero,
    "no clear effect" otherwise; method agreement is judged on signs and overlapping intervals. With
    simulated data the paragraph compares each estimate with the planted effect and says that this
    demonstrates the method, not the reform's real effect.
    """
    e = estimates[(estimates["outcome"] == outcome) & (estimates["section"] == "main")
                  & estimates["method"].isin(ATT_METHODS)].dropna(subset=["estimate"])
    label = indicators.label(outcome)
    if e.empty:
        return f"No average-effect estimate is available for {label.lower()}."
    unit = _unit_words(outcome)
    e = e.drop_duplicates("method", keep="last")
    parts = []
    for r in e.itertuples(index=False):
        ci = "" if math.isnan(r.ci_low) else f" ({100 * (1 - alpha):.0f}% CI {_num(r.ci_low)} to {_num(r.ci_high)})"
        parts.append(f"{r.method} {_num(r.estimate)}{ci}")
    signs = np.sign(e["estimate"].to_numpy())
    with_ci = e.dropna(subset=["ci_low", "ci_high"])
    # Intervals whose estimator flagged its own standard errors (one treated cluster: CRV1, analytic IF)
    # are not used for the verdict when design-based intervals (randomization test, placebo variance) exist.
    flagged_ci = with_ci["warnings"].fillna("").astype(str).str.len() > 0
    judged = with_ci[~flagged_ci] if (~flagged_ci).any() else with_ci
    which = "design-based " if len(judged) < len(with_ci) else ""
    excl = judged[(judged["ci_low"] > 0) | (judged["ci_high"] < 0)]
    same_sign = bool(np.all(signs == signs[0])) and signs[0] != 0
    direction = "increase" if signs[0] > 0 else "decrease"
    article = "an" if direction == "increase" else "a"
    mean = float(e["estimate"].mean())
    if same_sign and len(excl) == len(judged) and len(judged) > 0:
        head = (f"For {label.lower()}, all {len(e)} methods point to {article} {direction} after the reform, of about "
                f"{_num(abs(mean))} {unit} on average, and every {which}interval excludes zero"
                + (" (randomization test or placebo variance)" if which else "") + ".")
    elif same_sign:
        head = (f"For {label.lower()}, the methods agree on the sign ({article} {direction} of about {_num(abs(mean))} "
                f"{unit} on average), but {len(judged) - len(excl)} of {len(judged)} {which}intervals include zero, "
                "so the evidence for an effect is weak.")
    else:
        head = (f"For {label.lower()}, the methods disagree on the direction of the change, so the data give no "
                "clear effect.")
    text = head + " Estimates: " + "; ".join(parts) + "."
    if "p_value" in e and e["method"].eq("Synthetic control").any():
        p = e.loc[e["method"] == "Synthetic control", "p_value"].iloc[0]
        if not math.isnan(p):
            text += f" The synthetic-control placebo p-value is {_num(p, 3)}."
    twfe = e[(e["method"] == "TWFE DiD") & e["inference"].astype(str).str.startswith("randomization")]
    if len(twfe) and not math.isnan(twfe["p_value"].iloc[0]):
        text += f" The randomization-test p-value of the TWFE estimate is {_num(twfe['p_value'].iloc[0], 3)}."
    flagged = e[e["warnings"].fillna("").astype(str).str.len() > 0]["method"].tolist()
    if flagged:
        text += (f" The intervals of {', '.join(flagged)} rest on standard errors that are unreliable with one "
                 "reforming province (see the warnings)"
                 + (", so the verdict above does not rely on them" if which else "")
                 + "; the randomization-test interval is the safer guide.")
    if simulated:
        planted = e["planted"].dropna()
        if len(planted):
            pl = float(planted.iloc[0])
            cov = [r.method for r in with_ci.itertuples(index=False) if r.ci_low <= pl <= r.ci_high]
            text += (f" The planted average effect in the simulated panel is {_num(pl)} {unit}; "
                     f"{len(cov)} of {len(with_ci)} intervals contain it"
                     + (f" ({', '.join(cov)})" if cov else "") + ".")
        text += (" Because the data are simulated, this demonstrates how the methods behave; it is not an "
                 "estimate of the reform's real effect.")
    return text


PRIMER_ONE_TREATED = "/primer/06_one_treated_province"


def pretrend_text(row: Any, label: str, alpha: float = 0.05) -> str:
    """One hedged sentence on the pre-trend test of one outcome (a row of the ``pretrend`` table).

    With fewer than 2 treated provinces the verdict rests on the placebo p-value (Conley and Taber 2011
    style), because the CRV1 F-test has one treated cluster and over-rejects; the F-test p-value is still
    shown. Either way, not rejecting is weak evidence for parallel trends (Roth 2022).
    """
    get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
    f_p, pl_p = _f(get("p_value")), _f(get("placebo_p_value"))
    n_treated = int(_f(get("n_treated", 1)) if not math.isnan(_f(get("n_treated", 1))) else 1)
    n_asg = int(_f(get("n_assignments", 0)) or 0)
    use_placebo = n_treated < 2 and not math.isnan(pl_p)
    p = pl_p if use_placebo else f_p
    if math.isnan(p):
        return f"{label}: the pre-trend test could not be computed."
    verdict = ("no evidence against parallel pre-trends at the 5% level (weak evidence for them)" if p >= alpha
               else "evidence of diverging pre-trends: read the DiD estimates with caution")
    head = f"{label}: joint pre-trend statistic F = {_num(_f(get('statistic')))}; "
    if use_placebo:
        return (head + f"placebo p-value {_num(pl_p, 3)} (rank among {n_asg} assignments of the reform to "
                f"provinces), CRV1 F-test p-value {_num(f_p, 3)}. On the placebo p-value: {verdict}.")
    tail = "" if math.isnan(pl_p) else f"; placebo p-value {_num(pl_p, 3)}"
    return head + f"F-test p-value {_num(f_p, 3)}{tail}: {verdict}."


def pretrend_note(n_treated: int) -> str:
    """Why the chapter reads the placebo p-value (MyST Markdown; links the primer chapter)."""
    if n_treated >= 2:
        return ("The F-test uses cluster-robust errors; the placebo p-value ranks the statistic among "
                "reassignments of the reform to comparison provinces.")
    return ("With one reforming province the F-test's cluster-robust variance rests on a single treated "
            "cluster and is far too small, so the test rejects parallel pre-trends too often (see "
            f"{{doc}}`{PRIMER_ONE_TREATED}`); the placebo p-value instead ranks the same statistic among the values "
            "it takes when each comparison province is treated as if it had reformed (Conley and Taber 2011 "
            "style), and the verdict below rests on it.")


# Phrases of generated text linked to book/glossary.md on first use (glossary headword on the right).
# Longer phrases first so "tight county medical communities" wins over "county medical communities".
GLOSSARY_PHRASES: tuple[tuple[str, str], ...] = (
    (r"tight(?:, high-quality)? (?:county |district and county )?(?:medical )?communit(?:y|ies)",
     "紧密型县域医共体"),
    (r"county medical sub-centres?", "县域医疗次中心"),
    (r"(?:district and )?county medical (?:and health service )?communit(?:y|ies)", "医共体"),
    (r"tiered care", "分级诊疗"),
    (r"county-internal visit rate", "县域内就诊率"),
    (r"primary-care share of visits", "基层诊疗量占比"),
    (r"first-contact signing", "首诊式签约"),
    (r"first contact at primary care", "基层首诊"),
    (r"family-doctor (?:signing|contract services)", "家庭医生签约"),
    (r"county-hired, township-used", "县聘乡用"),
    (r"(?:district and county )?fund pools?", "资金池"),
    (r"remote (?:[a-zA-Z]+, )*(?:[a-zA-Z]+ and )?[a-zA-Z]+ diagnosis centres?", "远程诊疗中心"),
    (r"strengthening-the-base programme", "强基工程"),
    (r"Sanming reform", "三明医改"),
    (r"township health centres?", "乡镇卫生院"),
    (r"village clinics?", "村卫生室"),
    (r"general practitioners?", "全科医生"),
)
_CJK_TERMS = ("紧密型县域医共体", "县域医疗次中心", "县域内就诊率", "基层诊疗量占比", "家庭医生签约", "首诊式签约",
              "基层首诊", "县聘乡用", "远程诊疗中心", "强基工程", "三明医改", "乡镇卫生院", "村卫生室", "全科医生",
              "分级诊疗", "资金池", "医共体")


def link_glossary(text: str, seen: set[str] | None = None) -> str:
    """Link the first use of each glossary term in MyST ``text`` with a ``{term}`` role.

    ``seen`` (shared across the calls of one page) holds the headwords already linked, so a term is
    linked once per page. Text inside backticks or existing roles is left alone. The case chapter's
    Markdown outputs are rendered as MyST (``nb_render_markdown_format: myst``), so the role resolves.
    """
    seen = set() if seen is None else seen
    pieces = re.split(r"(\{[a-z]+\}`[^`]*`|`[^`]*`)", text)  # keep roles and code spans untouched
    pats = [(re.compile(pat, re.IGNORECASE), head) for pat, head in GLOSSARY_PHRASES]
    pats += [(re.compile(re.escape(t)), t) for t in _CJK_TERMS]
    for i in range(0, len(pieces), 2):
        chunk, slots = pieces[i], []
        for rx, head in pats:
            if head in seen:
                continue
            m = rx.search(chunk)
            if not m:
                continue
            seen.add(head)
            phrase = m.group(0)
            role = f"{{term}}`{phrase}`" if phrase == head else f"{{term}}`{phrase} <{head}>`"
            slots.append(role)
            chunk = chunk[:m.start()] + f"\x00{len(slots) - 1}\x00" + chunk[m.end():]
        for k, role in enumerate(slots):
            chunk = chunk.replace(f"\x00{k}\x00", role)
        pieces[i] = chunk
    return "".join(pieces)


def reform_brief(reform_id: str) -> dict[str, Any]:
    """The reform's short description and its sources from ``data/reform_briefs.yml`` (empty if none)."""
    import yaml

    from ..paths import DATA

    path = DATA / "reform_briefs.yml"
    briefs = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    return dict((briefs or {}).get(reform_id) or {})


def year_text(config: dict[str, Any]) -> str:
    """One sentence on where the reform year comes from (stated, inferred, assumed or user-given)."""
    y, src, why = config["reform_year"], config["reform_year_source"], config.get("reform_year_reasoning", "")
    if src.startswith("policy (stated)"):
        return f"The reform year used is **{y}**, as stated in the source. {why}"
    if src.startswith("policy (inferred)"):
        return f"The reform year used is **{y}**, **inferred** (not stated) in data/policies.csv: {why}"
    if src == "user":
        return f"The reform and its year (**{y}**) are **user-specified**: {why}"
    alt = ", ".join(str(v) for v in config.get("robustness_years", []))
    return (f"The reform year used is **{y}**, an **assumption** of this case (the source gives no year): {why} "
            f"Part 7 re-estimates with {alt}.")


def short_inference(inference: str, n_assignments: int | None = None) -> str:
    """A short table label for an inference description ("CRV1, 24 clusters", "randomization (24 ...)")."""
    s = str(inference or "")
    m = re.match(r"CRV1 by \w+ \((\d+) clusters", s)
    if m:
        return f"CRV1, {m.group(1)} clusters"
    if s.startswith("randomization"):
        return f"randomization ({n_assignments} assignments)" if n_assignments else "randomization"
    if s.startswith("analytic influence function"):
        return "analytic IF"
    if s.startswith("placebo variance"):
        return "placebo variance"
    if s.startswith("placebo in space"):
        return "placebo rank (RMSPE)"
    if s.startswith("OLS, Newey-West"):
        return "Newey-West HAC"
    return s if len(s) <= 30 else s[:28] + "…"


INFERENCE_NOTES = {
    "CRV1": "cluster-robust (CRV1) standard errors clustered by province, t distribution with G - 1 degrees of "
            "freedom; unreliable with one reforming province (one treated cluster; Conley and Taber 2011, "
            "MacKinnon and Webb 2017)",
    "randomization": "randomization test: the reform's timing is reassigned to each province in turn (placebo in "
                     "space, all assignments, the real one included); the p-value is the share of assignments "
                     "with an estimate at least as large in absolute value, and the interval inverts the test "
                     "under a constant effect",
    "analytic IF": "analytic influence-function standard errors of Callaway and Sant'Anna (2021), normal "
                   "approximation; they rest on the one treated province's deviations and are unreliable here",
    "placebo variance": "placebo variance of Arkhangelsky et al. (2021, Algorithm 4)",
    "placebo rank": "rank of the province's post/pre-reform RMSPE ratio among placebo runs with each "
                    "comparison province treated as if it had reformed (Abadie, Diamond and Hainmueller 2010)",
    "Newey-West HAC": "OLS with Newey-West autocorrelation-robust standard errors",
}


def inference_note(pairs: Any) -> str:
    """Markdown note under a table: each short inference label with its full explanation."""
    seen, lines = set(), []
    for short, full in pairs:
        key = next((k for k in INFERENCE_NOTES if str(short).startswith(k)), None)
        if short in seen:
            continue
        seen.add(short)
        lines.append(f"*{short}*: {INFERENCE_NOTES[key] if key else full}.")
    return "**Inference column.** " + " ".join(lines) if lines else ""


def weights_table(weights: pd.DataFrame, labels: dict[str, str] | None = None, tol: float = 1e-3) -> pd.DataFrame:
    """Synthetic-control donor weights as one table: a row per donor, a column per outcome (NaN if ~0).

    Donors with weight above ``tol`` in no outcome are dropped; rows are sorted by the largest weight.
    """
    w = weights.pivot_table(index="donor", columns="outcome", values="weight", aggfunc="sum")
    order = list(dict.fromkeys(weights["outcome"]))
    w = w[[o for o in order if o in w.columns]]
    w = w.where(w > tol)
    w = w.dropna(how="all")
    w = w.loc[w.max(axis=1).sort_values(ascending=False).index]
    w.columns = [(labels or {}).get(c, c) for c in w.columns]
    return w.rename_axis("comparison province").reset_index()


def claims_display(claims: pd.DataFrame, outcomes: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """The claims-check table with labels, printed values and short sources; ``_related`` marks the rows
    on the chapter's outcomes and related measures (shown first; the rest can be collapsed)."""
    c = claims.copy()
    ind = c["indicator"].astype(str)

    def label(i: str) -> str:
        try:
            return str(indicators.label(i))
        except Exception:  # noqa: BLE001 - an id missing from the vocabulary is shown as it is
            return i

    out = pd.DataFrame({
        "Figure": [label(i) for i in ind], "Year": [_year_words(y) for y in c["year"]],
        "Reported": [printed_value(v) for v in c["reported"]], "Unit": c["unit"].fillna("").astype(str),
        "Source": [short_source(s) for s in c["source"]],
        "Panel value": [_num(_f(v), 2) for v in c["panel_value"]],
        "Panel status": c["panel_status"].fillna("").astype(str).replace("", "—"),
        "Verdict": c["verdict"].astype(str).str.replace("not checkable (indicator not in panel)",
                                                        "not checkable: no panel series", regex=False)
                   .str.replace("not checkable (panel value simulated)", "not checkable: simulated", regex=False)
                   .str.replace("not checkable (year not in panel)", "not checkable: year not in panel",
                                regex=False),
        "_related": [is_related(i, outcomes) for i in ind],
        "_rank": [_theme_rank(i, list(outcomes)) for i in ind.str.replace(r"_change$", "", regex=True)],
    })
    out = out.sort_values("_rank", kind="stable").drop(columns="_rank")
    return out.reset_index(drop=True)


def summary_table(result: CaseResult) -> pd.DataFrame:
    """The main estimates, one row per outcome and method, with the planted effect when simulated."""
    e = result.main_estimates()
    cols = ["outcome", "method", "estimate", "ci_low", "ci_high", "p_value", "inference"]
    if result.simulated:
        cols.append("planted")
    t = e[cols].copy()
    t["outcome"] = t["outcome"].map(indicators.label)
    t["inference"] = [short_inference(i) for i in t["inference"]]  # full wording: inference_note
    return t


# --------------------------------------------------------------------------------------------------
# part 7: the robustness checks as compact tables (presentation only; the saved estimates keep every row)

_CHECK_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"placebo reform year (\d{4})", r"placebo year \1"),
    (r"alternative reform year (\d{4})", r"reform year \1"),
    (r"dropping (\d{4})", r"drop \1"),
    (r"placebo in time: reform moved to (\d{4})", r"placebo in time \1"),
    (r"leave out (.+)", r"leave out \1"),
)


def short_check(spec: str) -> str:
    """A short table label for a robustness spec ("placebo reform year 2015 (pre-period only)" ->
    "placebo year 2015"); a spec of unknown form is returned as it is."""
    s = str(spec)
    for pat, rep in _CHECK_PATTERNS:
        m = re.match(pat, s)
        if m:
            return m.expand(rep)
    return s


def ci_text(low: Any, high: Any, digits: int = 3) -> str:
    """A confidence interval as one cell, "[a, b]"; "—" when either bound is missing."""
    lo, hi = _f(low), _f(high)
    if math.isnan(lo) or math.isnan(hi):
        return "—"
    return f"[{_num(lo, digits)}, {_num(hi, digits)}]"


def p_text(p: Any) -> str:
    """A p-value as printed in tables: three decimals, "<0.001" below that, "—" when missing."""
    v = _f(p)
    if math.isnan(v):
        return "—"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


@dataclass
class RobustnessView:
    """Part 7 for one outcome: the compact ``table`` (leave-one-out summarised in one row) and the full
    leave-one-out list ``loo`` (one row per dropped donor), both as printed strings."""

    outcome: str
    label: str
    table: pd.DataFrame
    loo: pd.DataFrame


def robustness_views(estimates: pd.DataFrame, labels: dict[str, str] | None = None,
                     simulated: bool = True, digits: int = 3) -> list[RobustnessView]:
    """The robustness rows of ``estimates`` as one compact table per outcome.

    Columns: check, method, estimate, 95% CI ("[a, b]"), p and, with simulated data, planted. The
    synthetic-control leave-one-out rows become one row, "leave one donor out (k donors)", whose estimate
    cell gives the range ("x to y"); the full list is in ``loo``. Outcomes keep their order in
    ``estimates``; a missing planted effect prints as "—".
    """
    r = estimates[estimates["section"] == "robustness"]
    views = []
    for o in dict.fromkeys(r["outcome"]):
        sub = r[r["outcome"] == o]
        is_loo = sub["spec"].astype(str).str.startswith("leave out ")
        rows: list[dict[str, str]] = []

        def add(check: str, method: str, estimate: str, ci: str, p: str, planted: Any,
                rows: list[dict[str, str]] = rows) -> None:
            row = {"check": check, "method": method, "estimate": estimate, "95% CI": ci, "p": p}
            if simulated:
                row["planted"] = _num(_f(planted), digits)
            rows.append(row)

        loo_added = False
        for x in sub.itertuples(index=False):
            if str(x.spec).startswith("leave out "):
                if loo_added:
                    continue
                loo_added = True
                vals = sub.loc[is_loo, "estimate"].astype(float)
                rng = f"{_num(vals.min(), digits)} to {_num(vals.max(), digits)}"
                pl = sub.loc[is_loo, "planted"].astype(float).dropna()
                add(f"leave one donor out ({len(vals)} donors)", str(x.method), rng, "—", "—",
                    pl.iloc[0] if len(pl) else float("nan"))
                continue
            add(short_check(x.spec), str(x.method), _num(_f(x.estimate), digits), ci_text(x.ci_low, x.ci_high, digits),
                p_text(x.p_value), x.planted)
        loo = pd.DataFrame({"donor left out": sub.loc[is_loo, "spec"].astype(str).str.removeprefix("leave out "),
                            "estimate": [_num(_f(v), digits) for v in sub.loc[is_loo, "estimate"]]})
        views.append(RobustnessView(outcome=str(o), label=(labels or {}).get(o, str(o)),
                                    table=pd.DataFrame(rows), loo=loo.reset_index(drop=True)))
    return views


ROBUSTNESS_TABLE_CSS = "pc-table pc-robustness"


def robustness_html(estimates: pd.DataFrame, labels: dict[str, str] | None = None, simulated: bool = True,
                    digits: int = 3) -> str:
    """Part 7 as HTML: per outcome a captioned table (marked SIMULATED DATA when simulated) whose rows are
    grouped under a header row per method (so the table needs no method column and fits a phone), then the
    full leave-one-out list in a collapsed ``<details>``. Empty string when there are no checks."""
    from html import escape

    mark = "SIMULATED DATA" if simulated else "observed data"
    parts = []
    for v in robustness_views(estimates, labels, simulated, digits):
        parts.append(grouped_html(v.table, "method", f"{v.label} — robustness checks — {mark}"))
        if len(v.loo):
            summary = (f"Leave-one-out estimates for {v.label.lower()}: each comparison province with positive "
                       f"weight dropped in turn ({len(v.loo)} donors; {mark})")
            parts.append(f"<details class='pc-details'><summary>{escape(summary)}</summary>\n"
                         + v.loo.to_html(index=False, escape=True, classes="pc-table", border=0)
                         + "\n</details>")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# parts 2, 4, 5, 8 and 9: the other estimate tables in the same compact form (presentation only)


def grouped_html(table: pd.DataFrame, group: str, caption: str, css: str = ROBUSTNESS_TABLE_CSS) -> str:
    """A table of printed strings as HTML with a header row per value of ``group`` (in order of first
    appearance) instead of a ``group`` column, so it needs one column less and fits a phone. A cell
    holding a line break ("\\n") shows its second part as a smaller second line (``pc-sub``)."""
    from html import escape

    def cell(x: Any) -> str:
        first, _, sub = str(x).partition("\n")
        return escape(first) + (f"<span class='pc-sub'>{escape(sub)}</span>" if sub else "")

    cols = [c for c in table.columns if c != group]
    head = "".join(f"<th>{escape(str(c))}</th>" for c in cols)
    body = []
    for g in dict.fromkeys(table[group]):
        body.append(f"<tr class='pc-group'><th colspan='{len(cols)}' scope='colgroup'>{escape(str(g))}</th></tr>")
        for row in table[table[group] == g][cols].itertuples(index=False):
            body.append("<tr>" + "".join(f"<td>{cell(x)}</td>" for x in row) + "</tr>")
    return (f"<table class='{css}'><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            "<tbody>" + "".join(body) + "</tbody></table>")


_METHOD_SHORT = {"Event study (post average)": "event study (post avg.)", "Callaway-Sant'Anna": "Callaway–Sant'Anna",
                 "Synthetic control": "synthetic control", "Synthetic DiD": "synthetic DiD"}


def short_method(method: str) -> str:
    """A short table label for a method ("Segmented: level change" -> "level change"); others as they are."""
    s = str(method)
    return s.removeprefix("Segmented: ") if s.startswith("Segmented: ") else _METHOD_SHORT.get(s, s)


def estimate_table(rows: pd.DataFrame, labels: dict[str, str] | None = None, simulated: bool = True,
                   digits: int = 3, n_assignments: dict[str, int] | None = None,
                   with_inference: bool = False, ci: bool = True) -> pd.DataFrame:
    """Estimate rows as printed strings: outcome (label), method (short; with ``with_inference`` the short
    inference label on a second line), estimate, 95% CI ("[a, b]"), p and, when simulated, planted."""
    out = []
    for x in rows.itertuples(index=False):
        m = short_method(x.method)
        if with_inference:
            m += "\n" + short_inference(x.inference, (n_assignments or {}).get(x.outcome))
        r = {"outcome": (labels or {}).get(x.outcome, str(x.outcome)), "method": m,
             "estimate": _num(_f(x.estimate), digits)}
        if ci:
            r["95% CI"], r["p"] = ci_text(x.ci_low, x.ci_high, digits), p_text(x.p_value)
        if simulated:
            r["planted"] = _num(_f(x.planted), digits)
        out.append(r)
    cols = ["outcome", "method", "estimate"] + (["95% CI", "p"] if ci else []) + (["planted"] if simulated else [])
    return pd.DataFrame(out, columns=cols)


def _mark(simulated: bool) -> str:
    return "SIMULATED DATA" if simulated else "observed data"


def planted_html(estimates: pd.DataFrame, labels: dict[str, str] | None = None, digits: int = 3) -> str:
    """Part 2: each main estimate beside the effect planted in the simulated panel, grouped by outcome."""
    e = estimates[estimates["section"] == "main"]
    if e.empty:
        return ""
    t = estimate_table(e, labels, simulated=True, digits=digits, ci=False)
    return grouped_html(t, "outcome", f"Each estimate beside the effect planted in the simulated panel — {_mark(True)}")


def segmented_html(estimates: pd.DataFrame, outcome: str, label: str, simulated: bool = True,
                   digits: int = 3) -> str:
    """Part 4: the segmented-regression terms of one outcome (level change, slope change, effect)."""
    e = estimates[(estimates["outcome"] == outcome) & estimates["method"].astype(str).str.startswith("Segmented")]
    if e.empty:
        return ""
    t = estimate_table(e, simulated=simulated, digits=digits).rename(columns={"method": "term"})
    return grouped_html(t.assign(outcome="Segmented regression (Newey-West HAC)"), "outcome",
                        f"{label} — {_mark(simulated)}")


def did_html(rows: pd.DataFrame, labels: dict[str, str] | None = None, simulated: bool = True,
             n_assignments: dict[str, int] | None = None, digits: int = 3) -> str:
    """Part 5: the DiD estimates grouped by outcome, the inference used under each method's name."""
    if rows.empty:
        return ""
    t = estimate_table(rows, labels, simulated, digits, n_assignments, with_inference=True)
    return grouped_html(t, "outcome", f"DiD estimates — {_mark(simulated)}")


def summary_html(result: CaseResult, labels: dict[str, str] | None = None, digits: int = 3) -> str:
    """Part 9: all main estimates grouped by outcome, the short inference label under each method."""
    e = result.main_estimates()
    if e.empty:
        return ""
    t = estimate_table(e, labels or {o: indicators.label(o) for o in e["outcome"]}, result.simulated, digits,
                       with_inference=True)
    return grouped_html(t, "outcome", f"All main estimates — {_mark(result.simulated)}")


def compare_html(compare: pd.DataFrame, labels: dict[str, str] | None = None, digits: int = 2) -> str:
    """Part 8: the change between two years per outcome, panel and reports on two rows (from, to, change).

    The panel row says whether its values are simulated; a missing reported value prints as "—".
    """
    if compare is None or compare.empty:
        return ""
    c0 = compare.iloc[0]
    y0, y1 = int(c0["from"]), int(c0["to"])
    rows = []
    for x in compare.itertuples(index=False):
        lab = (labels or {}).get(x.outcome, str(x.outcome))
        rows.append({"outcome": lab, "series": f"panel ({x.panel_status})", str(y0): _num(_f(x.panel_from), digits),
                     str(y1): _num(_f(x.panel_to), digits), "change": _num(_f(x.panel_change), digits)})
        rows.append({"outcome": lab, "series": "reported", str(y0): _num(_f(x.reported_from), digits),
                     str(y1): _num(_f(x.reported_to), digits), "change": _num(_f(x.reported_change), digits)})
    sim = compare["panel_status"].astype(str).str.contains("simulated").any()
    return grouped_html(pd.DataFrame(rows), "outcome",
                        f"Change {y0} to {y1}: panel and reports — {_mark(bool(sim))}")
