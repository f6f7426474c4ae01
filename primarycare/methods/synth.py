"""Synthetic control (Abadie, Diamond and Hainmueller 2010).

Many provincial reforms are single-province stories: one treated unit, up to 30 possible donors and a
decade of data. :func:`synthetic_control` builds a weighted average of donor provinces (weights
non-negative and summing to one) that reproduces the treated province before the reform; the gap after
the reform is the estimated effect. Inference is by placebos (:meth:`SyntheticControl.placebo_in_space`),
as in Abadie et al. (2010), or by conformal inference (:meth:`SyntheticControl.conformal`, Chernozhukov,
Wüthrich and Zhu 2021; the code is in :mod:`primarycare.methods.conformal`). Synthetic
difference-in-differences lives in :mod:`primarycare.methods.sdid`; ``synthetic_did`` and ``SyntheticDiD``
are re-exported here so ``from primarycare.methods.synth import synthetic_did`` keeps working.

Numerical choices (documented because they matter for reproducing results):

* Inner problem (donor weights for a given predictor importance ``V``): the simplex-constrained least
  squares ``min_w ||V^1/2 (X1 - X0 w)||``, ``w >= 0``, ``sum(w) = 1``, solved exactly with
  :func:`scipy.optimize.nnls` (Lawson and Hanson 1974) through the substitution ``u = s w``: minimising
  ``||(A - b 1')u||^2 + (1'u - 1)^2`` over ``u >= 0`` gives ``u* = s* w*`` for the simplex optimum
  ``w*`` (for fixed ``s`` the first term is ``s^2 ||A w - b||^2``), so ``w* = u* / sum(u*)``.
* Outer problem (``V``), when ``predictors`` are given and no ``V`` is supplied: the standard nested
  optimisation (Abadie, Diamond and Hainmueller 2010; Abadie and Gardeazabal 2003): diagonal ``V`` on
  predictors scaled by their standard deviation across the units in the fit (as the R package *Synth*
  and *pysyncon* do), chosen to minimise the pre-period outcome MSPE, by Nelder-Mead from the best of
  several starts (equal weights, the regression-based start, each single predictor).
* Ties in the inner problem: when the treated unit lies inside the donors' hull in predictor space,
  many weight vectors reproduce the predictors exactly and a solver returns an arbitrary one. The inner
  objective therefore adds ``1e-6`` times the pre-period outcome MSPE (outcomes scaled to unit SD), which
  picks, among (near-)exact predictor fits, the one that best fits the pre-period outcome; when the
  solution is unique this moves the weights by a negligible amount (checked against pysyncon to 1e-3).
* With ``predictors=None`` the predictors are the pre-period outcome values themselves with ``V = I``:
  then the inner problem *is* the pre-period MSPE, so the weights are the global optimum of the outer
  problem and no search over ``V`` is needed (see Kaul, Kloessner, Pfeifer and Schieler 2022 on using
  all pre-period outcomes).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize, nnls

from ..errors import UserInputError
from ._prep import numeric_period, numeric_time
from .results import Estimate

__all__ = [
    "SyntheticControl",
    "PlaceboInSpace",
    "LeaveOneOut",
    "synthetic_control",
    "stamp_simulated",
]

_AGG_OPS = ("mean", "median", "sum", "min", "max", "std", "var")


# --------------------------------------------------------------------------------------------------
# figures


def stamp_simulated(fig: Any, text: str = "SIMULATED DATA") -> None:
    """Put a large, visible "SIMULATED DATA" mark across a matplotlib figure (project rule: any figure
    drawn from simulated values says so). Delegates to :func:`primarycare.plots.stamp`."""
    from ..report.plots import stamp

    stamp(fig, note=False, text=text)


def _new_figure(figsize: tuple[float, float] = (7.5, 4.2)) -> tuple[Any, Any]:
    """A figure not registered with pyplot (so notebooks do not show it twice)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot(1, 1, 1)


def _is_simulated(data: pd.DataFrame, outcome: str, rows: pd.Series | None = None) -> bool:
    """True when a ``status`` (or ``<outcome>_status``) column marks any used row as simulated."""
    for col in ("status", f"{outcome}_status"):
        if col in data.columns:
            s = data[col] if rows is None else data.loc[rows, col]
            return bool((s.astype(str).str.lower() == "simulated").any())
    return False


# --------------------------------------------------------------------------------------------------
# the numerical core (arrays only)


