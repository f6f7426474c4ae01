"""The chapter's tables as printed strings (presentation only; the saved result keeps every number).

Estimate tables follow :mod:`primarycare.report.rules`: the "95% interval" column shows only
design-based intervals (valid with one treated province); model-based intervals go to a secondary
"model-based" column. Facts tables keep what the register knows: the geography below the province, the
period of sub-annual figures, the direction of a change, conflict flags and reliability notes.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from . import fmt, rules
from .i18n import N_, _

# Register indicators "closely related" to a chapter's outcomes (shown first; the rest collapsed).
RELATED = re.compile(r"visit|county_internal|outside_county|primary_care_staff|^gps_|recruited_gps|"
                     r"family_doctor|signing|signed_residents")
UNRELATED = re.compile(r"remote_centre|outreach|subcentre_visits")
THEMES = (r"visit_share|visit_rate|county_internal|outside_county", r"visit", r"staff", r"gps?_|_gps",
          r"family_doctor|signing|signed")
ESSAY_NOTE = "source not verifiable"
PERIOD = re.compile(r"(January(?:-[A-Z][a-z]+)? \d{4} (?:only|cumulative))")
DIRECTION = re.compile(r"^(fall|rise|increase|growth|decrease|reduction)\b", re.IGNORECASE)


def is_related(indicator: str, outcomes: Any) -> bool:
    """Whether a register indicator belongs in the chapter's main table of reported figures."""
    return indicator in outcomes or (bool(RELATED.search(indicator)) and not UNRELATED.search(indicator))


def _theme_rank(indicator: str, outcomes: list[str]) -> int:
    if indicator in outcomes:
        return outcomes.index(indicator)
    hit = [k for k, pat in enumerate(THEMES) if re.search(pat, indicator)]
    return len(outcomes) + (hit[0] if hit else len(THEMES))


def short_source(source: Any) -> str:
    """Seed files cited by their number ("seed 004"); other sources as they are."""
    s = str(source)
    return _("seed {n}").format(n=s[:3]) if s[:3].isdigit() and s.endswith(".txt") else s


def where(row: Any) -> str:
    """Where a figure applies: the province, or the county/city/region below it ("a county" if unnamed)."""
    level = str(getattr(row, "geography_level", "province") or "province")
    geo = str(getattr(row, "geography", "") or "")
    if level in ("province", "national", "nan"):
        return geo if level == "national" else ""
    if "unnamed" in geo or "某" in geo:
        return {"county": _("a county (unnamed)"), "city": _("a city (unnamed)")}.get(level, _("unnamed"))
    kind = {"county": _("county"), "city": _("city"), "region": _("region")}.get(level, level)
    return f"{geo} ({kind})"


def notes(row: Any) -> str:
    """Kind (target, derived), period, direction, conflict and reliability notes of a register row."""
    note = str(getattr(row, "note", "") or "")
    out = []
    kind = str(getattr(row, "kind", "") or "")
    if kind == "target":
        out.append(_("a target, not an outcome"))
    elif kind == "derived":
        out.append(_("derived from reported figures"))
    m = PERIOD.search(note)
    if m:
        out.append(m.group(1).replace("-", "–"))
    if str(getattr(row, "indicator", "")).endswith("_change"):
        d = DIRECTION.match(note)
        if d:
            word = d.group(1).lower()
            out.append(_("a fall") if word in ("fall", "decrease", "reduction") else _("a rise"))
    cg = getattr(row, "conflict_group", None)
    if cg is not None and str(cg) not in ("", "nan"):
        out.append(_("conflicting figures in the source"))
    if ESSAY_NOTE in note:
        out.append(_("source not verifiable"))
    return "; ".join(out)


def _value_with_direction(row: Any) -> str:
    v = fmt.printed_value(getattr(row, "value", None), getattr(row, "qualifier", None))
    if str(getattr(row, "indicator", "")).endswith("_change"):
        d = DIRECTION.match(str(getattr(row, "note", "") or ""))
        if d and d.group(1).lower() in ("fall", "decrease", "reduction") and not v.startswith("-"):
            return "−" + v
    return v


