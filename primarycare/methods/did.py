"""Difference-in-differences estimators for provincial reform panels.

* :func:`twfe`: two-way fixed-effects DiD with a 0/1 treatment (regression by statsmodels on the
  two-way within-transformed data; CRV1 with the fixest/pyfixest small-sample correction, see
  :mod:`primarycare._vcov`).
* :func:`event_study`: relative-time coefficients by TWFE with leads and lags, Sun and Abraham (2021)
  interaction-weighted, or Borusyak, Jaravel and Spiess (2024) imputation.
* :func:`callaway_santanna`: Callaway and Sant'Anna (2021) group-time ATTs and their aggregations.
* :func:`bacon_decomposition`: Goodman-Bacon (2021) decomposition of the TWFE coefficient.

With one treated province, cluster-robust standard errors are not reliable (Conley and Taber, 2011;
MacKinnon and Webb, 2017); every result built from them then carries a warning pointing to
:func:`primarycare.inference.randomization_test`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import UserInputError
from . import _prep
from ._bacon import BaconResult, bacon_decomposition
from ._cs import CSResult, callaway_santanna
from ._fe import TwoWay
from ._vcov import Fit, _codes, ols_fit, t_inference, wald_f
from .results import Estimate

__all__ = [
    "twfe",
    "event_study",
    "callaway_santanna",
    "bacon_decomposition",
    "TWFEResult",
    "EventStudyResult",
    "CSResult",
    "BaconResult",
    "TWFEKernel",
]

FEW_CLUSTERS = (
    "fewer than 2 treated clusters: cluster-robust standard errors, p-values and confidence intervals "
    "are not reliable with {n} treated cluster(s) (Conley and Taber 2011; MacKinnon and Webb 2017). "
    "Use primarycare.inference.randomization_test for inference."
)


@dataclass
class TWFEKernel:
    """What a randomization test needs to refit TWFE for many treatment vectors at once.

    The two-way projection M does not depend on the treatment, so for a permuted treatment D_p the
    coefficient is (M y)' W D_p / D_p' W M D_p: ``y_tilde`` = M y is computed once and each D_p is
    residualised by the same (vectorised) projection.
    """

    index: pd.Index
    tw: TwoWay
    y_tilde: np.ndarray
    treatment: str
    weights: np.ndarray | None
    time: str = ""

    def estimates(self, D: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """TWFE coefficients for each column of ``D`` (n x P, rows aligned with ``index``)."""
        return self.coefs(D, self.y_tilde[:, None], chunk)[0]

    def coefs(self, D: np.ndarray, Y: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """(m x P) coefficients of each residualised outcome column of ``Y`` (n x m) on each column of D."""
        D = np.asarray(D, dtype=float)
        w = np.ones(D.shape[0]) if self.weights is None else self.weights
        WY = (w[:, None] * Y).T
        out = np.empty((Y.shape[1], D.shape[1]))
        for s in range(0, D.shape[1], chunk):
            Dc = D[:, s : s + chunk]
            num = WY @ Dc
            if self.tw.balanced:
                den = _balanced_quadratic(Dc, self.tw)
            else:
                den = np.einsum("i,ij,ij->j", w, Dc, self.tw.demean(Dc))
            ok = den > 1e-12
            out[:, s : s + chunk] = np.where(ok, num / np.where(ok, den, 1.0), np.nan)
        return out


def _balanced_quadratic(D: np.ndarray, tw: TwoWay) -> np.ndarray:
    """D' M D per column on a balanced panel: sum D^2 - sum(unit sums^2)/T - sum(time sums^2)/N + total^2/NT."""
    N, T = tw.n_units, tw.n_times
    cu = tw.unit_indicator_t() @ D
    ct = tw.time_indicator_t() @ D
    tot = cu.sum(axis=0)
    return (D * D).sum(axis=0) - (cu * cu).sum(axis=0) / T - (ct * ct).sum(axis=0) / N + tot * tot / (N * T)


@dataclass
class TWFEResult(Estimate):
    """TWFE DiD result; ``kernel`` lets :func:`primarycare.inference.randomization_test` refit fast."""

    n_clusters: int | None = None
    n_treated_clusters: int | None = None
    kernel: Any = field(default=None, repr=False, compare=False)


