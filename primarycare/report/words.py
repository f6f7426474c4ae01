"""Sentences a case chapter writes, built from a saved :class:`~primarycare.case.result.CaseResult`.

Every verdict comes from :mod:`primarycare.report.rules` (codes), every number from the result, and
every sentence goes through :func:`primarycare.report.i18n._` as a whole sentence with named
placeholders. No function here computes an estimate.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..case.result import CaseResult
from . import fmt, rules
from .i18n import N_, _

PRIMER_ONE_TREATED = "/primer/06_one_treated_province"

METHOD_NAMES = {
    "TWFE DiD": N_("TWFE DiD"),
    "Event study (post average)": N_("event study (post-reform average)"),
    "Callaway-Sant'Anna": N_("Callaway–Sant'Anna"),
    "Synthetic control": N_("synthetic control"),
    "Synthetic DiD": N_("synthetic DiD"),
}


def method_name(method: str) -> str:
    """A method's name in running text."""
    return _(METHOD_NAMES.get(str(method), str(method)))


def lower_first(text: str) -> str:
    """"Primary-care share" -> "primary-care share" inside a sentence; "GPs per 10,000" stays."""
    return text[:1].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return _("{items} and {last}").format(items=", ".join(items[:-1]), last=items[-1])


# --------------------------------------------------------------------------------------------------
# data status


def data_status(result: CaseResult) -> tuple[str, str, str]:
    """The data-status box: (admonition class, title, Markdown body)."""
    st = result.status
    n_sim, n_obs = int(st.get("simulated", 0)), int(st.get("observed", 0))
    src = st.get("panel_source") or "default"
    src_words = _("the project panel (data/panel/)") if src == "default" else _("the file {src}").format(src=src)
    lines = [_("**Panel:** {src}. Of the values this chapter uses, {n_obs:,} are observed and {n_sim:,} "
               "simulated.").format(src=src_words, n_obs=n_obs, n_sim=n_sim)]
    for o, v in st.get("by_outcome", {}).items():
        lines.append(_("- {label}: the province's series is {tstat}; the comparison provinces' series are "
                       "{dstat}.").format(label=fmt.label(o), tstat=_status_word(v["treated_status"]),
                                         dstat=_status_word(v["donor_status"])))
    if st.get("all_simulated"):
        lines.append("\n" + _("**Every value here is simulated.** The panel was generated from a documented model "
                              "with reform effects planted in it, so the estimates below show whether the methods "
                              "recover a known effect. They demonstrate the methods; they are **not** estimates "
                              "of the reform's real effect. Each estimate is shown beside the planted effect."))
        return "warning", _("Simulated data: what the numbers in this chapter are"), "\n".join(lines)
    if st.get("any_simulated"):
        lines.append("\n" + _("**Some values are observed and some simulated.** Methods that compare provinces "
                              "run only for outcomes where the province and its comparisons are all observed or "
                              "all simulated; observed and simulated values are never compared as if both were "
                              "real. Results on simulated series demonstrate the methods only."))
        return "warning", _("Observed and simulated data: what the numbers in this chapter are"), "\n".join(lines)
    lines.append("\n" + _("All values are observed (imported by the user); the estimates describe the data as "
                          "imported."))
    return "note", _("Observed data: what the numbers in this chapter are"), "\n".join(lines)


def _status_word(code: str) -> str:
    return {"observed": _("observed"), "simulated": _("simulated"), "mixed": _("partly observed, partly simulated"),
            "none": _("missing")}.get(code, code)


def skipped(result: CaseResult, outcome: str) -> str:
    """Why cross-province methods did not run for ``outcome`` (empty when they did)."""
    for s in result.meta.get("skipped", []):
        if s["outcome"] == outcome:
            return _("{label}: the province's series is {t} but the comparison provinces' series are {d}. "
                     "Comparing them would set observed values against simulated ones as if both were real, so "
                     "the methods that compare provinces (DiD, event study, synthetic control, synthetic DiD) "
                     "were not run; the segmented trend model of the province alone was.").format(
                label=fmt.label(outcome), t=_status_word(s["treated_status"]), d=_status_word(s["donor_status"]))
    return ""


# --------------------------------------------------------------------------------------------------
# the answer for one outcome


