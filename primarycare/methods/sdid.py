"""Synthetic difference-in-differences: block designs (Arkhangelsky, Athey, Hirshberg, Imbens and Wager
2021) and staggered adoption (Clarke, Pailanir, Athey and Imbens 2023).

SDID re-weights control units (``omega``, a regularised synthetic control with an intercept) and
pre-treatment periods (``lambda``) so that a weighted difference-in-differences compares the treated
units with controls that moved in parallel before the reform. It suits the book's setting of one or a
few treated provinces and about thirty controls.

Staggered adoption (several provinces reforming in different years) follows Clarke et al. (2023) and the
Stata ``sdid`` command: each adoption cohort (units first treated in the same period) is estimated as
its own block design against the never-treated units, over all periods, and the cohort estimates are
averaged with weights proportional to the cohort's number of treated unit-periods,
``N_tr^a T_post^a / sum_b N_tr^b T_post^b`` (the same aggregation as the ``synthdid-py`` port of the
authors' R package). Units treated only after the last period of the data count as never treated in the
sample. The placebo variance (Arkhangelsky et al. 2021, Algorithm 4; Clarke et al. 2023 for the
staggered case) gives the observed adoption pattern to randomly chosen never-treated units, re-estimates
everything on the never-treated units only, and takes the standard deviation of those placebo estimates.
When there are no more distinct placebo assignments than draws (one treated province and 24 controls: 24),
every assignment is used once instead, which gives the variance that the random draws estimate, exactly
(see :func:`synthetic_did`, ``placebo``).

Weights are solved exactly (non-negative least squares, see :mod:`primarycare.methods.synth`), where the
authors' R package and ``synthdid-py`` use Frank-Wolfe iterations with a sparsification step, so weights
and estimates can differ slightly from theirs (0.0016 packs per capita on California's Proposition 99:
-15.6054 here, -15.6038 in R).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..errors import UserInputError
from .results import Estimate
from .synth import _is_simulated, _new_figure, _require_columns, simplex_least_squares, stamp_simulated

__all__ = ["SyntheticDiD", "CohortFit", "synthetic_did"]


@dataclass
class CohortFit:
    """One adoption cohort's block SDID fit: the cohort's first treated period, its units, the estimate
    ``tau``, unit weights ``omega`` over the never-treated units, time weights ``lam`` over the cohort's
    pre-treatment periods, ``zeta``, and the treated mean and SDID counterfactual paths."""

    cohort: Any
    treated_units: list[Any]
    tau: float
    omega: pd.Series
    lam: pd.Series
    zeta: float
    treated_path: pd.Series
    synthetic_path: pd.Series


@dataclass
class SyntheticDiD(Estimate):
    """Synthetic difference-in-differences result (Arkhangelsky, Athey, Hirshberg, Imbens and Wager
    2021): ``estimate`` the weighted DiD, ``se`` from the placebo variance (their Algorithm 4).

    Block design: ``unit_weights`` over controls, ``time_weights`` over pre-treatment periods, the
    ``treated_path`` and ``synthetic_path``. Staggered adoption (Clarke, Pailanir, Athey and Imbens 2023):
    ``estimate`` is the cohort average weighted by treated unit-periods; ``cohorts`` has one row per
    cohort (``cohort``, ``n_treated``, ``n_control``, ``n_pre``, ``n_post``, ``weight``, ``estimate``,
    ``zeta``) and ``cohort_fits`` each cohort's weights and paths (the top-level weights and paths are
    then empty; ``zeta`` is NaN). ``treatment_time`` is the common start (block) or a dict unit -> first
    treated period (staggered).
    """

    unit_weights: pd.Series = field(default_factory=pd.Series)
    time_weights: pd.Series = field(default_factory=pd.Series)
    placebo_estimates: np.ndarray = field(default_factory=lambda: np.zeros(0))
    treated_units: list[Any] = field(default_factory=list)
    treatment_time: Any = None
    zeta: float = float("nan")
    treated_path: pd.Series = field(default_factory=pd.Series)
    synthetic_path: pd.Series = field(default_factory=pd.Series)
    simulated: bool = False
    cohorts: pd.DataFrame = field(default_factory=pd.DataFrame)
    cohort_fits: dict[Any, CohortFit] = field(default_factory=dict)
    staggered: bool = False

    def plot(self, simulated: bool | None = None) -> Any:
        """Block design: the treated average and the unit-weighted control average shifted to the treated's
        time-weighted pre-period level (the parallel-trend counterfactual SDID uses). Staggered: one line
        per cohort, treated mean minus its SDID counterfactual, with the cohort's start marked."""
        sim = self.simulated if simulated is None else simulated
        fig, ax = _new_figure()
        if not self.staggered:
            t = self.treated_path.index
            ax.plot(t, self.treated_path.to_numpy(), color="black", lw=2, label="Treated (mean)")
            ax.plot(
                t,
                self.synthetic_path.to_numpy(),
                color="tab:blue",
                ls="--",
                lw=2,
                label="SDID counterfactual",
            )
            ax.axvline(self.treatment_time, color="grey", ls=":", lw=1)
            ax.set_ylabel(self.outcome)
        else:
            for k, (g, c) in enumerate(self.cohort_fits.items()):
                color = f"C{k % 10}"
                gap = c.treated_path - c.synthetic_path
                ax.plot(gap.index, gap.to_numpy(), color=color, lw=1.8, label=f"Cohort {g} ({len(c.treated_units)})")
                ax.axvline(g, color=color, ls=":", lw=1)
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_ylabel(f"Treated minus SDID counterfactual ({self.outcome})")
        ax.set_xlabel("Year")
        ax.set_title(f"Synthetic DiD: {self.estimate:.3g} (placebo se {self.se:.3g})")
        ax.legend(frameon=False)
        if sim:
            stamp_simulated(fig)
        return fig


