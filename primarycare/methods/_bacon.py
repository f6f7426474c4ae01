"""Goodman-Bacon (2021) decomposition of the two-way fixed-effects DiD coefficient.

On a balanced panel with staggered adoption, the TWFE coefficient is a weighted average of all 2x2
DiDs between timing groups: treated vs never treated, earlier vs later treated (the later group still
untreated: a clean comparison) and later vs earlier treated (the earlier group already treated: a
"forbidden" comparison whose estimate subtracts the earlier group's changing effect). Weights
(Goodman-Bacon 2021, eq. 10a-c) grow with group sizes and with the variance of treatment in each 2x2
window, divided by the variance of the two-way demeaned treatment; they sum to one and the weighted sum
of the 2x2 estimates equals the TWFE coefficient exactly. Units treated from the first period form an
"always treated" timing group; cohorts first treated after the last period count as never treated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import UserInputError
from . import _prep
from ._fe import TwoWay
from .results import Estimate


@dataclass
class BaconResult(Estimate):
    """``table``: one row per 2x2 (type, treated, control, estimate, weight); ``by_type``: totals;
    ``estimate`` is the weighted sum (= the TWFE coefficient on the balanced panel used)."""

    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_type: pd.DataFrame = field(default_factory=pd.DataFrame)
    twfe_estimate: float = float("nan")

    def summary(self) -> str:
        return (super().summary() + "\n" + self.by_type.to_string(index=False, float_format=lambda x: f"{x:.4f}")
                + "\n" + self.table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


def bacon_decomposition(data: pd.DataFrame, outcome: str, unit: str, time: str,
                        first_treated: str) -> BaconResult:
    """Goodman-Bacon (2021) decomposition: every 2x2 comparison with its type, estimate and weight.

    Needs a balanced panel: if some units miss periods, the decomposition is computed on the units
    observed in every period and a warning says so (the TWFE coefficient it reproduces is then the one
    on that balanced subsample, reported as ``twfe_estimate``).
    """
    where = "did.bacon_decomposition"
    d, g_row, Y = _prep.staggered_wide(data, outcome, unit, time, first_treated, where)
    warn = []
    full = Y.notna().all(axis=1)
    if not full.all():
        warn.append(f"unbalanced panel: the decomposition uses the {int(full.sum())} units observed in all "
                    f"{Y.shape[1]} periods ({int((~full).sum())} units left out); it reproduces the TWFE "
                    "coefficient on that balanced subsample, not on the full data")
        Y = Y.loc[full]
    times = np.array(Y.columns, dtype=float)
    G = g_row.groupby(d[unit]).first().reindex(Y.index).to_numpy()
    G = np.where(G > times.max(), 0.0, G)  # first treated after the sample: never treated in-sample
    G = np.where((G > 0) & (G <= times.min()), times.min(), G)
    Yv = Y.to_numpy()
    N, T = Yv.shape
    D = (G[:, None] > 0) & (times[None, :] >= G[:, None])
    groups = sorted(g for g in np.unique(G) if g > 0)
    if not groups:
        raise UserInputError(f"{where}: no unit is treated within the sample period.")
    # variance of the two-way demeaned treatment (denominator of every weight)
    tw = TwoWay(np.repeat(np.arange(N), T), np.tile(np.arange(T), N), N, T)
    Dt = tw.demean(D.astype(float).ravel())
    VD = float(np.mean(Dt**2))
    if VD <= 1e-14:
        raise UserInputError(f"{where}: the treatment has no variation after unit and period effects.")
    share = {g: np.mean(G == g) for g in [0.0, *groups]}
    Dbar = {g: float(np.mean(times >= g)) for g in groups}
    ybar = {g: Yv[G == g].mean(axis=0) for g in [0.0, *groups] if (G == g).any()}

    def dd(a: float, b: float, post: np.ndarray, pre: np.ndarray) -> float:
        return float((ybar[a][post].mean() - ybar[a][pre].mean()) - (ybar[b][post].mean() - ybar[b][pre].mean()))

    rows = []
    tmin = times.min()
    for k in groups:
        Dk = Dbar[k]
        if 0.0 in ybar and Dk < 1:
            nk, nu = share[k], share[0.0]
            nku = nk / (nk + nu)
            w = (nk + nu) ** 2 * nku * (1 - nku) * Dk * (1 - Dk) / VD
            rows.append({"type": "treated vs never treated", "treated": k, "control": "never",
                         "estimate": dd(k, 0.0, times >= k, times < k), "weight": w})
        for m in groups:
            if m <= k:
                continue
            Dm = Dbar[m]
            nk, nm = share[k], share[m]
            nkm = nk / (nk + nm)
            if k > tmin:  # earlier k vs later m (m not yet treated): window t < m
                w = ((nk + nm) * (1 - Dm)) ** 2 * nkm * (1 - nkm) * ((Dk - Dm) / (1 - Dm)) * ((1 - Dk) / (1 - Dm)) / VD
                rows.append({"type": "earlier vs later treated", "treated": k, "control": m,
                             "estimate": dd(k, m, (times >= k) & (times < m), times < k), "weight": w})
            # later m vs earlier k (k already treated): window t >= k
            w = ((nk + nm) * Dk) ** 2 * nkm * (1 - nkm) * (Dm / Dk) * ((Dk - Dm) / Dk) / VD
            label = "later vs always treated" if k <= tmin else "later vs earlier treated"
            rows.append({"type": label, "treated": m, "control": k,
                         "estimate": dd(m, k, times >= m, (times >= k) & (times < m)), "weight": w})
    tab = pd.DataFrame(rows)
    est = float((tab["estimate"] * tab["weight"]).sum())
    yt = tw.demean(Yv.ravel())
    twfe_b = float(yt @ Dt / (Dt @ Dt))
    by = tab.groupby("type").apply(
        lambda x: pd.Series({"weight": x["weight"].sum(),
                             "avg_estimate": (x["estimate"] * x["weight"]).sum() / x["weight"].sum()}),
        include_groups=False,
    ).reset_index()
    forbidden = tab.loc[tab["type"].str.startswith("later vs"), "weight"].sum()
    if forbidden > 0:
        warn.append(f"{forbidden:.1%} of the TWFE weight is on comparisons with already-treated units as "
                    "controls; with effects that change over time these bias TWFE (Goodman-Bacon 2021)")
    return BaconResult(
        method="Goodman-Bacon (2021) decomposition", outcome=outcome, estimate=est, n_obs=int(N * T),
        inference="decomposition only (no standard errors)", warnings=warn,
        extra={"sum_of_weights": float(tab["weight"].sum()), "n_comparisons": len(tab)},
        table=tab, by_type=by, twfe_estimate=twfe_b,
    )
