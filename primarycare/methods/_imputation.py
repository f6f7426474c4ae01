"""Imputation event study (Borusyak, Jaravel and Spiess, 2024) with the two-stage GMM variance.

Point estimates: unit and period effects are fitted by OLS on untreated observations (never treated,
and treated units before their first treated period); each treated observation's effect is
y_it - a_i - l_t; the effect at relative time e is the mean over treated observations at e. These equal
Gardner's (2021) two-stage DiD coefficients. Variance: the GMM sandwich of Gardner (2021) and Butts and
Gardner (2022), clustered, without small-sample factor (as R ``did2s`` and pyfixest ``did2s``):

    V = (X2'X2)^-1 [sum_g s_g s_g'] (X2'X2)^-1,  s_g = X2_g' e2_g - X2'X1 (X10'X10)^-1 X10_g' e1_g

with X1 the fixed-effect dummies, X10 those rows restricted to untreated observations, X2 the
relative-time dummies of treated observations, e1 first-stage and e2 second-stage residuals. This is a
documented alternative to the BJS conservative variance (it accounts for the first-stage estimation).
Pre-trends: the BJS test, OLS on untreated observations of y on unit and year effects plus lead
dummies, CRV1 clustered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from ._fe import TwoWay, fit_fe_subset
from ._vcov import ols_fit


def imputation_fit(d: pd.DataFrame, unit: str, lo: int, hi: int, cluster_col: str, endpoints: str,
                   small_sample: str, make_table):
    warn: list[str] = []
    u, _ = pd.factorize(d[unit], sort=True)
    t, _ = pd.factorize(d["_t"], sort=True)
    y = d["_y"].to_numpy()
    untreated = d["_D"].to_numpy() == 0
    alpha, lam = fit_fe_subset(y, u, t, untreated)
    yhat = y - alpha[u] - lam[t]
    rel = d["_rel"].to_numpy()
    treated = ~untreated
    lost = treated & ~np.isfinite(yhat)
    if lost.any():
        warn.append(f"{int(lost.sum())} treated observations could not be imputed (their unit or year has "
                    "no untreated observation) and were left out")
    relb = np.where(rel > hi, hi if endpoints == "bin" else np.nan, rel)
    use = treated & np.isfinite(yhat) & np.isfinite(relb)
    post_levels = [e for e in range(0, hi + 1) if (use & (relb == e)).any()]
    X2 = np.column_stack([(use & (relb == e)).astype(float) for e in post_levels])
    n_e = X2.sum(axis=0)
    e1 = np.where(untreated, yhat, 0.0)
    b_post = (X2 * np.nan_to_num(yhat)[:, None]).sum(axis=0) / n_e
    e2 = np.where(use, np.nan_to_num(yhat) - X2 @ b_post, 0.0)

    # GMM variance; fixed-effect columns restricted to units/years present among untreated observations
    ok_u = np.flatnonzero(np.isfinite(alpha))
    ok_t = np.flatnonzero(np.isfinite(lam))[1:]  # first year dropped: one redundant dummy
    n = len(d)
    um = np.full(alpha.shape[0], -1)
    um[ok_u] = np.arange(len(ok_u))
    tm = np.full(lam.shape[0], -1)
    tm[ok_t] = len(ok_u) + np.arange(len(ok_t))
    rows = np.concatenate([np.arange(n), np.arange(n)])
    cols = np.concatenate([um[u], tm[t]])
    keep = cols >= 0
    X1 = sp.csr_matrix((np.ones(keep.sum()), (rows[keep], cols[keep])), shape=(n, len(ok_u) + len(ok_t)))
    X10 = sp.diags(untreated.astype(float)) @ X1
    Z = spsolve((X10.T @ X10).tocsc(), sp.csc_matrix(X1.T @ X2))
    Z = Z.toarray() if sp.issparse(Z) else np.asarray(Z).reshape(X1.shape[1], -1)
    W = X10 @ Z
    S = X2 * e2[:, None] - W * e1[:, None]
    g, _ = pd.factorize(d[cluster_col], sort=True)
    G = int(g.max()) + 1
    Sg = np.zeros((G, S.shape[1]))
    np.add.at(Sg, g, S)
    bread = np.diag(1.0 / n_e)
    V_post = bread @ (Sg.T @ Sg) @ bread

    # BJS pre-trend regression on untreated observations
    pre_levels: list[int] = []
    V_pre = np.zeros((0, 0))
    b_pre = np.zeros(0)
    du = d.loc[untreated]
    rel_u = du["_rel"].to_numpy()
    cand = [e for e in range(lo, 0) if (rel_u == e).any()]
    if cand:
        Xp = np.column_stack([(rel_u == e).astype(float) for e in cand])
        tw = TwoWay.from_frame(du, unit, "_t")
        Xpt = tw.demean(Xp)
        # keep leads that add rank, nearest first (without never-treated units the leads of units whose
        # whole untreated spell lies in the window are collinear with the unit effects)
        keepc = np.zeros(len(cand), dtype=bool)
        scale = np.sqrt((Xpt**2).sum(axis=0))
        for j in sorted(range(len(cand)), key=lambda j: -cand[j]):
            if scale[j] <= 1e-10:
                continue
            trial = keepc.copy()
            trial[j] = True
            Z = Xpt[:, trial] / scale[trial]
            if np.linalg.matrix_rank(Z, tol=1e-8) == trial.sum():
                keepc = trial
        if keepc.any():
            pre_levels = [e for e, k in zip(cand, keepc, strict=True) if k]
            fit = ols_fit(tw.demean(du["_y"].to_numpy()), Xpt[:, keepc], du[cluster_col].to_numpy(),
                          [tw.unit_codes, tw.time_codes], None, small_sample)
            b_pre, V_pre = fit.params, fit.vcov
    levels = pre_levels + post_levels
    b = np.concatenate([b_pre, b_post])
    k_pre, k = len(pre_levels), len(levels)
    V = np.zeros((k, k))
    V[:k_pre, :k_pre] = V_pre
    V[k_pre:, k_pre:] = V_post
    n_obs = [int((rel_u == e).sum()) for e in pre_levels] + [int(x) for x in n_e]
    table = make_table(levels, b, np.sqrt(np.diag(V)), n_obs, None)
    post_w = np.concatenate([np.zeros(k_pre), n_e / n_e.sum()])
    pre_idx = np.arange(k_pre)
    return table, V, post_w, G - 1, pre_idx, G, int(untreated.sum() + use.sum()), warn