def _centered_simplex_ridge(A: np.ndarray, b: np.ndarray, ridge: float) -> np.ndarray:
    """``argmin_{w0, w in simplex} ||w0 + A w - b||^2 + ridge^2 ||w||^2``: the free intercept is removed
    by centring the rows, the ridge by stacking ``ridge * I`` under ``A`` (then exact NNLS)."""
    Ac = A - A.mean(axis=0, keepdims=True)
    bc = b - b.mean()
    n = A.shape[1]
    As = np.vstack([Ac, ridge * np.eye(n)])
    bs = np.concatenate([bc, np.zeros(n)])
    return simplex_least_squares(As, bs)


def _sdid_core(Y: np.ndarray, n_tr: int, t_pre: int) -> tuple[float, np.ndarray, np.ndarray, float]:
    """SDID on a units x periods matrix whose last ``n_tr`` rows are treated from period ``t_pre`` on
    (Arkhangelsky et al. 2021, Algorithm 1). Returns (tau, omega, lambda, zeta)."""
    Y0, Y1 = Y[:-n_tr], Y[-n_tr:]
    n_co, T = Y0.shape
    t_post = T - t_pre
    diffs = np.diff(Y0[:, :t_pre], axis=1)
    sigma = float(np.std(diffs, ddof=1)) if diffs.size > 1 else 0.0
    zeta = (n_tr * t_post) ** 0.25 * sigma
    # unit weights: rows are pre-periods
    omega = _centered_simplex_ridge(Y0[:, :t_pre].T, Y1[:, :t_pre].mean(axis=0), zeta * np.sqrt(t_pre))
    # time weights: rows are control units; a tiny ridge (1e-6 sigma) for uniqueness
    lam = _centered_simplex_ridge(Y0[:, :t_pre], Y0[:, t_pre:].mean(axis=1), 1e-6 * sigma * np.sqrt(n_co))
    tr = Y1.mean(axis=0)
    tau = (tr[t_pre:].mean() - tr[:t_pre] @ lam) - omega @ (Y0[:, t_pre:].mean(axis=1) - Y0[:, :t_pre] @ lam)
    return float(tau), omega, lam, zeta


def _staggered_tau(
    Y0: np.ndarray, cohort_rows: list[np.ndarray], t_pres: list[int], weights: np.ndarray
) -> float:
    """Cohort-weighted SDID: cohort ``k`` (rows ``cohort_rows[k]`` of ``Y0``'s companion matrix, already
    stacked) against the controls ``Y0``. Used for the placebo assignments."""
    taus = [
        _sdid_core(np.vstack([Y0, rows]), len(rows), t)[0] for rows, t in zip(cohort_rows, t_pres, strict=True)
    ]
    return float(np.dot(weights, taus))


