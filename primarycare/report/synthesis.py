"""The cross-province chapter's tables, read from saved case results by the same wording rules."""

from __future__ import annotations

import math

import pandas as pd

from ..case.result import CaseResult
from . import fmt, rules
from .i18n import N_, _
from .words import method_name

VERDICT_WORDS = {"all_reject": N_("evidence of an effect"), "some_reject": N_("mixed evidence"),
                 "none_reject": N_("no evidence of an effect"), "conflict": N_("conflicting results"),
                 "no_inference": N_("no valid interval"), "no_estimates": N_("not estimated")}


def forest_frame(results: dict[str, CaseResult], outcome: str) -> pd.DataFrame:
    """One row per case and distinct cross-province method for ``outcome``: estimate, its design-based
    interval (NaN when the method has none: drawn without one), planted effect where simulated."""
    rows = []
    for r in results.values():
        e = r.main_estimates()
        e = e[(e["outcome"] == outcome) & e["method"].isin(rules.CROSS_PROVINCE) & (e["same_as"].fillna("") == "")]
        for x in e.itertuples(index=False):
            design = rules.shows_interval_as_main(x._asdict())
            lo, hi = (x.ci_low, x.ci_high) if design else (math.nan, math.nan)
            # an unbounded interval cannot be drawn: it is listed, not plotted
            if design and (math.isinf(lo) or math.isinf(hi)):
                lo = hi = math.nan
            rows.append({"label": f"{fmt.province(r.config['province'])} · {method_name(x.method)}", "estimate": x.estimate,
                         "ci_low": lo, "ci_high": hi,
                         "planted": x.planted if r.outcome_simulated(outcome) else math.nan})
    return pd.DataFrame(rows, columns=["label", "estimate", "ci_low", "ci_high", "planted"])


def verdict_table(results: dict[str, CaseResult]) -> pd.DataFrame:
    """Per case and outcome: the verdict (rules.effect_verdict), the estimate range of the distinct
    methods, tests rejecting no effect, and (simulated) how many design-based intervals hold the planted
    effect."""
    rows = []
    for r in results.values():
        alpha = float(r.meta.get("alpha", 0.05))
        for o in r.config["outcomes"]:
            v = rules.effect_verdict(r.estimates, o, alpha)
            row = {_("province"): fmt.province(r.config["province"]), _("outcome"): fmt.label(o),
                   _("data"): _("simulated") if r.outcome_simulated(o) else _("observed"),
                   _("verdict"): _(VERDICT_WORDS[v.code]),
                   _("estimates"): "—" if v.code == "no_estimates" else _("{lo} to {hi}").format(
                       lo=fmt.num(v.low), hi=fmt.num(v.high)),
                   _("tests rejecting no effect"): f"{v.n_reject} / {v.n_tests}",
                   _("methods counted"): len(v.counted)}
            if r.outcome_simulated(o) and not math.isnan(v.planted):
                row[_("planted")] = fmt.num(v.planted)
                row[_("intervals holding the planted effect")] = f"{len(v.covered)} / {v.n_intervals}"
            rows.append(row)
    return pd.DataFrame(rows)
