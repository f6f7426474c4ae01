"""Covariance helpers shared by the DiD estimators: statsmodels fits plus fixest-style corrections.

Small-sample correction (documented once, used by every cluster-robust result here). The CRV1 matrix
(Liang and Zeger, 1986; Cameron and Miller, 2015) from statsmodels without its own correction is
multiplied by

    c = (G / (G - 1)) * ((N - 1) / (N - K))

with G clusters, N observations and K counted by ``small_sample``:

* ``"nonnested"`` (pyfixest 0.60 and R fixest default, ``ssc(k_adj=True, k_fixef="nonnested",
  G_adj=True)``): K = k + sum(fixed-effect levels) - (number of FE dimensions - 1) - (levels of FE
  dimensions nested in the cluster) + (number of nested dimensions). With unit and time effects and
  clustering by unit (or by a coarser group containing units), K = k + T.
* ``"none"`` (``ssc(k_adj=True, k_fixef="none", G_adj=True)``): K = k, fixed effects not counted.

Inference uses the t distribution with G - 1 degrees of freedom, as fixest and pyfixest do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp
from scipy import special, stats
from statsmodels.regression.linear_model import OLS, WLS  # not statsmodels.api: seconds faster to import


@dataclass
class Fit:
    """Coefficients, covariance and the degrees of freedom used for t-based inference."""

    params: np.ndarray
    vcov: np.ndarray
    df_t: float
    n_clusters: int | None
    resid: np.ndarray


def _codes(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes 0..G-1 of ``x`` (sorted levels) and G. Non-negative integers (codes already, as the
    fixed-effect codes of :class:`~primarycare.methods._fe.TwoWay`) are ranked with a bincount, the
    same codes as ``pd.factorize(sort=True)`` without hashing."""
    a = np.asarray(x)
    if a.dtype.kind in "iu" and a.size and a.min() >= 0 and a.max() <= 4 * a.size:
        present = np.bincount(a) > 0
        return (np.cumsum(present) - 1)[a].astype(np.int64), int(present.sum())
    codes, levels = pd.factorize(pd.Series(a), sort=True)
    return codes.astype(np.int64), len(levels)


def _nested(fe: np.ndarray, cluster_codes: np.ndarray) -> bool:
    """True if every level of ``fe`` lies within one cluster: within each level the cluster codes have
    zero spread (count * sum(c^2) = sum(c)^2, exact in integers of this size)."""
    f, L = _codes(fe)
    c = cluster_codes.astype(float)
    cnt = np.bincount(f, minlength=L)
    s1 = np.bincount(f, weights=c, minlength=L)
    s2 = np.bincount(f, weights=c * c, minlength=L)
    return bool(np.all(cnt * s2 == s1 * s1))


def fe_df_k(k: int, fe_codes: list[np.ndarray], cluster: np.ndarray | None, small_sample: str) -> int:
    """Number of parameters K in (N - 1) / (N - K) under the chosen small-sample rule."""
    if small_sample == "none" or not fe_codes:
        return k
    if small_sample != "nonnested":
        raise ValueError(f"small_sample must be 'nonnested' or 'none', got {small_sample!r}")
    levels = [_codes(c)[1] for c in fe_codes]
    k_fe = sum(levels) - (len(fe_codes) - 1)
    if cluster is not None:
        cc, _ = _codes(cluster)
        nested = [i for i, c in enumerate(fe_codes) if _nested(c, cc)]
        if nested:
            k_fe = k_fe - sum(levels[i] for i in nested) + len(nested)
    return k + k_fe