def _n_placebo_assignments(n_controls: int, n_trs: Sequence[int]) -> int:
    """Distinct placebo assignments: ways to give cohort k's ``n_trs[k]`` treated slots to distinct controls
    (the multinomial ``n_controls! / (n_1! ... n_K! (n_controls - sum n_k)!)``; one cohort: n_controls choose
    n_tr)."""
    out, free = 1, n_controls
    for n in n_trs:
        out *= math.comb(free, int(n))
        free -= int(n)
    return out


def _all_placebo_assignments(n_controls: int, n_trs: Sequence[int]) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """Every distinct placebo assignment once, as (kept controls, the controls given each cohort), control
    indices in increasing order."""
    def rec(free: tuple[int, ...], k: int) -> Iterator[list[tuple[int, ...]]]:
        if k == len(n_trs):
            yield [free]
            return
        for comb in itertools.combinations(free, int(n_trs[k])):
            chosen = set(comb)
            for rest in rec(tuple(u for u in free if u not in chosen), k + 1):
                yield [comb, *rest]

    for parts in rec(tuple(range(n_controls)), 0):
        yield np.array(parts[-1], dtype=np.int64), [np.array(c, dtype=np.int64) for c in parts[:-1]]


def _drawn_placebo_assignments(n_controls: int, n_trs: Sequence[int], n_draws: int,
                               seed: int) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """``n_draws`` seeded random placebo assignments (a uniform permutation of the controls each; as the
    authors' R package ``synthdid::placebo_se``)."""
    rng = np.random.default_rng(seed)
    n_tr = int(sum(n_trs))
    bounds = np.cumsum([0, *n_trs])
    for _ in range(n_draws):
        perm = rng.permutation(n_controls)
        keep, fake = perm[: n_controls - n_tr], perm[n_controls - n_tr :]
        yield keep, [fake[bounds[k] : bounds[k + 1]] for k in range(len(n_trs))]