def effect(result: CaseResult, outcome: str) -> str:
    """The reading of one outcome's cross-province estimates (rules 1-4) and, when simulated, the
    comparison with the planted effect."""
    alpha = float(result.meta.get("alpha", 0.05))
    v = rules.effect_verdict(result.estimates, outcome, alpha)
    lab, unit = fmt.label(outcome), fmt.effect_unit_words(outcome)
    if v.code == "no_estimates":
        return skipped(result, outcome) or _("No cross-province estimate is available for {label}.").format(label=lab)
    k = len(v.counted)
    rng = (_("{low} to {high} {unit}").format(low=fmt.num(v.low), high=fmt.num(v.high), unit=unit) if k > 1
           else _("{est} {unit}").format(est=fmt.num(v.low), unit=unit))
    tests = v.n_tests
    head = {
        "all_reject": _("For {label}, all {k} methods estimate {article} {direction} ({rng}), and each of the {n} "
                        "design-based tests rejects no effect at the {level}% level: evidence of {article} "
                        "{direction}."),
        "some_reject": _("For {label}, the {k} methods estimate {rng}. Design-based tests that reject no effect at the "
                         "{level}% level: {r} of {n}. The evidence depends on the method."),
        "none_reject": _("For {label}, the {k} methods estimate {rng}, but none of the {n} design-based tests "
                         "rejects no effect at the {level}% level: no evidence of an effect; the data cannot "
                         "distinguish the change from zero."),
        "conflict": _("For {label}, design-based tests reject no effect in opposite directions ({rng}): the methods "
                      "conflict and the data give no clear answer."),
        "no_inference": _("For {label}, the {k} methods estimate {rng}, but no design-based interval or test is "
                          "available, so nothing can be said about whether the change differs from zero."),
    }[v.code]
    direction = {"increase": _("increase"), "decrease": _("decrease")}.get(v.direction, _("change"))
    article = _("an") if v.direction == "increase" else _("a")
    text = head.format(label=lower_first(lab), k=k,
                       article=article, direction=direction, rng=rng, n=tests, r=v.n_reject,
                       level=round(100 * alpha))
    parts = []
    for t in v.tests:
        if t.kind == "interval":
            parts.append(_("{method} {est} {ci}").format(method=method_name(t.method), est=fmt.num(t.estimate),
                                                          ci=fmt.ci(t.ci_low, t.ci_high)))
        else:
            parts.append(_("{method} {est} (placebo p = {p}; no interval)").format(
                method=method_name(t.method), est=fmt.num(t.estimate), p=fmt.p(t.p_value)))
    if parts:
        text += " " + _("Design-based results: {parts}.").format(parts="; ".join(parts))
    if v.merged:
        pairs = [_("{a} equals {b}").format(a=method_name(a), b=method_name(b)) for a, b in v.merged]
        text += " " + _("Counted once: {pairs} (with one reforming province the two are the same "
                        "estimator).").format(pairs=_join(pairs))
    if result.outcome_simulated(outcome) and not math.isnan(v.planted):
        text += " " + _("The planted average effect in the simulated panel is {planted} {unit}; {c} of the {n} "
                        "design-based intervals contain it{which}.").format(
            planted=fmt.num(v.planted), unit=unit, c=len(v.covered), n=v.n_intervals,
            which=f" ({_join([method_name(m) for m in v.covered])})" if v.covered else "")
    return text


def segmented(result: CaseResult, outcome: str) -> str:
    """One sentence on the single-series model, whose interval is model-based (never read as evidence)."""
    e = result.estimates
    r = e[(e["outcome"] == outcome) & e["method"].astype(str).str.startswith("Segmented: effect in")]
    if r.empty:
        return ""
    x = r.iloc[0]
    yr = str(x["method"]).rsplit(" ", 1)[-1]
    return _("The segmented trend model of the province alone puts the effect in {year} at {est} {unit} "
             "(Newey–West interval {ci}; model-based, so not read as evidence: with {n} yearly values such intervals "
             "are too narrow).").format(
        year=yr, est=fmt.num(x["estimate"]), unit=fmt.effect_unit_words(outcome), ci=fmt.ci(x["ci_low"], x["ci_high"]),
        n=int(x["n_obs"]) if not math.isnan(float(x["n_obs"])) else "—")


def segmented_assumption() -> str:
    """What the segmented model's counterfactual assumes (shown above its figures)."""
    return _("The counterfactual continues the province's pre-reform level and slope; the 2020 shock is modelled "
             "as a one-year departure that moves the observed and the counterfactual paths alike. If the pre-reform "
             "trend would have bent anyway, the effect is misattributed: the method's main weakness.")