def _n_treated_clusters(cluster_values: np.ndarray, treated: np.ndarray) -> int:
    """Number of clusters with at least one treated observation."""
    codes, G = _codes(cluster_values)
    ok = codes >= 0
    return int(np.count_nonzero(np.bincount(codes[ok], weights=(np.asarray(treated)[ok] > 0), minlength=G)))


def twfe(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treatment: str,
    cluster: str | None = None,
    weights: str | None = None,
    *,
    small_sample: str = "nonnested",
    alpha: float = 0.05,
) -> TWFEResult:
    """Two-way fixed-effects difference-in-differences: y_it = a_i + l_t + b D_it + e_it.

    The coefficient is estimated by OLS (statsmodels; WLS when ``weights`` names a column) on the two-way
    within-transformed data (Frisch-Waugh-Lovell; alternating projections on unbalanced panels). With
    ``cluster`` set, standard errors are CRV1 (Liang and Zeger 1986) with the small-sample factor
    (G/(G-1)) (N-1)/(N-K): ``small_sample="nonnested"`` counts K as pyfixest 0.60 / fixest do by default
    (fixed effects nested in the cluster are not counted), ``"none"`` sets K to the number of slopes
    (pyfixest ``ssc(k_adj=True, k_fixef="none", G_adj=True)``); t(G-1) inference. Without ``cluster``,
    classical (iid) errors with all fixed effects counted (a warning says serial correlation is
    ignored). Fewer than two treated clusters give a visible warning: use the randomization test.
    Under staggered adoption with heterogeneous effects the coefficient mixes forbidden comparisons
    (Goodman-Bacon 2021; de Chaisemartin and D'Haultfoeuille 2020); see :func:`bacon_decomposition`.
    """
    where = "did.twfe"
    _prep.require_columns(
        data, {"outcome": outcome, "unit": unit, "time": time, "treatment": treatment,
               "cluster": cluster, "weights": weights}, where,
    )
    cols = [c for c in dict.fromkeys([outcome, unit, time, treatment, cluster, weights]) if c is not None]
    d = _prep.complete_rows(data, cols, where)
    u_codes, t_codes = _prep.unique_panel_codes(d, unit, time, where)
    D = _prep.check_binary(d, treatment, where)
    y = pd.to_numeric(d[outcome], errors="coerce").to_numpy(float)
    w = None
    if weights is not None:
        w = d[weights].to_numpy(float)
        if (w <= 0).any():
            raise UserInputError(f"{where}: weights in column {weights!r} must be positive.")
    tw = TwoWay(u_codes, t_codes, int(u_codes.max()) + 1, int(t_codes.max()) + 1, w)
    yt, Dt = tw.demean(y), tw.demean(D)
    if float(np.sum(Dt * Dt)) < 1e-12:
        raise UserInputError(
            f"{where}: the treatment column {treatment!r} has no variation left after removing unit and "
            "year effects (no unit changes treatment status, or every unit does so in the same year with "
            "no comparison units)."
        )
    cl = d[cluster].to_numpy() if cluster is not None else None
    fit: Fit = ols_fit(yt, Dt[:, None], cl, [tw.unit_codes, tw.time_codes], w, small_sample)
    est, se = float(fit.params[0]), float(np.sqrt(fit.vcov[0, 0]))
    lo, hi, p = t_inference(est, se, fit.df_t, alpha)
    warn: list[str] = []
    n_tc = None
    if cl is not None:
        n_tc = _n_treated_clusters(cl, D)
        inference = f"CRV1 by {cluster} ({fit.n_clusters} clusters, ssc {small_sample}), t({fit.df_t:.0f})"
        if n_tc < 2:
            warn.append(FEW_CLUSTERS.format(n=n_tc))
    else:
        inference = "classical (iid) standard errors"
        warn.append("standard errors assume independent errors (no clustering); serial correlation within "
                    "units is ignored. Set cluster= or use primarycare.inference.randomization_test.")
        n_tc = _n_treated_clusters(tw.unit_codes, D)
        if n_tc < 2:
            warn.append(FEW_CLUSTERS.format(n=n_tc))
    kernel = TWFEKernel(d.index, tw, yt, treatment, w, time)
    return TWFEResult(
        method="TWFE DiD", outcome=outcome, estimate=est, se=se, ci_low=lo, ci_high=hi, p_value=p,
        n_obs=len(d), alpha=alpha, inference=inference, warnings=warn,
        extra={"n_units": tw.n_units, "n_periods": tw.n_times},
        n_clusters=fit.n_clusters, n_treated_clusters=n_tc, kernel=kernel,
    )