def simplex_least_squares(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Weights ``w >= 0`` with ``sum(w) = 1`` minimising ``||A w - b||`` (exact, via NNLS).

    Lawson and Hanson (1974) non-negative least squares on ``[A - b 1'; 1']`` against ``[0; 1]``; the
    solution rescaled to sum to one is the simplex optimum (see the module docstring for the proof).
    """
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    n = A.shape[1]
    if n == 1:
        return np.ones(1)
    At = A - b[:, None]
    scale = float(np.abs(At).max())
    if scale == 0.0 or not np.isfinite(scale):
        return np.full(n, 1.0 / n)
    E = np.vstack([At / scale, np.ones((1, n))])
    f = np.zeros(E.shape[0])
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=50 * n)
    s = u.sum()
    if s <= 0:  # cannot happen in exact arithmetic (s* = 1 / (1 + d^2) > 0); stay safe
        return np.full(n, 1.0 / n)
    w = u / s
    w[w < 1e-12] = 0.0
    return w / w.sum()


TIE_BREAK = 1e-6  # weight of the (scaled) pre-period outcome fit in the inner problem; see the docstring


def _weights_for_v(
    v: np.ndarray, X1: np.ndarray, X0: np.ndarray, tie: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Inner problem for a given V; ``tie`` = (Z1, Z0) scaled outcomes added with weight TIE_BREAK."""
    sv = np.sqrt(np.maximum(v, 0.0))
    A, b = X0 * sv[:, None], X1 * sv
    if tie is not None:
        A = np.vstack([A, np.sqrt(TIE_BREAK) * tie[1]])
        b = np.concatenate([b, np.sqrt(TIE_BREAK) * tie[0]])
    return simplex_least_squares(A, b)


def _mspe(w: np.ndarray, Z1: np.ndarray, Z0: np.ndarray) -> float:
    r = Z1 - Z0 @ w
    return float(r @ r / len(r))


def _optimise_v(X1: np.ndarray, X0: np.ndarray, Z1: np.ndarray, Z0: np.ndarray) -> np.ndarray:
    """Nested optimisation of diagonal V (Abadie, Diamond and Hainmueller 2010): minimise the pre-period
    outcome MSPE of ``w(V)``. ``V = x^2 / sum(x^2)``; Nelder-Mead from the best of several starts."""
    k = X0.shape[0]
    if k == 1:
        return np.ones(1)

    def to_v(x: np.ndarray) -> np.ndarray:
        x2 = np.asarray(x, dtype=float) ** 2
        s = x2.sum()
        return x2 / s if s > 0 else np.full(k, 1.0 / k)

    tie = _tie(Z1, Z0)

    def loss(x: np.ndarray) -> float:
        return _mspe(_weights_for_v(to_v(x), X1, X0, tie), Z1, Z0)

    starts: list[np.ndarray] = [np.full(k, 1.0 / k)]
    # regression-based start (as Synth's and pysyncon's "ols" start): squared coefficients of the
    # pre-period outcomes regressed on the predictors across units
    Xr = np.column_stack([np.ones(X0.shape[1] + 1), np.column_stack([X0, X1]).T])
    Zr = np.column_stack([Z0, Z1]).T
    beta, *_ = np.linalg.lstsq(Xr, Zr, rcond=None)
    b2 = (beta[1:] ** 2).sum(axis=1)
    if np.isfinite(b2).all() and b2.sum() > 0:
        starts.append(b2 / b2.sum())
    for j in range(k):  # single-predictor corners, slightly smoothed so Nelder-Mead can move
        e = np.full(k, 0.05 / (k - 1))
        e[j] = 0.95
        starts.append(e)
    scored = sorted(((loss(np.sqrt(s)), i) for i, s in enumerate(starts)), key=lambda t: t[0])
    best_x = np.sqrt(starts[scored[0][1]])
    best_f = scored[0][0]
    res = minimize(
        loss,
        best_x,
        method="Nelder-Mead",
        options={"maxiter": 300 * k, "xatol": 1e-5, "fatol": 1e-12 * max(best_f, 1e-300), "adaptive": True},
    )
    if res.fun < best_f:
        best_x = res.x
    return to_v(best_x)


def _tie(Z1: np.ndarray, Z0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pre-period outcomes scaled to unit SD and by 1/sqrt(T0), for the inner tie-break."""
    sd = float(np.std(np.column_stack([Z0, Z1]))) or 1.0
    k = sd * np.sqrt(len(Z1))
    return Z1 / k, Z0 / k


@dataclass
class _Fit:
    weights: np.ndarray
    v: np.ndarray | None
    synthetic: np.ndarray  # all years


def _fit_arrays(
    Y: np.ndarray,
    X: np.ndarray | None,
    treated: int,
    donors: np.ndarray,
    fit_rows: np.ndarray,
    v_user: np.ndarray | None,
) -> _Fit:
    """Fit one synthetic control on arrays: ``Y`` years x units outcomes, ``X`` predictors x units."""
    Z1, Z0 = Y[fit_rows, treated], Y[np.ix_(fit_rows, donors)]
    if X is None:
        w = simplex_least_squares(Z0, Z1)
        v = None
    else:
        cols = np.concatenate([donors, [treated]])
        sd = X[:, cols].std(axis=1, ddof=1)
        sd[sd == 0] = 1.0
        Xs = X / sd[:, None]
        X1, X0 = Xs[:, treated], Xs[:, donors]
        v = v_user if v_user is not None else _optimise_v(X1, X0, Z1, Z0)
        w = _weights_for_v(v, X1, X0, _tie(Z1, Z0))
    return _Fit(weights=w, v=v, synthetic=Y[:, donors] @ w)


# --------------------------------------------------------------------------------------------------
# input preparation


@dataclass
class _Spec:
    """Everything needed to refit: the wide outcome matrix, predictors, and the original arguments."""

    outcome: str
    unit: str
    time: str
    years: np.ndarray
    units: list[Any]
    Y: np.ndarray
    X: np.ndarray | None
    predictor_names: list[str] | None
    treated: int
    donors: np.ndarray
    treatment_time: Any
    fit_years: np.ndarray
    v_user: np.ndarray | None
    simulated: bool
    data: pd.DataFrame
    predictors: Any
    warnings: list[str] = field(default_factory=list)


def _require_columns(data: pd.DataFrame, cols: Iterable[str], what: str = "data") -> None:
    if not isinstance(data, pd.DataFrame):
        raise UserInputError(
            f"The {what} must be a pandas DataFrame in long (tidy) format; got {type(data).__name__}."
        )
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise UserInputError(
            f"The {what} has no column(s) {missing}. Expected one row per unit and period with the "
            f"columns given as arguments; the columns present are {list(data.columns)}."
        )


def _predictor_spec(p: Any, outcome: str, fit_years: np.ndarray) -> tuple[str, str, np.ndarray, str]:
    """Normalise one predictor to (label, column, years, operation)."""
    if isinstance(p, str):
        return p, p, fit_years, "mean"
    if isinstance(p, (tuple, list)) and 2 <= len(p) <= 3:
        col, yrs = p[0], p[1]
        op = p[2] if len(p) == 3 else "mean"
        yrs_arr = np.atleast_1d(np.asarray(list(yrs) if not np.isscalar(yrs) else [yrs]))
        if op not in _AGG_OPS:
            raise UserInputError(f"Predictor {p!r}: operation must be one of {_AGG_OPS}; got {op!r}.")
        label = f"{col}[{yrs_arr.min()}-{yrs_arr.max()}]" if len(yrs_arr) > 1 else f"{col}[{yrs_arr[0]}]"
        if op != "mean":
            label += f"({op})"
        return label, col, yrs_arr, op
    raise UserInputError(
        f"Predictor {p!r} is not understood. Give a column name (averaged over the pre-period) or a "
        f"tuple (column, years) or (column, years, operation), for example ('{outcome}', [2012])."
    )


def _prepare(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treated_unit: Any,
    treatment_time: Any,
    predictors: Sequence[Any] | None,
    donors: Sequence[Any] | None,
    pre_period: Iterable[Any] | None,
    V: Any,
    simulated: bool | None,
) -> _Spec:
    _require_columns(data, [outcome, unit, time])
    if not pd.api.types.is_numeric_dtype(data[time]) or pd.api.types.is_bool_dtype(data[time]):
        data = data.assign(**{time: numeric_time(data[time], time, "synthetic_control")})
    treatment_time = numeric_period(treatment_time, "treatment_time", "synthetic_control")
    if data.duplicated([unit, time]).any():
        dup = data.loc[data.duplicated([unit, time], keep=False), [unit, time]].iloc[0].tolist()
        raise UserInputError(
            f"The data has more than one row for {unit}={dup[0]!r}, {time}={dup[1]!r}. Synthetic control "
            f"needs one row per unit and period (filter the data to one indicator, or use wide format)."
        )
    units_all = pd.unique(data[unit])
    if treated_unit not in set(units_all):
        shown = ", ".join(map(str, list(units_all)[:8]))
        raise UserInputError(
            f"The treated unit {treated_unit!r} is not in column '{unit}' of the data (units present "
            f"include {shown}). Check the spelling (provinces use the English key from data/provinces.csv)."
        )
    years = np.sort(pd.unique(data[time]))
    if not (years.min() < treatment_time <= years.max()):
        raise UserInputError(
            f"treatment_time={treatment_time!r} is outside the data: the periods run from {years.min()} to "
            f"{years.max()}, and synthetic control needs pre-treatment periods and at least one period at "
            f"or after the treatment time."
        )
    pre_years = years[years < treatment_time]
    if pre_period is None:
        fit_years = pre_years
    else:
        fit_years = np.sort(np.asarray(list(pre_period)))
        bad = [y for y in fit_years if y not in set(pre_years)]
        if bad:
            raise UserInputError(
                f"pre_period contains {bad}, which are not pre-treatment periods in the data (periods "
                f"before {treatment_time} present: {list(pre_years)})."
            )
    if len(fit_years) < 3:
        raise UserInputError(
            f"Too few pre-treatment periods: {len(fit_years)} ({list(fit_years)}). Synthetic control "
            f"needs at least 3 pre-treatment periods to fit the donor weights; use an earlier treatment "
            f"time, a longer panel or a longer pre_period."
        )

    # numbers first, then one pivot (a per-column to_numeric costs seconds with thousands of units)
    wide = (data[[time, unit]].assign(_y=pd.to_numeric(data[outcome], errors="coerce"))
            .pivot(index=time, columns=unit, values="_y").reindex(years))
    if wide[treated_unit].isna().any():
        gaps = list(wide.index[wide[treated_unit].isna()])
        raise UserInputError(
            f"The treated unit {treated_unit!r} has no value of '{outcome}' in period(s) {gaps}. Synthetic "
            f"control needs the treated unit's outcome in every period of the analysis."
        )
    if donors is None:
        donor_list = [u for u in units_all if u != treated_unit]
    else:
        donor_list = list(donors)
        unknown = [d for d in donor_list if d not in set(units_all)]
        if unknown:
            raise UserInputError(f"Donor(s) {unknown} are not in column '{unit}' of the data.")
        if treated_unit in donor_list:
            raise UserInputError(
                f"The treated unit {treated_unit!r} is also listed among the donors; remove it."
            )
    notes: list[str] = []
    has_gap = set(wide.columns[wide.isna().any().to_numpy()])
    incomplete = [d for d in donor_list if d in has_gap]
    if incomplete:
        donor_list = [d for d in donor_list if d not in incomplete]
        notes.append(f"Donor(s) {incomplete} dropped: missing '{outcome}' in some period.")
    if not donor_list:
        raise UserInputError(
            f"No donors: synthetic control for {treated_unit!r} needs at least one other unit with a "
            f"complete '{outcome}' series (check the donors argument and missing values)."
        )
    units = [treated_unit, *donor_list]
    Y = wide[units].to_numpy(dtype=float)
    fit_rows = np.isin(years, fit_years)
    if np.ptp(Y[fit_rows]) == 0:
        raise UserInputError(
            f"The outcome '{outcome}' is constant ({Y[0, 0]}) across the treated unit and all donors in the "
            f"pre-treatment periods, so there is nothing to fit; check that the right indicator was chosen."
        )

    X = None
    names = None
    if predictors is not None:
        if isinstance(predictors, str):
            predictors = [predictors]
        specs = [_predictor_spec(p, outcome, fit_years) for p in predictors]
        if not specs:
            raise UserInputError(
                "predictors is an empty list; give None (use pre-period outcomes) or columns."
            )
        _require_columns(data, {s[1] for s in specs})
        sub = data[data[unit].isin(units)]
        rows = []
        for label, col, yrs, op in specs:
            part = sub[sub[time].isin(yrs)]
            vals = pd.to_numeric(part[col], errors="coerce").groupby(part[unit]).agg(op).reindex(units)
            if vals.isna().any():
                miss = list(vals.index[vals.isna()])
                raise UserInputError(
                    f"Predictor '{label}' has no value for unit(s) {miss} in periods {list(yrs)}; every "
                    f"unit in the fit needs each predictor."
                )
            if np.ptp(vals.to_numpy()) == 0:
                raise UserInputError(
                    f"Predictor '{label}' is constant across all units in the fit, so it cannot help choose "
                    f"donors; drop it from predictors."
                )
            rows.append(vals.to_numpy(dtype=float))
        X = np.vstack(rows)
        names = [s[0] for s in specs]

    v_user = None
    if V is not None:
        if X is None:
            raise UserInputError(
                "V (predictor importance) was given but predictors=None; V only applies to given predictors."
            )
        if isinstance(V, dict):
            V = pd.Series(V)
        if isinstance(V, pd.Series):
            V = V.reindex(names).to_numpy(dtype=float)
        v_user = np.asarray(V, dtype=float).ravel()
        if (
            v_user.shape != (X.shape[0],)
            or (v_user < 0).any()
            or not np.isfinite(v_user).all()
            or v_user.sum() <= 0
        ):
            raise UserInputError(
                f"V must be {X.shape[0]} non-negative numbers (one per predictor: {names}), not all zero; got {V!r}."
            )
        v_user = v_user / v_user.sum()

    if simulated is None:
        simulated = _is_simulated(data, outcome, data[unit].isin(units))
    return _Spec(
        outcome=outcome,
        unit=unit,
        time=time,
        years=years,
        units=units,
        Y=Y,
        X=X,
        predictor_names=names,
        treated=0,
        donors=np.arange(1, len(units)),
        treatment_time=treatment_time,
        fit_years=fit_years,
        v_user=v_user,
        simulated=bool(simulated),
        data=data,
        predictors=predictors,
        warnings=notes,
    )


# --------------------------------------------------------------------------------------------------
# results


def _rmspe(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else float("nan")


@dataclass
class SyntheticControl(Estimate):
    """Synthetic control result (Abadie, Diamond and Hainmueller 2010).

    ``estimate`` is ``att``, the mean gap (treated minus synthetic) over the post-treatment periods.
    ``se`` and confidence limits are not defined for a single treated unit; ``p_value`` is filled in by
    :meth:`placebo_in_space`.
    """

    weights: pd.Series = field(default_factory=pd.Series)
    gap: pd.Series = field(default_factory=pd.Series)
    treated_path: pd.Series = field(default_factory=pd.Series)
    synthetic_path: pd.Series = field(default_factory=pd.Series)
    pre_rmspe: float = float("nan")
    post_rmspe: float = float("nan")
    att: float = float("nan")
    V: pd.Series | None = None
    predictor_balance: pd.DataFrame | None = None
    treated_unit: Any = None
    treatment_time: Any = None
    simulated: bool = False
    _spec: _Spec | None = field(default=None, repr=False)

    # ---- figures

    def plot(self, kind: str = "paths", simulated: bool | None = None) -> Any:
        """Treated vs synthetic paths (``kind="paths"``) or the gap (``kind="gap"``); a matplotlib Figure."""
        sim = self.simulated if simulated is None else simulated
        fig, ax = _new_figure()
        t = self.gap.index
        if kind == "gap":
            ax.plot(t, self.gap.to_numpy(), color="black", lw=2, label="Gap (treated - synthetic)")
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_ylabel(f"Gap in {self.outcome}")
        elif kind == "paths":
            ax.plot(t, self.treated_path.to_numpy(), color="black", lw=2, label=f"{self.treated_unit}")
            ax.plot(
                t, self.synthetic_path.to_numpy(), color="tab:blue", lw=2, ls="--", label="Synthetic control"
            )
            ax.set_ylabel(self.outcome)
        else:
            raise UserInputError(f"plot(kind={kind!r}): kind must be 'paths' or 'gap'.")
        ax.axvline(self.treatment_time, color="grey", ls=":", lw=1)
        ax.set_xlabel("Year")
        ax.set_title(
            f"Synthetic control: {self.treated_unit} (ATT {self.att:.3g}, pre-RMSPE {self.pre_rmspe:.3g})"
        )
        ax.legend(frameon=False)
        if sim:
            stamp_simulated(fig)
        return fig

    # ---- placebos

    def _refit(
        self, treated: int, donors: np.ndarray, fit_rows: np.ndarray, Y: np.ndarray | None = None
    ) -> _Fit:
        s = self._spec
        assert s is not None
        return _fit_arrays(s.Y if Y is None else Y, s.X, treated, donors, fit_rows, s.v_user)

    def placebo_in_space(
        self, exclude_poor_fit: float | None = None, progress: bool = False
    ) -> PlaceboInSpace:
        """Refit with each donor as the treated unit (the original treated unit left out of the donor
        pools) and rank the post/pre RMSPE ratios (Abadie, Diamond and Hainmueller 2010, sec. 4).

        The p-value is the share of all units (treated included) whose ratio is at least the treated
        unit's: with J donors the smallest attainable p-value is 1/(J+1). ``exclude_poor_fit=c`` drops
        placebos whose pre-treatment MSPE exceeds ``c`` times the treated unit's (Abadie et al. 2010 use
        c = 20, 5 and 2). The p-value is also stored on this result (``self.p_value``).
        """
        from tqdm.auto import tqdm

        s = self._spec
        assert s is not None
        fit_rows = np.isin(s.years, s.fit_years)
        pre = s.years < s.treatment_time
        post = ~pre
        gaps = {s.units[s.treated]: self.gap.to_numpy()}
        for j in tqdm(s.donors, desc="placebo-in-space", disable=not progress, leave=False):
            others = s.donors[s.donors != j]
            if len(others) == 0:
                continue
            f = self._refit(int(j), others, fit_rows)
            gaps[s.units[j]] = s.Y[:, j] - f.synthetic
        G = pd.DataFrame(gaps, index=pd.Index(s.years, name=s.time))
        pre_mspe = (G[pre] ** 2).mean()
        post_mspe = (G[post] ** 2).mean()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.sqrt(post_mspe / pre_mspe)
        treated_name = s.units[s.treated]
        excluded: list[Any] = []
        if exclude_poor_fit is not None:
            if not exclude_poor_fit > 0:
                raise UserInputError(
                    f"exclude_poor_fit must be a positive multiple (e.g. 5); got {exclude_poor_fit!r}."
                )
            limit = exclude_poor_fit * pre_mspe[treated_name]
            excluded = [u for u in pre_mspe.index if u != treated_name and pre_mspe[u] > limit]
        kept = ratio.drop(index=excluded)
        r_t = kept[treated_name]
        rank = int((kept >= r_t - 1e-12 * abs(r_t)).sum())
        p = rank / len(kept)
        self.p_value = p
        self.inference = f"placebo-in-space permutation (Abadie et al. 2010): rank {rank} of {len(kept)}"
        warns = []
        if len(kept) < 20:
            warns.append(
                f"Only {len(kept)} units in the placebo distribution: the smallest attainable p-value is "
                f"{1 / len(kept):.3f}."
            )
        return PlaceboInSpace(
            method="Synthetic control, placebo-in-space",
            outcome=self.outcome,
            estimate=self.att,
            p_value=p,
            n_obs=self.n_obs,
            inference=self.inference,
            warnings=warns,
            gaps=G,
            ratios=ratio,
            pre_mspe=pre_mspe,
            excluded=excluded,
            rank=rank,
            treated_unit=treated_name,
            treatment_time=s.treatment_time,
            simulated=self.simulated,
            extra={"rank": rank, "n_units": len(kept), "excluded": len(excluded)},
        )

    def conformal(
        self,
        alpha: float = 0.05,
        *,
        scheme: str = "moving_block",
        average: str = "blocks",
        q: Any = 1,
        n_iid: int = 10000,
        seed: int = 0,
        grid: Any = None,
        n_grid: int = 100,
        refine: bool = True,
    ) -> Any:
        """Conformal per-period and average-effect intervals (Chernozhukov, Wüthrich and Zhu 2021) by
        test inversion with permutations of the periods; values with p > alpha are kept. Returns a
        :class:`~primarycare.methods.conformal.ConformalSC` (``.table``, ``.average``, ``.summary()``).
        Intervals are ``(-inf, inf)``, with a note, when too few periods exist to reject anything at
        ``alpha``. See :func:`primarycare.methods.conformal.conformal_intervals` for the options."""
        from .conformal import conformal_intervals

        return conformal_intervals(
            self, alpha=alpha, scheme=scheme, average=average, q=q, n_iid=n_iid, seed=seed, grid=grid,
            n_grid=n_grid, refine=refine,
        )

    def placebo_in_time(self, fake_treatment_time: Any) -> SyntheticControl:
        """Refit as if treatment had started at ``fake_treatment_time`` (before the real one), using only
        the real pre-treatment periods (Abadie, Diamond and Hainmueller 2015). A large "effect" at a fake
        date casts doubt on the design.

        The specification is kept: the same donors, the same predictors (plain columns are averaged
        over the periods before the fake date, as they were over the real pre-period), a user-given
        ``V`` and a user-given ``pre_period`` (cut at the fake date). When that is impossible, because a
        ``(column, years)`` predictor uses a period at or after the fake date or fewer than 3 fitting
        periods precede it, a :class:`~primarycare.errors.UserInputError` says so instead of silently
        refitting another specification (for example on outcomes only).
        """
        s = self._spec
        assert s is not None
        where = "SyntheticControl.placebo_in_time"
        fake = numeric_period(fake_treatment_time, "fake_treatment_time", where)
        if not fake < s.treatment_time:
            raise UserInputError(
                f"{where}: fake_treatment_time={fake_treatment_time!r} must be before the real treatment "
                f"time {s.treatment_time!r}."
            )
        _check_placebo_predictors(s.predictors, s.outcome, fake, where)
        all_pre = s.years[s.years < s.treatment_time]
        user_pre = not np.array_equal(np.asarray(s.fit_years), all_pre)
        fit = np.asarray(s.fit_years)[np.asarray(s.fit_years) < fake] if user_pre else all_pre[all_pre < fake]
        if len(fit) < 3:
            raise UserInputError(
                f"{where}: only {len(fit)} fitting period(s) precede the fake treatment time {fake!r} "
                f"({list(fit)}); the placebo needs at least 3, as the original fit did. Choose a later fake "
                "date (still before the real treatment time)."
            )
        d = s.data[s.data[s.time] < s.treatment_time]
        return synthetic_control(
            d,
            s.outcome,
            s.unit,
            s.time,
            s.units[s.treated],
            fake,
            predictors=s.predictors,
            donors=[s.units[j] for j in s.donors],
            pre_period=list(fit) if user_pre else None,
            V=None if s.v_user is None else s.v_user,
            simulated=s.simulated,
        )

    def leave_one_out(self) -> LeaveOneOut:
        """Refit dropping, in turn, each donor with positive weight (Abadie, Diamond and Hainmueller
        2015): shows whether the result rests on one donor."""
        s = self._spec
        assert s is not None
        fit_rows = np.isin(s.years, s.fit_years)
        pos = [j for j, w in zip(s.donors, self.weights.to_numpy(), strict=True) if w > 1e-6]
        gaps, atts = {}, {}
        post = s.years >= s.treatment_time
        for j in pos:
            others = s.donors[s.donors != j]
            if len(others) == 0:
                continue
            f = self._refit(s.treated, others, fit_rows)
            g = s.Y[:, s.treated] - f.synthetic
            gaps[s.units[j]] = g
            atts[s.units[j]] = float(g[post].mean())
        G = pd.DataFrame(gaps, index=pd.Index(s.years, name=s.time))
        atts_s = pd.Series(atts, name="att_without_donor", dtype=float)
        lo, hi = (float(atts_s.min()), float(atts_s.max())) if len(atts_s) else (float("nan"),) * 2
        return LeaveOneOut(
            method="Synthetic control, leave-one-out",
            outcome=self.outcome,
            estimate=self.att,
            n_obs=self.n_obs,
            inference=f"ATT range when dropping one donor: [{lo:.4g}, {hi:.4g}]",
            gaps=G,
            atts=atts_s,
            full_gap=self.gap,
            treated_unit=s.units[s.treated],
            treatment_time=s.treatment_time,
            simulated=self.simulated,
            extra={"att_min": lo, "att_max": hi},
        )


def _check_placebo_predictors(predictors: Any, outcome: str, fake_time: Any, where: str) -> None:
    """Refuse a placebo-in-time fit whose (column, years) predictors reach the fake treatment time."""
    if predictors is None or isinstance(predictors, str):
        return
    for p in predictors:
        if isinstance(p, (tuple, list)) and len(p) >= 2:
            label, _, yrs, _ = _predictor_spec(p, outcome, np.array([]))
            late = [y for y in yrs.tolist() if not y < fake_time]
            if late:
                raise UserInputError(
                    f"{where}: the predictor {label!r} uses period(s) {late}, at or after the fake treatment "
                    f"time {fake_time!r}, so the placebo cannot keep the specification of the original fit "
                    "(dropping the predictor would change it, and with a user-given V make it inconsistent). "
                    f"Choose a fake date after {max(late)!r}, or refit with predictors measured before the "
                    "fake date and run the placebo on that fit."
                )


@dataclass
class PlaceboInSpace(Estimate):
    """Placebo-in-space test (Abadie, Diamond and Hainmueller 2010): gaps of every unit refitted as if
    treated (``gaps``: periods x units, the treated unit first), post/pre RMSPE ``ratios``, and the
    permutation ``p_value``."""

    gaps: pd.DataFrame = field(default_factory=pd.DataFrame)
    ratios: pd.Series = field(default_factory=pd.Series)
    pre_mspe: pd.Series = field(default_factory=pd.Series)
    excluded: list[Any] = field(default_factory=list)
    rank: int = 0
    treated_unit: Any = None
    treatment_time: Any = None
    simulated: bool = False

    def plot(self, kind: str = "gaps", simulated: bool | None = None) -> Any:
        """Spaghetti plot of placebo gaps (``kind="gaps"``) or the sorted RMSPE ratios (``"ratios"``)."""
        sim = self.simulated if simulated is None else simulated
        fig, ax = _new_figure()
        if kind == "gaps":
            t = self.gaps.index
            for u in self.gaps.columns:
                if u == self.treated_unit:
                    continue
                style = {"color": "grey", "alpha": 0.35, "lw": 0.8}
                if u in self.excluded:
                    style = {"color": "grey", "alpha": 0.12, "lw": 0.6, "ls": ":"}
                ax.plot(t, self.gaps[u].to_numpy(), **style)
            ax.plot(
                t,
                self.gaps[self.treated_unit].to_numpy(),
                color="black",
                lw=2.2,
                label=str(self.treated_unit),
            )
            ax.plot([], [], color="grey", alpha=0.5, label="Placebos (donors as treated)")
            ax.axhline(0, color="grey", lw=0.8)
            ax.axvline(self.treatment_time, color="grey", ls=":", lw=1)
            ax.set_xlabel("Year")
            ax.set_ylabel(f"Gap in {self.outcome}")
            ax.legend(frameon=False)
        elif kind == "ratios":
            r = self.ratios.drop(index=self.excluded).sort_values()
            colors = ["black" if u == self.treated_unit else "lightgrey" for u in r.index]
            ax.barh([str(u) for u in r.index], r.to_numpy(), color=colors)
            ax.set_xlabel("Post/pre-treatment RMSPE ratio")
        else:
            raise UserInputError(f"plot(kind={kind!r}): kind must be 'gaps' or 'ratios'.")
        ax.set_title(
            f"Placebo-in-space: p = {self.p_value:.3f} (rank {self.rank} of {len(self.ratios) - len(self.excluded)})"
        )
        if sim:
            stamp_simulated(fig)
        return fig


@dataclass
class LeaveOneOut(Estimate):
    """Leave-one-out robustness (Abadie, Diamond and Hainmueller 2015): ``gaps`` (periods x dropped
    donor) and ``atts`` (ATT without each donor with positive weight)."""

    gaps: pd.DataFrame = field(default_factory=pd.DataFrame)
    atts: pd.Series = field(default_factory=pd.Series)
    full_gap: pd.Series = field(default_factory=pd.Series)
    treated_unit: Any = None
    treatment_time: Any = None
    simulated: bool = False

    def plot(self, simulated: bool | None = None) -> Any:
        """The full-donor-pool gap (black) and the gap without each positive-weight donor (grey)."""
        sim = self.simulated if simulated is None else simulated
        fig, ax = _new_figure()
        t = self.full_gap.index
        for u in self.gaps.columns:
            ax.plot(t, self.gaps[u].to_numpy(), color="grey", alpha=0.6, lw=1)
        ax.plot([], [], color="grey", label="Dropping one donor")
        ax.plot(t, self.full_gap.to_numpy(), color="black", lw=2.2, label="All donors")
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(self.treatment_time, color="grey", ls=":", lw=1)
        ax.set_xlabel("Year")
        ax.set_ylabel(f"Gap in {self.outcome}")
        ax.set_title(f"Leave-one-out: {self.treated_unit}")
        ax.legend(frameon=False)
        if sim:
            stamp_simulated(fig)
        return fig


# --------------------------------------------------------------------------------------------------
# the public estimator


def synthetic_control(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treated_unit: Any,
    treatment_time: Any,
    predictors: Sequence[Any] | None = None,
    donors: Sequence[Any] | None = None,
    pre_period: Iterable[Any] | None = None,
    *,
    V: Any = None,
    simulated: bool | None = None,
) -> SyntheticControl:
    """Synthetic control estimate for one treated unit (Abadie, Diamond and Hainmueller 2010).

    ``data`` is tidy: one row per ``unit`` and ``time`` with the ``outcome`` column (and any predictor
    columns). ``predictors``: ``None`` (the pre-period outcome values, with V = I: the weights then
    minimise the pre-period MSPE directly), or a list of column names (averaged over ``pre_period``)
    and/or ``(column, years[, operation])`` tuples, e.g. ``("y", [2012])`` for a lagged outcome.
    ``donors`` defaults to every other unit; ``pre_period`` (the years used for fitting) to every period
    before ``treatment_time``. ``V`` fixes the predictor importance (one non-negative number per
    predictor, normalised to sum 1) instead of the nested optimisation. ``simulated`` marks figures;
    by default it is read from a ``status`` / ``<outcome>_status`` column.

    A treated unit outside the donors' range (no weighted average can reproduce it) is still fitted,
    with a warning stating the pre-treatment RMSPE.
    """
    spec = _prepare(
        data, outcome, unit, time, treated_unit, treatment_time, predictors, donors, pre_period, V, simulated
    )
    fit_rows = np.isin(spec.years, spec.fit_years)
    f = _fit_arrays(spec.Y, spec.X, spec.treated, spec.donors, fit_rows, spec.v_user)
    idx = pd.Index(spec.years, name=time)
    y1 = spec.Y[:, spec.treated]
    gap = y1 - f.synthetic
    pre = spec.years < treatment_time
    post = ~pre
    pre_rmspe, post_rmspe = _rmspe(gap[pre]), _rmspe(gap[post])
    att = float(gap[post].mean())
    donor_names = [spec.units[j] for j in spec.donors]
    weights = pd.Series(f.weights, index=pd.Index(donor_names, name=unit), name="weight")
    notes = list(spec.warnings)

    # poor pre-fit / outside the convex hull
    Y0pre = spec.Y[np.ix_(pre, spec.donors)]
    outside = int(((y1[pre] > Y0pre.max(axis=1)) | (y1[pre] < Y0pre.min(axis=1))).sum())
    spread = float(np.mean(spec.Y[pre].std(axis=1, ddof=1))) if spec.Y.shape[1] > 1 else float("nan")
    if outside >= max(1, math.ceil(pre.sum() / 2)) or (
        np.isfinite(spread) and spread > 0 and pre_rmspe > 0.25 * spread
    ):
        where = (
            f"{treated_unit!r} lies outside the donors' range in {outside} of {int(pre.sum())} "
            f"pre-treatment periods (outside their convex hull, so no weighted average of donors can "
            f"reproduce it)"
            if outside
            else f"no weighted average of the donors reproduces {treated_unit!r} closely"
        )
        msg = (
            f"Poor pre-treatment fit: {where}; pre-treatment RMSPE = {pre_rmspe:.4g} (cross-unit SD of the "
            f"outcome {spread:.4g}). Read the gap with caution."
        )
        notes.append(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)

    v_series = None
    balance = None
    if spec.X is not None:
        v_series = pd.Series(f.v, index=spec.predictor_names, name="V")
        balance = pd.DataFrame(
            {
                "treated": spec.X[:, spec.treated],
                "synthetic": spec.X[:, spec.donors] @ f.weights,
                "donor_mean": spec.X[:, spec.donors].mean(axis=1),
                "V": f.v,
            },
            index=spec.predictor_names,
        )
    how = (
        "user-given V"
        if spec.v_user is not None
        else ("nested V optimisation" if spec.X is not None else "pre-period outcomes, V = I")
    )
    res = SyntheticControl(
        method="Synthetic control",
        outcome=outcome,
        estimate=att,
        n_obs=int(spec.Y.size),
        inference="none yet: run .placebo_in_space() for a permutation p-value",
        warnings=notes,
        extra={
            "treated_unit": str(treated_unit),
            "donors": len(donor_names),
            "pre_rmspe": pre_rmspe,
            "predictors": how,
        },
        weights=weights,
        gap=pd.Series(gap, index=idx, name="gap"),
        treated_path=pd.Series(y1, index=idx, name=str(treated_unit)),
        synthetic_path=pd.Series(f.synthetic, index=idx, name="synthetic"),
        pre_rmspe=pre_rmspe,
        post_rmspe=post_rmspe,
        att=att,
        V=v_series,
        predictor_balance=balance,
        treated_unit=treated_unit,
        treatment_time=treatment_time,
        simulated=spec.simulated,
        _spec=spec,
    )
    return res


def __getattr__(name: str) -> Any:
    """Re-export synthetic DiD (moved to :mod:`primarycare.methods.sdid`) without a circular import."""
    if name in ("SyntheticDiD", "synthetic_did"):
        from . import sdid

        return getattr(sdid, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