# --------------------------------------------------------------------------------------------------
# pre-trends and sensitivity


def pretrend(result: CaseResult, outcome: str) -> str:
    """The pre-trend verdict for one outcome (rule 5), with the statistics it rests on."""
    t = result.tables.get("pretrend")
    if t is None or not (t["outcome"] == outcome).any():
        return ""
    row = t[t["outcome"] == outcome].iloc[0].to_dict()
    sens = result.tables.get("sensitivity")
    sens = sens[sens["outcome"] == outcome] if sens is not None and "outcome" in sens else None
    alpha = float(result.meta.get("alpha", 0.05))
    v = rules.pretrend_verdict(row, alpha, sens)
    lab = fmt.label(outcome)
    if v.code == "unavailable":
        return _("{label}: the pre-trend test could not be computed.").format(label=lab)
    stats = _("joint F = {f}; placebo p-value {pp} (rank among {n} assignments of the reform, the real one included); "
              "CRV1 F-test p-value {fp}").format(f=fmt.num(v.statistic), pp=fmt.p(v.placebo_p), n=v.n_assignments,
                                                   fp=fmt.p(v.crv1_p))
    if v.code == "reject":
        text = _("{label}: {stats}. The test rejects parallel pre-trends: before the reform the province already "
                 "moved differently from its comparisons, so the DiD-type estimates above are not credible as "
                 "effects of the reform without further assumptions.").format(label=lab, stats=stats)
        if sens is not None and len(sens) and "kind" in sens and (sens["kind"] == "breakdown").any():
            text += " " + _("The sensitivity analysis below says how large a departure the conclusion survives.")
    else:
        text = _("{label}: {stats}. The test does not reject parallel pre-trends. That is not evidence that the "
                 "trends were parallel: a test with {n} assignments detects only large departures.").format(
            label=lab, stats=stats, n=v.n_assignments)
        if not math.isnan(v.power_slope):
            text += " " + _("A joint test of the leads, with their covariance estimated from the placebo runs, "
                            "would detect a linear pre-trend of {s} {unit} a year with 80% probability (Roth 2022); "
                            "smaller drifts would often pass unnoticed.").format(s=fmt.num(v.power_slope, 3),
                                                                                unit=fmt.effect_unit_words(outcome))
    if v.disagree and v.which == "placebo":
        text += " " + _("The CRV1 F-test points the other way (p {fp}), but with one treated cluster it is "
                        "unreliable.").format(fp=fmt.p_eq(v.crv1_p))
    if v.sign_pattern:
        side = _("above") if v.sign_pattern == "all_above" else _("below")
        text += " " + _("All {n} pre-reform coefficients lie {side} zero. Such a pattern arises when the reference "
                        "year happens to be unusual, or from a drift that began before the reform, which a joint test "
                        "with few comparisons can miss.").format(n=v.n_leads, side=side)
    if v.band_excludes:
        text += " " + _("{k} of the {n} pre-reform coefficients have a placebo band that excludes zero.").format(
            k=v.band_excludes, n=v.n_leads)
    return text


def pretrend_note() -> str:
    """Why the chapter reads the placebo p-value (MyST Markdown; links the primer chapter)."""
    return _("With one reforming province the F-test's cluster-robust variance rests on a single treated cluster "
             "and is far too small, so that test rejects too often (see {{doc}}`{primer}`). The placebo p-value "
             "ranks the same statistic among the values it takes when each comparison province in turn is given "
             "the reform (Conley and Taber 2011), and the bands in the figure come from the same placebo runs."
             ).format(primer=PRIMER_ONE_TREATED)