# --------------------------------------------------------------------------------------------------
# event studies


@dataclass
class EventStudyResult(Estimate):
    """Event-study result, the same for every method (``"twfe"``, ``"sun_abraham"``, ``"imputation"``).

    * ``table``: one row per relative period (rel_time, estimate, se, ci_low, ci_high, n_obs, reference).
    * ``aggregate``: the post-period average effect, a dict with ``estimate``, ``se``, ``ci_low``,
      ``ci_high``, ``p_value``, ``df`` (t degrees of freedom, G - 1) and ``weights`` (rel_time -> weight:
      each post period's share of the treated observations, so for Sun-Abraham this is the
      interaction-weighted average of cohort effects). ``estimate``/``se``/... of the result repeat it.
    * ``pretrend``: joint Wald test that every pre-period coefficient is zero: ``statistic`` (F = W/q),
      ``chi2`` (W), ``df`` (q), ``df_denom`` (G - 1) and ``p_value`` from F(q, G - 1).
    * ``vcov``: covariance of the non-reference coefficients (rows of ``table`` without the reference).
    """

    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    pretrend: dict[str, float] = field(default_factory=dict)
    vcov: np.ndarray | None = field(default=None, repr=False)
    aggregate: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        s = super().summary()
        pt = self.pretrend
        line = (f"Pre-trend test: F = {pt.get('statistic', float('nan')):.3f}, df = ({pt.get('df')}, "
                f"{pt.get('df_denom')}), p = {pt.get('p_value', float('nan')):.4f}")
        return s + "\n" + line + "\n" + self.table.to_string(index=False, float_format=lambda x: f"{x:.4f}")


def _es_prepare(data, outcome, unit, time, first_treated, cluster, where):
    _prep.require_columns(
        data, {"outcome": outcome, "unit": unit, "time": time, "first_treated": first_treated,
               "cluster": cluster}, where,
    )
    cols = [c for c in dict.fromkeys([outcome, unit, time, cluster]) if c is not None]
    d = _prep.complete_rows(data, cols, where)
    _prep.check_unique_panel(d, unit, time, where)
    g = _prep.cohorts(d, unit, first_treated, where).to_numpy(dtype=float)
    t = _prep.numeric_time(d[time], time, where, integer=True).to_numpy(dtype=float)
    y = pd.to_numeric(d[outcome]).to_numpy(dtype=float)
    tmin = t.min()
    g = np.where(g > t.max(), 0.0, g)  # first treated after the last period: never treated (fixest sunab, R did)
    always = (g > 0) & (g <= tmin)
    warn = []
    if always.any():
        units = sorted(d.loc[always, unit].unique().tolist())
        warn.append(f"units treated from the first period have no pre-period and were dropped: {units}")
    if not (g[~always] > 0).any():
        raise UserInputError(f"{where}: no treated unit (all first-treated values are missing, 0 or after "
                             "the last period).")
    out = {unit: d[unit].to_numpy()}
    if cluster is not None and cluster != unit:
        out[cluster] = d[cluster].to_numpy()
    out.update({"_g": g, "_t": t, "_y": y, "_rel": np.where(g > 0, t - g, np.nan),
                "_D": ((g > 0) & (t >= g)).astype(float)})
    d = pd.DataFrame(out, index=d.index)
    if always.any():
        d = d.loc[~always]
    return d, warn


def _window_rows(window: tuple[int, int], reference: int) -> tuple[int, int]:
    lo, hi = int(window[0]), int(window[1])
    if lo > reference or hi < 0 or reference >= 0:
        raise UserInputError(
            f"event_study: window {window} must contain the reference period {reference} (< 0) and 0."
        )
    return lo, hi