def _first_treated_from_args(
    data: pd.DataFrame,
    unit: str,
    time: str,
    wide: pd.DataFrame,
    years: np.ndarray,
    treated_units: Any,
    treatment_time: Any,
    treatment: str | None,
    first_treated: str | None,
) -> tuple[dict[Any, Any], bool, list[str]]:
    """The design as a dict treated unit -> first treated period, whether the user typed the periods
    (then out-of-range periods are errors, not notes), and notes."""
    notes: list[str] = []
    given = sum(x is not None for x in (treatment, first_treated)) + (treated_units is not None or treatment_time is not None)
    if given > 1:
        raise UserInputError(
            "synthetic_did: give the design one way only: treated_units and treatment_time, or a 0/1 "
            "treatment column (treatment=...), or a first-treated column (first_treated=...)."
        )
    if treatment is not None:
        D = data.pivot(index=unit, columns=time, values=treatment).reindex(index=wide.index, columns=years)
        if not D.isin([0, 1]).all().all():
            raise UserInputError(
                f"synthetic_did: column '{treatment}' must be 0/1 for every unit and period."
            )
        ever = D.index[(D == 1).any(axis=1)].tolist()
        if not ever:
            raise UserInputError(f"synthetic_did: column '{treatment}' marks no unit as treated.")
        first = {u: years[np.argmax(D.loc[u].to_numpy() == 1)] for u in ever}
        switch = [u for u in ever if not (D.loc[u].to_numpy() == (years >= first[u])).all()]
        if switch:
            raise UserInputError(
                f"synthetic_did: column '{treatment}' is not absorbing for unit(s) {switch[:5]}: once treated "
                f"a unit must stay treated (0 before its first treated period, 1 from then on). Synthetic "
                f"DiD handles a block design or staggered adoption, not treatments that switch off."
            )
        return first, False, notes
    if first_treated is not None:
        ft = data[[unit, first_treated]].copy()
        ft[first_treated] = pd.to_numeric(ft[first_treated], errors="coerce")
        per_unit = ft.groupby(unit)[first_treated].agg(["min", "max"])
        varying = per_unit.index[
            (per_unit["min"] != per_unit["max"]) & per_unit[["min", "max"]].notna().all(axis=1)
        ].tolist()
        if varying:
            raise UserInputError(
                f"synthetic_did: column '{first_treated}' must hold one first treated period per unit; it "
                f"varies within unit(s) {varying[:5]}."
            )
        g = per_unit["min"]
        g = g[g.notna() & (g != 0)]  # 0 or missing = never treated
        if g.empty:
            raise UserInputError(
                f"synthetic_did: column '{first_treated}' marks no unit as treated (0 or missing means "
                f"never treated)."
            )
        late = g.index[g > years.max()].tolist()
        if late:
            notes.append(
                f"Unit(s) {late} first treated after the last period ({years.max()}) count as never treated."
            )
        g = g[g <= years.max()]
        if g.empty:
            raise UserInputError(
                f"synthetic_did: every unit marked in '{first_treated}' is first treated after the data end."
            )
        return {u: _as_year(v, years) for u, v in g.items()}, False, notes
    if treated_units is None and isinstance(treatment_time, Mapping):
        treated_units = list(treatment_time)
    if treated_units is None or treatment_time is None:
        raise UserInputError(
            "synthetic_did: give treated_units and treatment_time (or a treatment or first_treated column)."
        )
    if isinstance(treated_units, (str, int, np.integer)) or not isinstance(treated_units, Iterable):
        treated_units = [treated_units]
    treated_units = list(treated_units)
    if isinstance(treatment_time, Mapping):
        missing = [u for u in treated_units if u not in treatment_time]
        if missing:
            raise UserInputError(f"synthetic_did: treatment_time has no period for treated unit(s) {missing}.")
        first = {u: treatment_time[u] for u in treated_units}
    elif isinstance(treatment_time, (list, tuple, np.ndarray, pd.Series)):
        if len(treatment_time) != len(treated_units):
            raise UserInputError(
                f"synthetic_did: treatment_time lists {len(treatment_time)} periods for "
                f"{len(treated_units)} treated units; give one period per unit (or one for all)."
            )
        first = dict(zip(treated_units, list(treatment_time), strict=True))
    else:
        first = dict.fromkeys(treated_units, treatment_time)
    return first, True, notes


def _as_year(v: float, years: np.ndarray) -> Any:
    """A first-treated value read as a number, returned in the type of the time column when it matches."""
    hit = years[years == v]
    return hit[0] if len(hit) else v


