"""Figures for the case chapters and the synthesis, in one consistent style.

Every function takes tidy tables (as stored in a :class:`~primarycare.case.result.CaseResult`) and
returns a matplotlib ``Figure`` that is not registered with pyplot (notebooks ``display`` it once).
Labels go through the message catalogue (:mod:`primarycare.report.i18n`). Any figure drawn from
simulated values carries a large "SIMULATED DATA" mark (project rule), and no other figure does. Effects
on a share are in percentage points (pp).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pandas as pd

from ..data import indicators
from .fmt import effect_unit  # noqa: F401 - used by the notebooks (plots.effect_unit)
from .i18n import _

PALETTE = {"treated": "#c0392b", "synthetic": "#2c3e50", "national": "#7f8c8d", "region": "#2980b9",
           "facts": "#f39c12", "placebo": "#b0b7bd", "planted": "#27ae60"}
STAMP = "SIMULATED DATA"


def _figure(width: float = 7.5, height: float = 4.2, ncols: int = 1) -> tuple[Any, Any]:
    import matplotlib as mpl
    from matplotlib.figure import Figure

    mpl.rcParams.update({"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 9,
                         "font.family": "DejaVu Sans", "axes.spines.top": False, "axes.spines.right": False,
                         "axes.grid": True, "grid.alpha": 0.3})
    fig = Figure(figsize=(width, height), layout="constrained", dpi=100)
    axes = fig.subplots(1, ncols)
    return fig, axes


def stamp(target: Any, simulated: bool = True, *, note: bool = True, text: str | None = None) -> Any:
    """Mark a figure (or one axes) as drawn from simulated values: the project's one "SIMULATED DATA" stamp.

    On a ``Figure``: large translucent diagonal text plus, with ``note``, a small vertical note at the
    right edge. On an ``Axes`` (primer figures, one mark per panel): a bold mark in its lower-right corner.
    Returns ``target``. ``primarycare.book.stamp_simulated`` and ``primarycare.synth.stamp_simulated``
    call this function.
    """
    if not simulated:
        return target
    text = _(STAMP) if text is None else text
    if hasattr(target, "transAxes"):  # an Axes
        target.text(0.99, 0.02, text, transform=target.transAxes, ha="right", va="bottom",
                    fontsize=9, color="#b00020", alpha=0.8, fontweight="bold")
        return target
    target.text(0.5, 0.5, text, ha="center", va="center", rotation=25, fontsize=36, color="#c0392b",
                alpha=0.16, fontweight="bold", zorder=100)
    if note:
        target.text(0.999, 0.5, _("Simulated data: shows the method, not the reform's real effect"),
                    ha="right", va="center", rotation=90, fontsize=7, color="#c0392b")
        engine = target.get_layout_engine()
        if engine is not None and hasattr(engine, "set"):
            with contextlib.suppress(TypeError):  # a layout engine without padding settings
                engine.set(w_pad=0.12)  # keep the vertical note clear of the plot
    return target


def _ylabel(outcome: str) -> str:
    return f"{_(indicators.label(outcome))} ({indicators.unit(outcome)})"


def trends(table: pd.DataFrame, outcome: str, reform_year: int, facts: pd.DataFrame | None = None,
           simulated: bool = True, title: str | None = None, province: str | None = None) -> Any:
    """Province vs national and regional means, reported figures (facts register) as distinct markers."""
    fig, ax = _figure()
    t = table[table["outcome"] == outcome]
    names = {"province": province or _("Province"), "national_mean": _("Mean of the 31 provinces"),
             "region_mean": _("Mean of the other provinces in the {region} region")}
    for s in ("province", "national_mean", "region_mean"):
        d = t[t["series"] == s].sort_values("year")
        if d.empty:
            continue
        first = s == "province"
        color = PALETTE["treated"] if first else PALETTE["national"] if s == "national_mean" else PALETTE["region"]
        region = str(d["region"].iloc[0]) if "region" in d else ""
        ax.plot(d["year"], d["value"], marker="o" if first else None, ms=3, lw=2.2 if first else 1.5,
                color=color, ls="-" if first else "--", label=names[s].format(region=_(region)))
    if facts is not None and not facts.empty:
        f = facts[(facts["indicator"] == outcome) & (facts["kind"].astype(str) != "target")]
        if "geography_level" in f:
            f = f[f["geography_level"].astype(str) == "province"]  # a county's figure stays a county's
        f = f[pd.to_numeric(f["year"], errors="coerce").notna()]
        if len(f):
            ax.scatter(pd.to_numeric(f["year"]), pd.to_numeric(f["value"]), marker="D", s=60, zorder=5,
                       color=PALETTE["facts"], edgecolor="black", label=_("Reported figure (facts register)"))
    ax.axvline(reform_year - 0.5, color="black", lw=1, ls=":")
    ax.annotate(_("reform"), (reform_year - 0.45, 0.97), xycoords=("data", "axes fraction"), fontsize=9, va="top")
    ax.set_xlabel(_("Year"))
    ax.set_ylabel(_ylabel(outcome))
    ax.set_title(title or _(indicators.label(outcome)))
    ax.legend(loc="best")
    return stamp(fig, simulated)


def segmented(table: pd.DataFrame, outcome: str, reform_year: int, simulated: bool = True) -> Any:
    """Observed series, fitted segmented trend and the counterfactual projection with its interval."""
    fig, ax = _figure()
    t = table[table["outcome"] == outcome].sort_values("year")
    obs = next((c for c in ("observed", "y", outcome) if c in t), None)
    if obs:
        ax.plot(t["year"], t[obs], "o", color=PALETTE["treated"], ms=4,
                label=_("Simulated series") if simulated else _("Observed series"))
    if "fitted" in t:
        ax.plot(t["year"], t["fitted"], color=PALETTE["treated"], lw=2, label=_("Segmented fit"))
    cf = next((c for c in ("counterfactual", "projection") if c in t), None)
    if cf:
        post = t[t["year"] >= reform_year - 1]
        ax.plot(post["year"], post[cf], color=PALETTE["synthetic"], lw=2, ls="--",
                label=_("Counterfactual: pre-reform trend continued"))
        lo = next((c for c in ("cf_low", "counterfactual_low", "ci_low", "lower") if c in t), None)
        hi = next((c for c in ("cf_high", "counterfactual_high", "ci_high", "upper") if c in t), None)
        if lo and hi:
            ax.fill_between(post["year"], post[lo], post[hi], color=PALETTE["synthetic"], alpha=0.15,
                            label=_("95% interval of the projection (model-based)"))
    ax.axvline(reform_year - 0.5, color="black", lw=1, ls=":")
    ax.set_xlabel(_("Year"))
    ax.set_ylabel(_ylabel(outcome))
    ax.set_title(_("Segmented trend: {label}").format(label=_(indicators.label(outcome))))
    ax.legend(loc="best")
    return stamp(fig, simulated)


def event_study(table: pd.DataFrame, outcome: str, planted: pd.DataFrame | None = None,
                reform_year: int | None = None, simulated: bool = True) -> Any:
    """Event-time coefficients with their 95% placebo bands (Conley and Taber 2011); an unbounded band is
    drawn to the edge of the plot with an open end; the planted path (if simulated) as a line."""
    fig, ax = _figure()
    t = table[table["outcome"] == outcome].sort_values("rel_time")
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(-0.5, color="black", lw=1, ls=":")
    lo_col, hi_col = ("band_low", "band_high") if "band_low" in t else ("ci_low", "ci_high")
    lo, hi = t[lo_col].to_numpy(float), t[hi_col].to_numpy(float)
    finite = np.isfinite(lo) & np.isfinite(hi)
    span = np.nanmax(np.abs(t["estimate"].to_numpy(float))) if len(t) else 1.0
    cap = 3 * max(span, 1e-9)
    lo_c, hi_c = np.clip(np.nan_to_num(lo, nan=0.0, neginf=-cap), -cap, cap), np.clip(np.nan_to_num(hi, nan=0.0, posinf=cap), -cap, cap)
    est = t["estimate"].to_numpy(float)
    ax.errorbar(t["rel_time"], est, yerr=[np.maximum(est - lo_c, 0), np.maximum(hi_c - est, 0)], fmt="o",
                color=PALETTE["treated"], capsize=3, label=_("Estimate with 95% placebo band"))
    if (~finite & ~t.get("reference", pd.Series(False, index=t.index)).to_numpy(bool)).any():
        ax.plot([], [], " ", label=_("Band unbounded (too few comparison provinces): drawn to the edge"))
    if planted is not None and reform_year is not None and not planted.empty:
        p = planted[planted["indicator"] == outcome].copy()
        p["rel_time"] = p["year"] - reform_year
        p = p[p["rel_time"].between(t["rel_time"].min(), t["rel_time"].max())]
        if len(p):
            ax.plot(p["rel_time"], p["effect"], color=PALETTE["planted"], lw=2, ls="--", label=_("Planted effect"))
    ax.set_xlabel(_("Years relative to the reform (reference: -1)"))
    ax.set_ylabel(_("Effect ({unit})").format(unit=effect_unit(outcome)))
    ax.set_title(_("Event study: {label}").format(label=_(indicators.label(outcome))))
    ax.legend(loc="best")
    return stamp(fig, simulated)


def synth_gap(gaps: pd.DataFrame, outcome: str, treated: str, reform_year: int, simulated: bool = True) -> Any:
    """Gap (treated minus synthetic) and the placebo gaps of every donor (spaghetti)."""
    fig, ax = _figure()
    g = gaps[gaps["outcome"] == outcome]
    pl = g[g["placebo"].astype(bool)]
    poor = pl["poor_fit"].astype(bool) if "poor_fit" in pl else pd.Series(False, index=pl.index)
    for _u, d in pl[~poor].groupby("unit"):
        ax.plot(d["year"], d["gap"], color=PALETTE["placebo"], lw=1, alpha=0.8)
    d = g[~g["placebo"].astype(bool)].sort_values("year")
    ax.plot(d["year"], d["gap"], color=PALETTE["treated"], lw=2.5, label=_("{province} minus synthetic").format(province=treated))
    if len(pl):
        n_poor = pl.loc[poor, "unit"].nunique()
        ax.plot([], [], color=PALETTE["placebo"], label=_("Placebo: each comparison province as if treated") +
                (_(" ({k} with a poor pre-reform fit left out)").format(k=n_poor) if n_poor else ""))
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(reform_year - 0.5, color="black", lw=1, ls=":")
    ax.set_xlabel(_("Year"))
    ax.set_ylabel(_("Gap ({unit})").format(unit=effect_unit(outcome)))
    ax.set_title(_("Synthetic control gap: {label}").format(label=_(indicators.label(outcome))))
    ax.legend(loc="best")
    return stamp(fig, simulated)


def permutation(dist: pd.DataFrame, outcome: str, observed: float, simulated: bool = True) -> Any:
    """Randomization distribution of the TWFE estimate with the observed estimate marked."""
    fig, ax = _figure(6.5, 3.4)
    x = dist.loc[dist["outcome"] == outcome, "estimate"].to_numpy(float)
    ax.hist(x, bins=min(40, max(10, len(x) // 5)), color=PALETTE["placebo"], edgecolor="white",
            label=_("Placebo reassignments"))
    ax.axvline(observed, color=PALETTE["treated"], lw=2.5, label=_("Actual assignment"))
    ax.set_xlabel(_("TWFE estimate ({unit})").format(unit=effect_unit(outcome)))
    ax.set_ylabel(_("Count"))
    ax.set_title(_("Randomization test: {label}").format(label=_(indicators.label(outcome))))
    ax.legend(loc="best")
    return stamp(fig, simulated)


def forest(estimates: pd.DataFrame, label_col: str = "label", simulated: bool = True,
           title: str = "Estimates across cases") -> Any:
    """Forest plot: one row per estimate (point and 95% CI), planted effects as open green diamonds."""
    e = estimates.reset_index(drop=True)
    fig, ax = _figure(8, max(2.5, 0.32 * len(e) + 1.2))
    y = np.arange(len(e))[::-1]
    has_ci = e["ci_low"].notna() & e["ci_high"].notna()
    ax.errorbar(e.loc[has_ci, "estimate"], y[has_ci.to_numpy()],
                xerr=[e.loc[has_ci, "estimate"] - e.loc[has_ci, "ci_low"],
                      e.loc[has_ci, "ci_high"] - e.loc[has_ci, "estimate"]],
                fmt="o", color=PALETTE["treated"], capsize=2, label=_("Estimate with 95% design-based interval"))
    ax.plot(e.loc[~has_ci, "estimate"], y[~has_ci.to_numpy()], "s", color=PALETTE["synthetic"],
            label=_("Estimate (no interval)"))
    if "planted" in e and e["planted"].notna().any():
        ax.plot(e["planted"], y, "D", mfc="none", color=PALETTE["planted"], ms=7, label=_("Planted effect"))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, e[label_col].tolist(), fontsize=8)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return stamp(fig, simulated)


def _with_gaps(years: pd.Series, values: pd.Series, span: range) -> tuple[np.ndarray, np.ndarray]:
    """Values on every year of ``span`` with NaN where nothing is published, so a line breaks at a gap
    instead of being drawn across it (no interpolation)."""
    s = pd.Series(values.to_numpy(dtype=float), index=years.to_numpy())
    full = s.reindex(list(span))
    return full.index.to_numpy(), full.to_numpy()


def _events(ax: Any, events: pd.DataFrame | None) -> None:
    """Vertical lines at reform years: the national pilot in black, the case provinces in grey."""
    if events is None or events.empty:
        return
    for i, (year, g) in enumerate(events.groupby("year", sort=True)):
        national = (g["province"] == "national").any()
        ax.axvline(year, color="black" if national else "#95a5a6", lw=1.2 if national else 0.9,
                   ls="-" if national else ":", zorder=0)
        basis = g["basis"] if "basis" in g else pd.Series("", index=g.index)
        names = ", ".join(("national pilot" if p == "national" else str(p) + (" (assumed)" if "assumed" in str(b)
                                                                             else ""))
                          for p, b in zip(g["province"], basis, strict=True))
        ax.annotate(names, (year + 0.08, 0.98 - 0.07 * (i % 3)), xycoords=("data", "axes fraction"),
                    fontsize=7, va="top", rotation=0, color="black" if national else "#555555")


def observed_national(series: dict[str, pd.DataFrame], events: pd.DataFrame | None = None,
                      span: range = range(2010, 2026)) -> Any:
    """Observed national series (one panel each: ``{label: frame with year, value}``), with gaps left
    open and the reform timeline as vertical lines. Every point is a published figure; no stamp is
    needed because nothing simulated is drawn (the caller passes only the shipped real series)."""
    n = len(series)
    fig, axes = _stack(n)
    axes = np.atleast_1d(axes)
    for ax, (label, df) in zip(axes, series.items(), strict=True):
        x, y = _with_gaps(df["year"], df["value"], span)
        ax.plot(x, y, color=PALETTE["treated"], lw=2, marker="o", ms=4, label="published figure")
        missing = x[np.isnan(y)]
        if len(missing):
            ax.plot(missing, np.full(len(missing), np.nanmin(y)), ls="none", marker="|", ms=10,
                    color="#95a5a6", label="not published (gap)")
        _events(ax, events)
        ax.set_ylabel(label)
        ax.set_xlim(span.start - 0.5, span.stop - 0.5)
        ax.legend(loc="lower right", fontsize=8)
    axes[-1].set_xlabel("Year")
    fig.suptitle("China: observed national series (published figures; gaps not filled)", fontsize=12)
    return fig


def _stack(n: int) -> tuple[Any, Any]:
    import matplotlib as mpl
    from matplotlib.figure import Figure

    _figure()  # the shared style
    mpl.rcParams.update({"axes.grid": True})
    fig = Figure(figsize=(7.5, 2.3 * n + 0.6), layout="constrained", dpi=100)
    return fig, fig.subplots(n, 1, sharex=True)


def observed_shares(national: pd.DataFrame, beijing: pd.DataFrame, events: pd.DataFrame | None = None,
                    span: range = range(2010, 2026)) -> Any:
    """The primary-care share of visits where it is published: China (gaps open) and Beijing 2012-2016."""
    fig, ax = _figure()
    x, y = _with_gaps(national["year"], national["value"], span)
    ax.plot(x, y, color=PALETTE["national"], lw=2, marker="o", ms=5, label="China (published)")
    xb, yb = _with_gaps(beijing["year"], beijing["value"], span)
    ax.plot(xb, yb, color=PALETTE["treated"], lw=2, marker="s", ms=5, label="Beijing (derived from published counts)")
    _events(ax, events)
    ax.set_xlim(span.start - 0.5, span.stop - 0.5)
    ax.set_ylim(0, 100)
    ax.set_xlabel("Year")
    ax.set_ylabel("Primary-care share of visits (%)")
    ax.set_title("Primary-care share of visits: only the years published")
    ax.legend(loc="lower left", fontsize=8)
    return fig
