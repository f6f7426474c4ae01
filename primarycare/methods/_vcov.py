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
from scipy import stats
from statsmodels.regression.linear_model import OLS, WLS  # not statsmodels.api: seconds faster to import


@dataclass
class Fit:
    """Coefficients, covariance and the degrees of freedom used for t-based inference."""

    params: np.ndarray
    vcov: np.ndarray
    df_t: float
    n_clusters: int | None
    resid: np.ndarray


def _nested(fe: np.ndarray, cluster: np.ndarray) -> bool:
    s = pd.DataFrame({"fe": fe, "c": cluster}).groupby("fe")["c"].nunique()
    return bool((s <= 1).all())


def fe_df_k(k: int, fe_codes: list[np.ndarray], cluster: np.ndarray | None, small_sample: str) -> int:
    """Number of parameters K in (N - 1) / (N - K) under the chosen small-sample rule."""
    if small_sample == "none" or not fe_codes:
        return k
    if small_sample != "nonnested":
        raise ValueError(f"small_sample must be 'nonnested' or 'none', got {small_sample!r}")
    levels = [len(np.unique(c)) for c in fe_codes]
    k_fe = sum(levels) - (len(fe_codes) - 1)
    if cluster is not None:
        nested = [i for i, c in enumerate(fe_codes) if _nested(c, cluster)]
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
    """OLS/WLS of already-demeaned ``y`` on ``X`` (statsmodels) with fixest-style CRV1 or iid covariance."""
    n, k = X.shape
    model = WLS(y, X, weights=weights, hasconst=False) if weights is not None else OLS(y, X, hasconst=False)
    df_k = fe_df_k(k, fe_codes, cluster, small_sample)
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


def t_inference(est: float, se: float, df: float, alpha: float = 0.05) -> tuple[float, float, float]:
    """(ci_low, ci_high, p_value) from the t distribution with ``df`` degrees of freedom."""
    if not np.isfinite(se) or se <= 0 or not np.isfinite(df) or df <= 0:
        return float("nan"), float("nan"), float("nan")
    q = stats.t.ppf(1 - alpha / 2, df)
    p = 2 * stats.t.sf(abs(est / se), df)
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