def facts_tables(facts: pd.DataFrame, outcomes: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reported figures as two tables (related to the outcomes, the rest). Columns: Figure, Where (blank
    for the whole province), Value (as printed, signed when the source reports a fall), Unit, Year, Notes
    (period, direction, conflict, reliability), Source."""
    cols = [_("Figure"), _("Where"), _("Value"), _("Unit"), _("Year"), _("Notes"), _("Source")]
    if facts is None or facts.empty:
        return pd.DataFrame(columns=cols), pd.DataFrame(columns=cols)
    outs = list(outcomes)
    f = facts.copy()
    ind = f["indicator"].astype(str)
    base = ind.str.replace(r"_(change|period)$", "", regex=True)
    f["_rel"] = [is_related(i, outs) for i in ind]
    f["_rank"] = [_theme_rank(b, outs) for b in base]
    f["_base"], f["_chg"] = base, ind.str.endswith("_change")
    f["_y"] = pd.to_numeric(f["year"], errors="coerce")
    f = f.sort_values(["_rank", "_base", "_chg", "_y"], na_position="last", kind="stable")
    rows = list(f.itertuples(index=False))
    out = pd.DataFrame({
        cols[0]: [fmt.label(r.indicator) for r in rows],
        cols[1]: [where(r) for r in rows],
        cols[2]: [_value_with_direction(r) for r in rows],
        cols[3]: [str(r.unit) if str(r.unit) != "nan" else "" for r in rows],
        cols[4]: [fmt.year(r.year) for r in rows],
        cols[5]: [notes(r) for r in rows],
        cols[6]: [short_source(r.source) for r in rows],
    })
    rel = f["_rel"].to_numpy(bool)
    return out[rel].reset_index(drop=True), out[~rel].reset_index(drop=True)


VERDICT_WORDS = {
    "agrees": N_("agrees"), "differs": N_("differs"), "nc_simulated": N_("not checkable: simulated"),
    "nc_target": N_("not checkable: a target"), "nc_geography": N_("not checkable: county or city figure"),
    "nc_no_series": N_("not checkable: no panel series"), "nc_year": N_("not checkable: year not in panel"),
}


def claims_display(claims: pd.DataFrame, outcomes: Any) -> tuple[pd.DataFrame, dict[str, int]]:
    """Checkable claims (agrees / differs / simulated panel value) as a table, and the other verdicts
    folded into counts (one line in the chapter instead of a row each)."""
    c = claims.copy()
    v = c["verdict"].astype(str)
    shown = c[v.isin(["agrees", "differs", "nc_simulated"])]
    folded = v[~v.isin(["agrees", "differs", "nc_simulated"])].value_counts().to_dict()
    rows = list(shown.itertuples(index=False))
    t = pd.DataFrame({
        _("Figure"): [fmt.label(r.indicator) for r in rows], _("Year"): [fmt.year(r.year) for r in rows],
        _("Reported"): [fmt.printed_value(r.reported) for r in rows],
        _("Unit"): [str(r.unit) for r in rows],
        _("Panel value"): [fmt.num(r.panel_value) for r in rows],
        _("Panel status"): [_(str(r.panel_status)) for r in rows],
        _("Verdict"): [_(VERDICT_WORDS.get(str(r.verdict), str(r.verdict))) for r in rows],
        _("Source"): [short_source(r.source) for r in rows],
    })
    return t, {_(VERDICT_WORDS.get(k, k)).removeprefix(_("not checkable: ")): int(n) for k, n in folded.items()}


def weights_table(weights: pd.DataFrame, tol: float = 1e-3) -> pd.DataFrame:
    """Synthetic-control donor weights: a row per donor, a column per outcome (blank if about zero)."""
    w = weights.pivot_table(index="donor", columns="outcome", values="weight", aggfunc="sum")
    order = list(dict.fromkeys(weights["outcome"]))
    w = w[[o for o in order if o in w.columns]]
    w = w.where(w > tol).dropna(how="all")
    w = w.loc[w.max(axis=1).sort_values(ascending=False).index]
    out = pd.DataFrame({_("comparison province"): [fmt.province(p) for p in w.index]})
    for o in w.columns:
        out[fmt.label(o)] = ["" if pd.isna(x) else f"{x:.3f}" for x in w[o]]
    return out


SHORT_METHOD = {"Event study (post average)": N_("event study (post avg.)"), "Callaway-Sant'Anna": N_("Callaway–Sant'Anna"),
                "Synthetic control": N_("synthetic control"), "Synthetic DiD": N_("synthetic DiD")}


def short_method(method: str) -> str:
    """A short table label for a method ("Segmented: level change" -> "level change")."""
    s = str(method)
    m = re.fullmatch(r"Segmented: effect in (\d{4})", s)
    if m:
        return _("effect in {last}").format(last=m.group(1))
    return _(s.removeprefix("Segmented: ")) if s.startswith("Segmented: ") else _(SHORT_METHOD.get(s, s))


BASIS_WORDS = {
    "randomization": N_("randomization test ({n} assignments)"),
    "placebo": N_("placebo bands ({n} runs)"),
    "placebo_variance": N_("placebo variance"),
    "conformal": N_("conformal"),
    "crv1": N_("CRV1 (one treated cluster)"),
    "analytic_if": N_("analytic IF"),
    "hac": N_("Newey–West HAC"),
    "none": "",
}


def basis_label(basis: str, n: Any = None) -> str:
    """Short label of what an interval rests on."""
    w = BASIS_WORDS.get(str(basis), str(basis))
    n = int(float(n)) if n is not None and not (isinstance(n, float) and math.isnan(n)) and float(n) > 0 else None
    w = _(w).format(n=n) if "{n}" in w and n else _(w.split(" (")[0]) if "{n}" in w else _(w)
    return w


def estimate_table(rows: pd.DataFrame, simulated: bool, digits: int = 3, group: str = "outcome") -> pd.DataFrame:
    """Estimate rows as printed strings: outcome, method (the interval's basis on a second line), estimate,
    95% interval (design-based only), p, model-based interval (secondary), and planted when simulated.
    A method counted once with another shows "= <other>" in the interval cell."""
    out = []
    for x in rows.itertuples(index=False):
        d = x._asdict()
        design = rules.shows_interval_as_main(d)
        model = (not design) and rules.has_interval(d) and str(x.interval_basis) in rules.MODEL_BASED
        same = str(getattr(x, "same_as", "") or "")
        method = short_method(x.method)
        basis = basis_label(x.interval_basis, getattr(x, "n_assignments", None))
        if basis:
            method += "\n" + basis
        r = {group: fmt.label(x.outcome), _("method"): method, _("estimate"): fmt.num(x.estimate, digits),
             _("95% interval"): (_("same as {m}").format(m=short_method(same)) if same else
                                 fmt.ci(x.ci_low, x.ci_high, digits) if design else "—"),
             _("p"): fmt.p(x.p_value) if not (same or model) else "",
             _("model-based interval"): (_("{ci}, p {p}").format(ci=fmt.ci(x.ci_low, x.ci_high, digits),
                                                                 p=fmt.p_eq(x.p_value)) if model else "")}
        if simulated:
            r[_("planted")] = fmt.num(x.planted, digits)
        out.append(r)
    t = pd.DataFrame(out)
    if len(t) and not (t[_("model-based interval")] != "").any():
        t = t.drop(columns=[_("model-based interval")])
    return t


_CHECKS = ((r"placebo_year:(\d{4})", N_("placebo year {0}")), (r"reform_year:(\d{4})", N_("reform year {0}")),
           (r"drop_year:(\d{4})", N_("drop {0}")), (r"placebo_in_time:(\d{4})", N_("placebo in time {0}")),
           (r"leave_out:(.+)", N_("leave out {0}")))
# the segmented model's rows (primarycare/case/run.py), translated where shown
SEGMENTED_NAMES = (N_("level change"), N_("slope change"), N_("effect in {last}"), N_("TWFE DiD"),
                   N_("Event study (post average)"), N_("Callaway-Sant'Anna"), N_("Synthetic control"),
                   N_("Synthetic DiD"))


def short_check(spec: str) -> str:
    """A short label for a robustness spec code ("placebo_year:2015" -> "placebo year 2015")."""
    s = str(spec)
    for pat, rep in _CHECKS:
        m = re.fullmatch(pat, s)
        if m:
            return _(rep).format(m.group(1))
    return s


def robustness_table(estimates: pd.DataFrame, outcome: str, simulated: bool,
                     digits: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One outcome's robustness checks (leave-one-out summarised in one row) and the full leave-one-out list."""
    sub = estimates[(estimates["section"] == "robustness") & (estimates["outcome"] == outcome)]
    is_loo = sub["spec"].astype(str).str.startswith("leave_out:")
    rows: list[dict[str, str]] = []
    for x in sub[~is_loo].itertuples(index=False):
        d = x._asdict()
        row = {_("method"): short_method(x.method), _("check"): short_check(x.spec),
               _("estimate"): fmt.num(x.estimate, digits),
               _("95% interval"): fmt.ci(x.ci_low, x.ci_high, digits) if rules.shows_interval_as_main(d) else "—",
               _("p"): fmt.p(x.p_value)}
        if simulated:
            row[_("planted")] = fmt.num(x.planted, digits)
        rows.append(row)
    if is_loo.any():
        vals = sub.loc[is_loo, "estimate"].astype(float)
        row = {_("method"): short_method("Synthetic control"),
               _("check"): _("leave one donor out ({n} donors)").format(n=len(vals)),
               _("estimate"): _("{lo} to {hi}").format(lo=fmt.num(vals.min(), digits), hi=fmt.num(vals.max(), digits)),
               _("95% interval"): "—", _("p"): "—"}
        if simulated:
            pl = sub.loc[is_loo, "planted"].astype(float).dropna()
            row[_("planted")] = fmt.num(pl.iloc[0] if len(pl) else float("nan"), digits)
        rows.append(row)
    loo = pd.DataFrame({_("donor left out"): sub.loc[is_loo, "spec"].astype(str).str.removeprefix("leave_out:"),
                        _("estimate"): [fmt.num(v, digits) for v in sub.loc[is_loo, "estimate"]]})
    return pd.DataFrame(rows), loo.reset_index(drop=True)


def compare_table(compare: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Reported changes between two years; the panel's change only where the panel is observed."""
    if compare is None or compare.empty:
        return pd.DataFrame()
    c0 = compare.iloc[0]
    y0, y1 = int(c0["from"]), int(c0["to"])
    rows = []
    for x in compare.itertuples(index=False):
        rows.append({_("outcome"): fmt.label(x.outcome), _("series"): _("reported"), str(y0): fmt.num(x.reported_from, digits),
                     str(y1): fmt.num(x.reported_to, digits), _("change"): fmt.num(x.reported_change, digits)})
        if x.panel_status == "observed":
            rows.append({_("outcome"): fmt.label(x.outcome), _("series"): _("panel (observed)"),
                         str(y0): fmt.num(x.panel_from, digits), str(y1): fmt.num(x.panel_to, digits),
                         _("change"): fmt.num(x.panel_change, digits)})
    return pd.DataFrame(rows)


def sensitivity_table(sens: pd.DataFrame | None, outcome: str) -> pd.DataFrame:
    """The honest-DiD grid of one outcome: the interval of the average post-reform effect at each M̄
    (relative magnitudes), as printed."""
    if sens is None or "kind" not in sens:
        return pd.DataFrame()
    g = sens[(sens["outcome"] == outcome) & (sens["kind"] == "grid") & (sens["method"] == "relative_magnitudes")]
    return pd.DataFrame({_("M̄ (post violation / largest pre violation)"): [f"{m:g}" for m in g["M"]],
                         _("95% interval of the average effect"): [fmt.ci(a, b) for a, b in zip(g["lower"], g["upper"], strict=True)]})