def sensitivity(result: CaseResult, outcome: str) -> str:
    """The honest-DiD breakdown value (Rambachan and Roth 2023) for one outcome, when computed."""
    s = result.tables.get("sensitivity")
    if s is None or "outcome" not in s or not (s["outcome"] == outcome).any():
        return ""
    s = s[(s["outcome"] == outcome) & (s["kind"] == "breakdown")] if "kind" in s else s.iloc[0:0]
    if s.empty:
        return ""
    out = []
    for r in s.itertuples(index=False):
        b = float(r.value)
        if r.method == "relative_magnitudes":
            out.append(_("Relative magnitudes: the post-reform interval excludes zero as long as the post-reform "
                         "violation of parallel trends is at most {b} times the largest pre-reform one "
                         "(breakdown value M̄ = {b}).").format(b=fmt.num(b)) if b > 0 and math.isfinite(b) else
                       _("Relative magnitudes: the interval includes zero even when parallel trends hold exactly "
                         "(M̄ = 0), so there is no conclusion to overturn."))
        elif r.method == "smoothness":
            out.append(_("Smoothness: the conclusion holds while the slope of the trend difference changes by at "
                         "most {b} {unit} a year from one year to the next (breakdown M = {b}).").format(
                b=fmt.num(b, 3), unit=fmt.effect_unit_words(outcome)) if b > 0 and math.isfinite(b) else
                _("Smoothness: the interval includes zero even under a linear trend difference (M = 0)."))
    return fmt.label(outcome) + ". " + " ".join(out) if out else ""


def sensitivity_note() -> str:
    """Said once per chapter, before the per-outcome sensitivity sentences."""
    return _("Sensitivity (Rambachan and Roth 2023): how large a violation of parallel trends after the reform would "
             "make the interval of the average effect include zero. The covariance of the event-study coefficients "
             "comes from the placebo runs, because the cluster-robust one rests on one treated cluster.")


# --------------------------------------------------------------------------------------------------
# synthetic control, robustness, problems


def synth(result: CaseResult, outcome: str) -> str:
    """One sentence on the synthetic control of ``outcome``: gap, fit, placebo p; interval only if it has one."""
    S = result.tables.get("synth_stats")
    e = result.estimates
    row = e[(e["outcome"] == outcome) & (e["method"] == "Synthetic control") & (e["section"] == "main")]
    if S is None or row.empty or not (S["outcome"] == outcome).any():
        return ""
    s, r = S[S["outcome"] == outcome].iloc[0], row.iloc[0]
    n_donors = int(result.meta.get("n_donors", 0))
    text = _("{label}: average post-reform gap {gap} {unit}; pre-reform RMSPE {pre}, post-reform RMSPE {post}; "
             "placebo p-value {p} (smallest possible with {n} comparison provinces: {pmin}).").format(
        label=fmt.label(outcome), gap=fmt.num(r["estimate"]), unit=fmt.effect_unit_words(outcome),
        pre=fmt.num(s["pre_rmspe"], 3), post=fmt.num(s["post_rmspe"], 3), p=fmt.p(s["p_value"]), n=n_donors,
        pmin=fmt.p(1 / (n_donors + 1)) if n_donors else "—")
    if rules.shows_interval_as_main(r):
        text += " " + _("Conformal 95% interval of a constant effect (Chernozhukov, Wüthrich and Zhu 2021): "
                        "{ci}.").format(ci=fmt.ci(r["ci_low"], r["ci_high"]))
    elif "conformal_low" in s and not math.isfinite(float(s["conformal_low"])):
        text += " " + _("Conformal interval: unbounded (see above).")
    if int(s.get("n_poor_fit", 0) or 0):
        text += " " + _("The placebo figure leaves out {k} of {n} placebo runs whose pre-reform RMSPE is more than "
                        "{m:g} times the province's (Abadie, Diamond and Hainmueller 2010): their gaps mostly show a "
                        "poor fit, not an effect.").format(k=int(s["n_poor_fit"]), n=int(s["n_placebos"]),
                                                          m=float(s["poor_fit_multiple"]))
    return text


def conformal_note(result: CaseResult) -> str:
    """Said once per chapter when a synthetic control's conformal interval is unbounded."""
    S = result.tables.get("synth_stats")
    if S is None or "conformal_low" not in S:
        return ""
    unb = S[~S["conformal_low"].astype(float).apply(math.isfinite)]
    if unb.empty:
        return ""
    n = int(float(unb["conformal_n_perms"].iloc[0] or 0))
    return _("The conformal interval of the synthetic control (Chernozhukov, Wüthrich and Zhu 2021) permutes the "
             "years: with {n} yearly values the smallest p-value it can reach is 1/{n}, above 0.05, so at the 95% "
             "level it is unbounded and the synthetic control is read by its placebo p-value.").format(n=n or "—")