def ols_fit(
    y: np.ndarray,
    X: np.ndarray,
    cluster: np.ndarray | None,
    fe_codes: list[np.ndarray],
    weights: np.ndarray | None = None,
    small_sample: str = "nonnested",
) -> Fit:
    """OLS/WLS of already-demeaned ``y`` on ``X`` with fixest-style CRV1 or iid covariance.

    Unweighted with ``cluster``: :func:`crv1_direct` (normal equations and the CRV1 sandwich in numpy;
    the event studies on county panels spend most of their time in statsmodels' model set-up otherwise;
    checked against statsmodels ``cov_type="cluster"`` in the tests). Otherwise statsmodels.
    """
    n, k = X.shape
    df_k = fe_df_k(k, fe_codes, cluster, small_sample)
    if cluster is not None and weights is None:
        codes, G = _codes(cluster)
        params, V, resid = crv1_direct(y, X, codes, G)
        c = (G / (G - 1) if G > 1 else np.nan) * (n - 1) / (n - df_k)
        return Fit(params, V * c, G - 1, G, resid)
    model = WLS(y, X, weights=weights, hasconst=False) if weights is not None else OLS(y, X, hasconst=False)
    if cluster is not None:
        codes, _ = pd.factorize(pd.Series(cluster), sort=True)
        res = model.fit(method="qr", cov_type="cluster", cov_kwds={"groups": codes, "use_correction": False})
        G = int(codes.max()) + 1
        c = (G / (G - 1) if G > 1 else np.nan) * (n - 1) / (n - df_k)
        return Fit(np.asarray(res.params), np.asarray(res.cov_params()) * c, G - 1, G, np.asarray(res.resid))
    res = model.fit(method="qr")
    # statsmodels divides the SSR by N - k; fixed effects also use degrees of freedom
    c = (n - k) / (n - df_k)
    return Fit(np.asarray(res.params), np.asarray(res.cov_params()) * c, n - df_k, None, np.asarray(res.resid))


def cluster_sums(codes: np.ndarray, G: int, A: np.ndarray) -> np.ndarray:
    """(G x m) sums of the rows of ``A`` (n x m) within each cluster code."""
    A = np.asarray(A, dtype=float)
    if A.ndim == 1:
        return np.bincount(codes, weights=A, minlength=G)
    if len(codes) and codes[0] == 0 and np.all(np.diff(codes) >= 0) and codes[-1] == G - 1:
        starts = np.flatnonzero(np.r_[True, np.diff(codes) > 0])
        if len(starts) == G:  # rows sorted by cluster, every cluster present: contiguous block sums
            return np.add.reduceat(A, starts, axis=0)
    return np.column_stack([np.bincount(codes, weights=A[:, j], minlength=G) for j in range(A.shape[1])]) \
        if A.shape[1] <= 64 else np.asarray(sp.csr_matrix(
            (np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(G, len(codes))) @ A)


def crv1_direct(y: np.ndarray, X: np.ndarray, codes: np.ndarray, G: int) -> tuple[np.ndarray, np.ndarray,
                                                                                  np.ndarray]:
    """OLS coefficients, the uncorrected CRV1 sandwich (X'X)^-1 (sum_g s_g s_g') (X'X)^-1 with
    s_g = X_g' u_g (Liang and Zeger 1986), and residuals. The same numbers as statsmodels
    ``fit(cov_type="cluster", cov_kwds={"use_correction": False})``, without its model set-up cost.
    Rank-deficient designs fall back to the pseudo-inverse (as statsmodels' pinv fit)."""
    X = np.asarray(X, dtype=float)
    XtX = X.T @ X
    try:
        cf = scipy.linalg.cho_factor(XtX)
        bread = scipy.linalg.cho_solve(cf, np.eye(XtX.shape[0]))
    except np.linalg.LinAlgError:
        bread = np.linalg.pinv(XtX)
    params = bread @ (X.T @ y)
    resid = y - X @ params
    S = cluster_sums(codes, G, X * resid[:, None])
    return params, bread @ (S.T @ S) @ bread, resid


def t_inference(est: float, se: float, df: float, alpha: float = 0.05) -> tuple[float, float, float]:
    """(ci_low, ci_high, p_value) from the t distribution with ``df`` degrees of freedom."""
    if not np.isfinite(se) or se <= 0 or not np.isfinite(df) or df <= 0:
        return float("nan"), float("nan"), float("nan")
    # stats.t.ppf / stats.t.sf without the distribution object's argument handling (the same functions)
    q = float(special.stdtrit(df, 1 - alpha / 2))
    p = 2 * float(special.stdtr(df, -abs(est / se)))
    return est - q * se, est + q * se, float(p)


def wald_f(b: np.ndarray, V: np.ndarray, df_denom: float) -> dict[str, float]:
    """Joint test that ``b`` = 0: F = b' V^-1 b / q with (q, df_denom) degrees of freedom."""
    q = len(b)
    if q == 0:
        return {"statistic": float("nan"), "chi2": float("nan"), "df": 0, "df_denom": df_denom,
                "p_value": float("nan")}
    W = float(b @ np.linalg.pinv(V) @ b)
    F = W / q
    p = float(stats.f.sf(F, q, df_denom)) if np.isfinite(df_denom) else float(stats.chi2.sf(W, q))
    return {"statistic": F, "chi2": W, "df": q, "df_denom": df_denom, "p_value": p}