def event_study(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    window: tuple[int, int] = (-5, 5),
    reference: int = -1,
    method: str = "twfe",
    cluster: str | None = None,
    *,
    endpoints: str = "bin",
    small_sample: str = "nonnested",
    alpha: float = 0.05,
) -> EventStudyResult:
    """Event study: effects by period relative to the first treated year.

    ``method``:

    * ``"twfe"``: y on unit and year effects and relative-time dummies (leads and lags), reference
      period ``reference`` omitted. Biased under heterogeneous staggered effects (Sun and Abraham 2021).
    * ``"sun_abraham"``: Sun and Abraham (2021) interaction-weighted estimator: a regression saturated in
      cohort x relative-time dummies (all relative periods, reference omitted), control group the
      never-treated units (or, if none, the last-treated cohort, whose treated periods are dropped);
      each relative-time effect is the average of cohort effects weighted by the cohort's share of the
      treated observations at that relative time (weights treated as fixed, as fixest/pyfixest do).
    * ``"imputation"``: Borusyak, Jaravel and Spiess (2024): unit and year effects are fitted on untreated
      observations only, each treated outcome's untreated counterpart is imputed, and effects are averages
      of the imputed differences. Standard errors: the two-stage GMM variance of Gardner (2021) /
      Butts and Gardner (2022) (numerically the pyfixest ``did2s`` variance), used in place of the BJS
      conservative variance. Pre-period rows come from the BJS pre-trend regression (untreated
      observations, leads ``window[0]..-1`` added; ``reference`` is not used for this method).

    Endpoints: relative times outside ``window`` are binned into the end bins (``endpoints="bin"``) or
    their observations dropped (``"drop"``) for ``"twfe"``; the Sun-Abraham regression always uses every
    relative period and reports those in the window; imputation reports the window (obs beyond ``window[1]``
    are binned into the last post bin with ``"bin"``). ``cluster=None`` clusters by ``unit``.

    The result's ``aggregate`` (repeated in ``estimate``/``se``/``ci_low``/``ci_high``/``p_value``) is
    the post-period effect: the average of the relative-time effects 0..window[1] weighted by their
    numbers of treated observations (for Sun-Abraham: the interaction-weighted average of the cohort
    effects), with se = sqrt(w'Vw) and t(G-1) inference. ``pretrend`` is the joint Wald test that the
    pre-period coefficients are zero, F = W/q with (q, G-1) degrees of freedom (``chi2`` = W). For few
    clusters, :func:`primarycare.inference.wild_cluster_bootstrap_event_study` bootstraps the aggregate
    (``"twfe"``, ``"sun_abraham"``). Units first treated after the last period count as never treated
    (as fixest's ``sunab`` and R ``did``); units treated from the first period are dropped (warning).
    Periods must be whole numbers (text years such as "2015" are converted).
    """
    where = f"did.event_study(method={method!r})"
    if method not in ("twfe", "sun_abraham", "imputation"):
        raise UserInputError(f"{where}: method must be 'twfe', 'sun_abraham' or 'imputation'.")
    if endpoints not in ("bin", "drop"):
        raise UserInputError(f"{where}: endpoints must be 'bin' or 'drop', got {endpoints!r}.")
    lo, hi = _window_rows(window, reference)
    cluster_col = cluster if cluster is not None else unit
    d, warn = _es_prepare(data, outcome, unit, time, first_treated, cluster, where)
    if method == "twfe":
        res = _es_twfe(d, unit, lo, hi, reference, cluster_col, endpoints, small_sample)
    elif method == "sun_abraham":
        res = _es_sun_abraham(d, unit, lo, hi, reference, cluster_col, small_sample)
    else:
        res = _es_imputation(d, unit, lo, hi, cluster_col, endpoints, small_sample)
    table, V, post_w, df_t, pre_idx, G, n_used, extra_warn = res
    warn += extra_warn
    b = table["estimate"].to_numpy()
    se_all = table["se"].to_numpy(dtype=float)
    ok = np.isfinite(se_all) & (se_all > 0) & np.isfinite(df_t) & (df_t > 0)
    q = stats.t.ppf(1 - alpha / 2, df_t) if np.isfinite(df_t) and df_t > 0 else np.nan
    table["ci_low"] = np.where(ok, b - q * se_all, np.nan)
    table["ci_high"] = np.where(ok, b + q * se_all, np.nan)
    est_mask = ~table["reference"].to_numpy()
    post = post_w @ b[est_mask] if post_w is not None else float("nan")
    post_se = float(np.sqrt(post_w @ V @ post_w)) if post_w is not None else float("nan")
    lo_ci, hi_ci, p = t_inference(float(post), post_se, df_t, alpha)
    pre_b = b[est_mask][pre_idx]
    pt = wald_f(pre_b, V[np.ix_(pre_idx, pre_idx)], df_t)
    n_treated_cl = _n_treated_clusters(d[cluster_col].to_numpy(), (d["_g"] > 0).to_numpy())
    if n_treated_cl < 2:
        warn.append(FEW_CLUSTERS.format(n=n_treated_cl))
    post_levels = table.loc[est_mask, "rel_time"].to_numpy()
    agg = {"estimate": float(post), "se": post_se, "ci_low": lo_ci, "ci_high": hi_ci, "p_value": p,
           "df": df_t, "weights": {int(e): float(w) for e, w in zip(post_levels, post_w, strict=True) if w > 0}}
    names = {"twfe": "Event study (TWFE leads and lags)", "sun_abraham": "Event study (Sun-Abraham 2021)",
             "imputation": "Event study (imputation, Borusyak-Jaravel-Spiess 2024)"}
    return EventStudyResult(
        method=names[method], outcome=outcome, estimate=float(post), se=post_se, ci_low=lo_ci,
        ci_high=hi_ci, p_value=p, n_obs=n_used, alpha=alpha,
        inference=f"CRV1 by {cluster_col} ({G} clusters), t({df_t:.0f}); estimate = average post effect",
        warnings=warn, extra={"window": f"{lo}..{hi}", "reference": reference},
        table=table.reset_index(drop=True), pretrend=pt, vcov=V, aggregate=agg,
    )


