"""HTML for the chapter's tables: compact, phone-friendly, marked SIMULATED DATA only when simulated."""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd

from ..case.result import CaseResult
from . import fmt, tables
from .i18n import _

TABLE_CSS = "pc-table pc-robustness"


def mark(simulated: bool) -> str:
    """The caption suffix of a table built from panel values."""
    return _("SIMULATED DATA") if simulated else _("observed data")


def grouped(table: pd.DataFrame, group: str, caption: str, css: str = TABLE_CSS) -> str:
    """A table of printed strings with a header row per value of ``group`` instead of a ``group`` column
    (one column less: fits a phone). A cell holding "\\n" shows its second part as a smaller second line."""
    def cell(x: Any) -> str:
        first, _sep, sub = str(x).partition("\n")
        return escape(first) + (f"<span class='pc-sub'>{escape(sub)}</span>" if sub else "")

    cols = [c for c in table.columns if c != group]
    head = "".join(f"<th>{escape(str(c))}</th>" for c in cols)
    body = []
    for g in dict.fromkeys(table[group]):
        body.append(f"<tr class='pc-group'><th colspan='{len(cols)}' scope='colgroup'>{escape(str(g))}</th></tr>")
        for row in table[table[group] == g][cols].itertuples(index=False):
            body.append("<tr>" + "".join(f"<td>{cell(x)}</td>" for x in row) + "</tr>")
    return (f"<div class='pc-scroll'><table class='{css}'><caption>{escape(caption)}</caption><thead><tr>{head}</tr>"
            "</thead><tbody>" + "".join(body) + "</tbody></table></div>")


def plain(table: pd.DataFrame, caption: str = "", collapsed: str | None = None) -> str:
    """A plain table (reported figures: no data-status mark); ``collapsed`` puts it in a closed dropdown."""
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    body = table.to_html(index=False, escape=True, classes="pc-table", border=0)
    body = body.replace("<thead>", cap + "<thead>", 1) if cap else body
    body = f"<div class='pc-scroll'>{body}</div>"
    if collapsed:
        body = f"<details class='pc-details'><summary>{escape(collapsed)}</summary>\n{body}\n</details>"
    return body


def estimates(result: CaseResult, rows: pd.DataFrame, caption: str) -> str:
    """Estimate rows grouped by outcome in one table (a header row per outcome), marked SIMULATED DATA when
    the outcomes' series are simulated; outcomes of different status get separate tables."""
    if rows.empty:
        return ""
    parts = []
    outcomes = list(dict.fromkeys(rows["outcome"]))
    for sim in dict.fromkeys(result.outcome_simulated(o) for o in outcomes):
        sub = rows[rows["outcome"].isin([o for o in outcomes if result.outcome_simulated(o) == sim])]
        t = tables.estimate_table(sub, sim)
        parts.append(grouped(t, "outcome", f"{caption} — {mark(sim)}"))
    return "\n".join(parts)


def robustness(result: CaseResult, outcome: str) -> str:
    """One outcome's robustness table and the collapsed leave-one-out list."""
    sim = result.outcome_simulated(outcome)
    t, loo = tables.robustness_table(result.estimates, outcome, sim)
    if t.empty:
        return ""
    lab = fmt.label(outcome)
    out = grouped(t, _("method"), _("{label} — robustness checks — {mark}").format(label=lab, mark=mark(sim)))
    if len(loo):
        summary = _("Leave-one-out estimates for {label}: each comparison province with positive weight dropped in "
                    "turn ({n} donors; {mark})").format(label=lab, n=len(loo), mark=mark(sim))
        out += "\n" + plain(loo, collapsed=summary)
    return out
