"""What the values of a case are: observed, simulated, or a mix, and which methods the mix allows.

The rule (data honesty): observed values are never compared with simulated ones as if both were real.
So, for each outcome, cross-province methods (DiD, event study, synthetic control, synthetic DiD) run
only when the treated province and every comparison province have the same status in the window;
otherwise only the single-series method (segmented regression of the treated province) runs, and the
chapter says why. A series that switches between observed and simulated inside the window is refused.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import UserInputError
from .config import CaseConfig

UNIT, TIME = "province", "year"


def series_status(values: pd.Series) -> str:
    """``observed``, ``simulated``, ``mixed`` or ``none`` for the statuses of one series."""
    s = set(values.dropna().astype(str))
    if not s:
        return "none"
    return s.pop() if len(s) == 1 else "mixed"


def check_no_switch(panel: pd.DataFrame, case: CaseConfig, panel_label: str) -> None:
    """Refuse a series (province x outcome) that is partly observed and partly simulated in the window."""
    sub = panel[panel["indicator"].isin(case.outcomes) & panel[TIME].between(*case.window)
                & panel[UNIT].isin([case.province, *case.donors])]
    # series_status of every series at once: more than one distinct status (as text, missing ignored)
    st = sub["status"].astype(str).where(sub["status"].notna())
    n_status = st.groupby([sub[UNIT], sub["indicator"]], sort=False).nunique()
    mixed = n_status.index[n_status.to_numpy() > 1]
    if len(mixed):  # the first mixed series, in the panel's order
        prov, ind = mixed[0]
        g = sub[(sub[UNIT] == prov) & (sub["indicator"] == ind)]
        obs = sorted(g.loc[g["status"] == "observed", TIME].astype(int))
        sim = sorted(g.loc[g["status"] == "simulated", TIME].astype(int))
        raise UserInputError(
            f"Case {case.case_id!r}: the series of {ind} for {prov} switches between observed and simulated "
            f"values inside the window {case.window[0]}-{case.window[1]} (observed: {_years(obs)}; "
            f"simulated: {_years(sim)}) in {panel_label}. A simulated value must not stand in for a "
            f"missing observed one. Import {prov}'s {ind} for every year of the window, or narrow the "
            f"window to the observed years (--window).")


def _years(ys: list[int]) -> str:
    if not ys:
        return "none"
    runs, start, prev = [], ys[0], ys[0]
    for y in ys[1:] + [None]:
        if y is not None and y == prev + 1:
            prev = y
            continue
        runs.append(f"{start}" if start == prev else f"{start}-{prev}")
        if y is not None:
            start = prev = y
    return ", ".join(runs)


def data_status(panel: pd.DataFrame, case: CaseConfig, source: str | None = None) -> dict[str, Any]:
    """Counts of observed and simulated values, overall and for the treated province, by outcome, and the
    status of the treated series and of the comparison series (``treated_status``, ``donor_status``)."""
    sub = panel[panel["indicator"].isin(case.outcomes) & panel[TIME].between(*case.window)
                & panel[UNIT].isin([case.province, *case.donors])]
    own = sub[sub[UNIT] == case.province]
    don = sub[sub[UNIT] != case.province]
    by = {}
    for o in case.outcomes:
        s = sub[sub["indicator"] == o]["status"].value_counts()
        t = own[own["indicator"] == o]["status"]
        d = don[don["indicator"] == o]["status"]
        by[o] = {"observed": int(s.get("observed", 0)), "simulated": int(s.get("simulated", 0)),
                 "province_observed": int((t == "observed").sum()),
                 "province_simulated": int((t == "simulated").sum()),
                 "treated_status": series_status(t), "donor_status": series_status(d),
                 "cross_province": series_status(t) == series_status(d) and series_status(t) != "mixed"}
    n_sim = sum(v["simulated"] for v in by.values())
    n_obs = sum(v["observed"] for v in by.values())
    return {"panel_source": source or "default", "simulated": n_sim, "observed": n_obs,
            "any_simulated": n_sim > 0, "all_simulated": n_obs == 0 and n_sim > 0,
            "all_observed": n_sim == 0 and n_obs > 0, "by_outcome": by}