def _table(rel: list[int], est: np.ndarray, se: np.ndarray, n: list[int], ref: int | None) -> pd.DataFrame:
    rel_a, est_a, se_a = np.asarray(rel, dtype=np.int64), np.asarray(est, float), np.asarray(se, float)
    n_a, is_ref = np.asarray(n, dtype=np.int64), np.zeros(len(rel_a), dtype=bool)
    if ref is not None:
        k = int(np.searchsorted(rel_a, ref, side="right"))
        rel_a, est_a, se_a = np.insert(rel_a, k, ref), np.insert(est_a, k, 0.0), np.insert(se_a, k, 0.0)
        n_a, is_ref = np.insert(n_a, k, 0), np.insert(is_ref, k, True)
    return pd.DataFrame({"rel_time": rel_a, "estimate": est_a, "se": se_a, "ci_low": np.nan, "ci_high": np.nan,
                         "n_obs": n_a, "reference": is_ref})




def _dummies(codes: np.ndarray, k: int) -> np.ndarray:
    """n x k 0/1 matrix with a one in column codes[i] of row i (no column where codes[i] < 0)."""
    X = np.zeros((len(codes), k))
    rows = np.flatnonzero(codes >= 0)
    X[rows, codes[rows]] = 1.0
    return X


def _es_twfe_design(d, lo, hi, ref, endpoints):
    """Rows used, relative-time dummies X (leads and lags, reference omitted), levels, counts, and
    A = I (the table's coefficients are the regression's)."""
    rel = d["_rel"].to_numpy()
    if endpoints == "drop":
        keep = np.isnan(rel) | ((rel >= lo) & (rel <= hi))
        d, rel = d.loc[keep], rel[keep]
    else:
        rel = np.clip(rel, lo, hi)
    cnt = {e: int(np.count_nonzero(rel == e)) for e in range(lo, hi + 1) if e != ref}
    levels = [e for e, c in cnt.items() if c > 0]
    pos = np.full(hi - lo + 1, -1)
    pos[np.array(levels) - lo] = np.arange(len(levels))
    code = np.where(np.isnan(rel), -1, pos[np.nan_to_num(rel, nan=lo).astype(int) - lo])
    return d, _dummies(code, len(levels)), levels, [cnt[e] for e in levels], np.eye(len(levels)), []