def robustness(result: CaseResult, outcome: str) -> str:
    """A paragraph that reads the robustness table of one outcome."""
    e = result.estimates
    rob = e[(e["outcome"] == outcome) & (e["section"] == "robustness")]
    if rob.empty:
        return ""
    main = e[(e["outcome"] == outcome) & (e["section"] == "main") & (e["method"] == "TWFE DiD")]
    m = float(main["estimate"].iloc[0]) if len(main) else float("nan")
    v = rules.robustness_verdict(rob, m)
    parts = []
    if v["n_placebo"]:
        n_pl = rob[rob["spec"].astype(str).str.startswith("placebo_year:") & (rob["method"] == "TWFE DiD")]
        if len(n_pl):
            parts.append(_("The placebo reform year finds {what} (randomization interval {ci}).").format(
                what=_("an 'effect' where there should be none") if v["placebo_reject"] else
                _("no effect distinguishable from zero, as it should"),
                ci=fmt.ci(n_pl["ci_low"].iloc[0], n_pl["ci_high"].iloc[0])))
    if v["n_other"]:
        parts.append(_("Re-estimates with another reform year or without the shock year: {s} of {n} have the sign of "
                       "the main TWFE estimate, and {r} of {n} have a randomization interval that excludes zero.").format(
            n=v["n_other"], s=v["other_same_sign"], r=v["other_reject"]))
    if v["n_loo"]:
        parts.append(_("Leaving out one comparison province at a time moves the synthetic-control estimate between "
                       "{lo} and {hi} ({s} of {n} with the same sign as the main TWFE estimate).").format(
            lo=fmt.num(v["loo_low"]), hi=fmt.num(v["loo_high"]), s=v["loo_same_sign"], n=v["n_loo"]))
    return fmt.label(outcome) + ". " + " ".join(parts) if parts else ""


PROBLEM_WORDS = {
    "twfe_randomization": N_("TWFE DiD with the randomization test"),
    "event_study": N_("the event study"),
    "callaway_santanna": N_("Callaway–Sant'Anna"),
    "synthetic_control": N_("the synthetic control"),
    "synthetic_control_placebos": N_("the synthetic-control placebos"),
    "synthetic_control_conformal": N_("the conformal interval of the synthetic control"),
    "synthetic_did": N_("synthetic DiD"),
    "segmented": N_("the segmented trend model"),
    "sensitivity": N_("the sensitivity analysis"),
    "leave_one_out": N_("the leave-one-out check"),
    "facts_register": N_("the facts register"),
}


def problems(result: CaseResult) -> list[str]:
    """One line per analysis that could not run, in words."""
    out = []
    for pr in result.problems:
        if isinstance(pr, str):
            out.append(pr)
            continue
        what = _(PROBLEM_WORDS.get(pr["what"].split(":")[0], pr["what"]))
        reason = {"not_estimable": _("not estimable on this panel"), "unavailable": _("not available in this build"),
                  "failed": _("failed")}.get(pr["reason"], pr["reason"])
        lab = fmt.label(pr["outcome"]) + ", " if pr.get("outcome") else ""
        out.append(_("{what} ({label}{reason}): {detail}").format(what=what, label=lab, reason=reason,
                                                                 detail=pr.get("detail", "")))
    return out


def caveats(result: CaseResult) -> list[str]:
    """Estimator caveats, one line each, prefixed with the outcome's label."""
    out = []
    for c in result.meta.get("caveats", []):
        if isinstance(c, str):
            out.append(c)
        else:
            out.append(f"{fmt.label(c['outcome'])}: {c['message']}")
    return out


def year_text(config: dict[str, Any]) -> str:
    """One sentence on where the reform year comes from (stated, inferred, assumed or user-given)."""
    y, src, why = config["reform_year"], config["reform_year_source"], config.get("reform_year_reasoning", "")
    if src.startswith("policy (stated)"):
        return _("The reform year used is **{y}**, as stated in the source. {why}").format(y=y, why=why)
    if src.startswith("policy (inferred)"):
        return _("The reform year used is **{y}**, **inferred** (not stated) in data/policies.csv: {why}").format(y=y, why=why)
    if src == "user":
        return _("The reform and its year (**{y}**) are **user-specified**: {why}").format(y=y, why=why)
    alt = ", ".join(str(v) for v in config.get("robustness_years", []))
    return _("The reform year used is **{y}**, an **assumption** of this case (the source gives no year): {why} "
             "The robustness section re-estimates with {alt}.").format(y=y, why=why, alt=alt)