def synthetic_did(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treated_units: Sequence[Any] | Any | None = None,
    treatment_time: Any = None,
    *,
    treatment: str | None = None,
    first_treated: str | None = None,
    n_placebo: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    simulated: bool | None = None,
    progress: bool = False,
    placebo: str = "auto",
) -> SyntheticDiD:
    """Synthetic difference-in-differences (Arkhangelsky, Athey, Hirshberg, Imbens and Wager 2021), for
    one adoption date or staggered adoption (Clarke, Pailanir, Athey and Imbens 2023).

    The design, one of:

    * ``treated_units`` and ``treatment_time``: one period for all (block design), or one per unit (a
      list aligned with ``treated_units``, or a dict unit -> period; then ``treated_units`` may be None);
    * ``treatment``: a 0/1 column, absorbing (a unit stays treated once treated);
    * ``first_treated``: a column with each unit's first treated period (0 or missing = never treated;
      a period after the data end also counts as never treated, with a note).

    Each adoption cohort is a block design estimated against the never-treated units over all periods
    (cohorts from a column with fewer than 3 pre-treatment periods are dropped, with a note); the
    estimate is the cohort average weighted by treated unit-periods (Clarke et al. 2023). With one
    cohort it is the block estimator. Unit weights use the paper's regularisation
    ``zeta = (N_tr T_post)^(1/4) sigma`` (``sigma`` the SD of the controls' first differences before
    treatment), time weights a ``1e-6 sigma`` ridge; both are solved exactly (NNLS), where the authors'
    R package uses Frank-Wolfe iterations with a sparsification step, so weights can differ slightly.
    ``se`` is the placebo standard error (Algorithm 4; requires more never-treated units than treated
    units): the standard deviation of re-estimates in which never-treated units are given the observed
    adoption pattern and the really treated units are left out; the interval is normal-based.
    ``placebo="draws"``: ``n_placebo`` seeded random assignments, as the authors' R package
    (``synthdid::placebo_se``, 200 replications) and ``synthdid-py``. ``placebo="auto"`` (default): the
    same, unless the number of distinct assignments (controls choose treated units; per cohort in the
    staggered case) is at most ``n_placebo``; then each assignment is used exactly once, and the se is
    the exact standard deviation over the uniform assignment distribution that the draws sample from
    (the limit of Algorithm 4 as the number of replications grows), free of Monte Carlo noise and
    cheaper (one treated unit and 24 controls: 24 fits instead of 200). ``placebo_estimates`` holds the
    estimates of the assignments used, and ``extra["placebo_enumerated"]`` says which way was taken.
    """
    cols = [outcome, unit, time] + [c for c in (treatment, first_treated) if c]
    _require_columns(data, cols)
    if placebo not in ("auto", "draws"):
        raise UserInputError(f"synthetic_did: placebo must be 'auto' or 'draws'; got {placebo!r}.")
    if data.duplicated([unit, time]).any():
        raise UserInputError(
            f"synthetic_did: more than one row per {unit} and {time}; filter the data to one indicator."
        )
    wide = data.pivot(index=unit, columns=time, values=outcome).apply(pd.to_numeric, errors="coerce")
    years = np.asarray(wide.columns)
    first, typed, notes = _first_treated_from_args(
        data, unit, time, wide, years, treated_units, treatment_time, treatment, first_treated
    )
    unknown = [u for u in first if u not in wide.index]
    if unknown:
        raise UserInputError(f"synthetic_did: treated unit(s) {unknown} are not in column '{unit}'.")

    # cohorts and their pre-periods
    cohorts: dict[Any, list[Any]] = {}
    for u, g in first.items():
        cohorts.setdefault(g, []).append(u)
    dropped_cohorts = []
    for g in sorted(cohorts):
        t_pre = int((years < g).sum())
        if typed and not (years.min() < g <= years.max()):
            raise UserInputError(
                f"synthetic_did: treatment_time={g!r} is outside the data ({years.min()} to {years.max()})."
            )
        if t_pre < 3:
            if typed or len(cohorts) == 1:
                raise UserInputError(
                    f"synthetic_did: too few pre-treatment periods ({t_pre}) for units first treated in "
                    f"{g}; at least 3 are needed."
                )
            dropped_cohorts.append(g)
    for g in dropped_cohorts:
        notes.append(
            f"Cohort first treated in {g} (unit(s) {cohorts[g]}) dropped: fewer than 3 pre-treatment periods."
        )
        del cohorts[g]
    if not cohorts:
        raise UserInputError("synthetic_did: no cohort has at least 3 pre-treatment periods.")
    order = sorted(cohorts)
    treated_all = [u for g in order for u in cohorts[g]]
    ever = set(first)  # units in dropped cohorts are neither treated nor controls

    complete = wide.dropna()
    dropped = [u for u in wide.index if u not in complete.index]
    if any(u in dropped for u in treated_all):
        raise UserInputError(
            "synthetic_did: a treated unit has missing outcome values; a balanced panel is needed."
        )
    controls = [u for u in complete.index if u not in ever]
    if not controls:
        raise UserInputError("synthetic_did: no never-treated control units with complete outcome series.")
    Y0 = complete.loc[controls].to_numpy(dtype=float)
    Ys = [complete.loc[cohorts[g]].to_numpy(dtype=float) for g in order]
    if np.ptp(np.vstack([Y0, *Ys])) == 0:
        raise UserInputError(f"synthetic_did: '{outcome}' is constant; there is nothing to estimate.")
    T = len(years)
    t_pres = [int((years < g).sum()) for g in order]
    n_trs = np.array([len(cohorts[g]) for g in order])
    cw = n_trs * (T - np.array(t_pres))
    cw = cw / cw.sum()

    idx = pd.Index(years, name=time)
    fits: dict[Any, CohortFit] = {}
    for g, Y1, t_pre in zip(order, Ys, t_pres, strict=True):
        tau_g, omega, lam, zeta = _sdid_core(np.vstack([Y0, Y1]), len(Y1), t_pre)
        tr = Y1.mean(axis=0)
        co = omega @ Y0
        shift = (tr[:t_pre] - co[:t_pre]) @ lam
        fits[g] = CohortFit(
            cohort=g,
            treated_units=list(cohorts[g]),
            tau=tau_g,
            omega=pd.Series(omega, index=pd.Index(controls, name=unit), name="omega"),
            lam=pd.Series(lam, index=pd.Index(years[:t_pre], name=time), name="lambda"),
            zeta=zeta,
            treated_path=pd.Series(tr, index=idx, name="treated"),
            synthetic_path=pd.Series(co + shift, index=idx, name="sdid_counterfactual"),
        )
    tau = float(np.dot(cw, [fits[g].tau for g in order]))
    staggered = len(order) > 1

    if dropped:
        notes.append(f"Units with missing '{outcome}' dropped: {dropped}.")
    n_tr = len(treated_all)
    enumerated = False
    if len(controls) <= n_tr:
        placebo_est = np.zeros(0)
        se = float("nan")
        notes.append(
            "Placebo standard error needs more control units (never treated) than treated units; not computed."
        )
    else:
        from tqdm.auto import tqdm

        n_assign = _n_placebo_assignments(len(controls), n_trs)
        enumerated = placebo == "auto" and n_assign <= n_placebo
        n_runs = n_assign if enumerated else n_placebo
        assignments = (_all_placebo_assignments(len(controls), n_trs) if enumerated
                       else _drawn_placebo_assignments(len(controls), n_trs, n_placebo, seed))
        placebo_est = np.empty(n_runs)
        for b, (keep, fake) in enumerate(tqdm(assignments, total=n_runs, desc="SDID placebo",
                                              disable=not progress, leave=False)):
            placebo_est[b] = _staggered_tau(Y0[keep], [Y0[f] for f in fake], t_pres, cw)
        se = float(np.sqrt(np.mean((placebo_est - placebo_est.mean()) ** 2)))
    z = float(norm.ppf(1 - alpha / 2))
    p = float(2 * norm.sf(abs(tau / se))) if se > 0 else float("nan")
    if simulated is None:
        simulated = _is_simulated(data, outcome)
    table = pd.DataFrame(
        {
            "cohort": order,
            "n_treated": n_trs,
            "n_control": len(controls),
            "n_pre": t_pres,
            "n_post": [T - t for t in t_pres],
            "weight": cw,
            "estimate": [fits[g].tau for g in order],
            "zeta": [fits[g].zeta for g in order],
        }
    )
    one = fits[order[0]]
    how = (
        "placebo variance (Clarke et al. 2023: never-treated units given the observed adoption pattern)"
        if staggered
        else "placebo variance (Arkhangelsky et al. 2021, Algorithm 4)"
    )
    extra: dict[str, Any] = {"treated_units": n_tr, "controls": len(controls), "placebo_enumerated": enumerated}
    if staggered:
        extra["cohorts"] = len(order)
    else:
        extra["zeta"] = one.zeta
    return SyntheticDiD(
        method="Synthetic difference-in-differences" + (", staggered adoption" if staggered else ""),
        outcome=outcome,
        estimate=tau,
        se=se,
        ci_low=tau - z * se,
        ci_high=tau + z * se,
        p_value=p,
        n_obs=int(T * (len(controls) + n_tr)),
        alpha=alpha,
        inference=(f"{how}, all {len(placebo_est)} distinct placebo assignments (exact), normal CI" if enumerated
                   else f"{how}, {len(placebo_est)} draws, normal CI"),
        warnings=notes,
        extra=extra,
        unit_weights=pd.Series(dtype=float) if staggered else one.omega,
        time_weights=pd.Series(dtype=float) if staggered else one.lam,
        placebo_estimates=placebo_est,
        treated_units=treated_all,
        treatment_time={u: first[u] for u in treated_all} if staggered else order[0],
        zeta=float("nan") if staggered else one.zeta,
        treated_path=pd.Series(dtype=float) if staggered else one.treated_path,
        synthetic_path=pd.Series(dtype=float) if staggered else one.synthetic_path,
        simulated=bool(simulated),
        cohorts=table,
        cohort_fits=fits,
        staggered=staggered,
    )