def _es_sa_design(d, lo, hi, ref):
    """Sun and Abraham (2021): cohort x relative-time dummies (every relative period but ``ref``) with
    never-treated (or last-treated) controls; A maps cell coefficients to the table's relative periods
    (each cell weighted by its share of the treated observations at that relative time)."""
    warn = []
    if (d["_g"] == 0).any():
        control_g = 0.0
    else:
        control_g = float(d["_g"].max())
        warn.append(f"no never-treated units: the last-treated cohort ({control_g:g}) is the control group "
                    f"and periods from {control_g:g} on are dropped")
        d = d.loc[d["_t"] < control_g]
    g_arr, r_arr = d["_g"].to_numpy(), d["_rel"].to_numpy()
    treated = (g_arr > 0) & (g_arr != control_g) & (r_arr != ref)
    gt, rt = g_arr[treated], r_arr[treated]
    span = int(rt.max() - rt.min()) + 1 if len(rt) else 1
    key = (gt - gt.min(initial=0)) * span + (rt - rt.min(initial=0))  # one integer per (cohort, rel) cell
    inv, uniq = pd.factorize(key.astype(np.int64), sort=True)
    first = np.zeros(len(uniq), dtype=np.int64)
    first[inv[::-1]] = np.arange(len(inv))[::-1]  # a row of each cell (any row: all share g and e)
    cells = np.column_stack([gt[first], rt[first]])
    code = np.full(len(d), -1)
    code[treated] = inv
    n_cell = np.bincount(inv, minlength=len(cells)).astype(float)
    X = _dummies(code, len(cells))
    levels = [e for e in range(lo, hi + 1) if e != ref and (cells[:, 1] == e).any()]
    A = np.zeros((len(levels), len(cells)))
    for i, e in enumerate(levels):
        m = cells[:, 1] == e
        A[i, m] = n_cell[m] / n_cell[m].sum()
    n = [int(n_cell[cells[:, 1] == e].sum()) for e in levels]
    return d, X, levels, n, A, warn


def _es_linear(d, unit, X, levels, n, A, ref, cluster_col, small_sample, warn):
    """Fit a linear event-study regression (unit and year effects absorbed) and map it to the table."""
    tw = TwoWay.from_frame(d, unit, "_t")
    Z = tw.demean(np.column_stack([d["_y"].to_numpy(), X]))
    fit = ols_fit(Z[:, 0], Z[:, 1:], d[cluster_col].to_numpy(), [tw.unit_codes, tw.time_codes], None,
                  small_sample)
    b, V = A @ fit.params, A @ fit.vcov @ A.T
    table = _table(levels, b, np.sqrt(np.diag(V)), n, ref)
    w = np.where(np.array(levels) >= 0, n, 0).astype(float)
    pre_idx = np.array([i for i, e in enumerate(levels) if e < 0], dtype=int)
    return table, V, w / w.sum(), fit.df_t, pre_idx, fit.n_clusters, len(d), warn


def _es_twfe(d, unit, lo, hi, ref, cluster_col, endpoints, small_sample):
    d, X, levels, n, A, warn = _es_twfe_design(d, lo, hi, ref, endpoints)
    return _es_linear(d, unit, X, levels, n, A, ref, cluster_col, small_sample, warn)


def _es_sun_abraham(d, unit, lo, hi, ref, cluster_col, small_sample):
    d, X, levels, n, A, warn = _es_sa_design(d, lo, hi, ref)
    return _es_linear(d, unit, X, levels, n, A, ref, cluster_col, small_sample, warn)


def _es_imputation(d, unit, lo, hi, cluster_col, endpoints, small_sample):
    from ._imputation import imputation_fit

    return imputation_fit(d, unit, lo, hi, cluster_col, endpoints, small_sample, _table)