def donors(config: dict[str, Any], table: pd.DataFrame) -> str:
    """Who the comparison provinces are and who is left out."""
    d = table[table["role"] == "donor"]["province"].tolist()
    ex = table[table["role"] == "excluded"]
    return _("{n} provinces serve as comparisons. {k} are left out because they had reforms of their own during "
             "the window (rows of data/policies.csv); their outcomes would move for their own reasons and blur the "
             "comparison. Comparisons: {names}.").format(n=len(d), k=len(ex), names=_(", ").join(map(fmt.province, d)))


def claims_summary(claims: pd.DataFrame, simulated: bool) -> str:
    """What the claims check could and could not do, in one paragraph."""
    if claims is None or claims.empty:
        return _("There are no reported figures for this province to check.")
    v = claims["verdict"].astype(str)
    n = len(v)
    agrees, differs = int((v == "agrees").sum()), int((v == "differs").sum())
    nc_sim = int((v == "nc_simulated").sum())
    text = _("{n} reported figures: {a} agree with the panel, {d} differ, {nc} cannot be checked.").format(
        n=n, a=agrees, d=differs, nc=n - agrees - differs)
    if nc_sim:
        text += " " + _("{k} of them cannot be checked because the panel value for the same year is simulated: a "
                        "simulated value can neither confirm nor contradict a report.").format(k=nc_sim)
    return text


def compare(row: Any, outcome: str) -> str:
    """The reported change between two years and, only when the panel is observed, the panel's change."""
    rep = float(row["reported_change"])
    if math.isnan(rep):
        return ""
    lab, unit = fmt.label(outcome), fmt.effect_unit_words(outcome)
    text = _("{label}: the sources report a change of {c} {unit} from {y0} to {y1}.").format(
        label=lab, c=fmt.num(rep), unit=unit, y0=int(row["from"]), y1=int(row["to"]))
    if row["panel_status"] == "observed":
        text += " " + _("The observed panel shows {c} {unit}.").format(c=fmt.num(row["panel_change"]), unit=unit)
    else:
        text += " " + _("The panel values for these years are simulated, so they are not set beside the reported "
                        "change: the simulation chose its planted effects without reference to this report, and a "
                        "simulated change says nothing about the real one.")
    return text


def at_a_glance(result: CaseResult, province_label: str, reform_label: str) -> str:
    """The chapter's opening box: the reform, what the estimates say for each outcome, how far to trust
    them, and the simulated-data caveat when it applies (Markdown)."""
    cfg = result.config
    lines = [_("**{reform}** in {province}, from {year}.").format(reform=reform_label, province=province_label,
                                                                  year=cfg["reform_year"])]
    alpha = float(result.meta.get("alpha", 0.05))
    for o in cfg["outcomes"]:
        v = rules.effect_verdict(result.estimates, o, alpha)
        lab = fmt.label(o)
        if v.code == "no_estimates":
            lines.append("- " + _("{label}: not estimated across provinces (see the data status).").format(label=lab))
            continue
        word = {"all_reject": _("evidence of {article} {direction}"), "some_reject": _("mixed evidence"),
                "none_reject": _("no evidence of an effect"), "conflict": _("conflicting results"),
                "no_inference": _("no valid interval")}[v.code]
        word = word.format(article=_("an") if v.direction == "increase" else _("a"),
                           direction=_("increase") if v.direction == "increase" else _("decrease"))
        pt = result.tables.get("pretrend")
        trust = ""
        if pt is not None and (pt["outcome"] == o).any():
            pv = rules.pretrend_verdict(pt[pt["outcome"] == o].iloc[0].to_dict(), alpha)
            trust = (_("; pre-trend test rejects parallel trends, so read with caution") if pv.code == "reject"
                     else _("; pre-trend test does not reject (which does not prove parallel trends)"))
        lines.append("- " + _("{label}: {word}; estimates {lo} to {hi} {unit}{trust}.").format(
            label=lab, word=word, lo=fmt.num(v.low), hi=fmt.num(v.high), unit=fmt.effect_unit_words(o), trust=trust))
    if result.simulated:
        lines.append("\n" + _("**Simulated data.** These numbers come from a simulated panel with planted effects: "
                              "they show how the methods behave, not what the reform did."))
    return "\n".join(lines)

