"""Wild cluster bootstrap for the two-way fixed-effects DiD coefficient.

Restricted wild cluster bootstrap, WCR (Cameron, Gelbach and Miller 2008; MacKinnon and Webb 2017):
with y and D residualised on unit and period effects (y~, D~), the null H0: b = b0 is imposed, the
restricted residuals u~ = y~ - b0 D~ are multiplied by one weight per cluster (Rademacher +-1, or the
six-point weights of Webb 2014), the model is refitted and the bootstrap CRV1 t-statistics
t*_b = (b*_b - b0) / se*_b are compared with the observed t = (b^ - b0) / se (symmetric p-value).
Because everything is linear in b0, the bootstrap quantities are precomputed once per draw and the
p-value function of b0 is cheap; the confidence interval inverts it (Roodman, MacKinnon, Nielsen and
Webb 2019). With Rademacher weights and 2^G <= B all 2^G sign vectors are enumerated (exact). With
``impose_null=False`` (WCU) the unrestricted residuals are used and the CI is the bootstrap-t interval.
With very few clusters (Rademacher with G < 6 has at most 32 distinct draws) the p-value cannot be
small; MacKinnon and Webb (2017) show WCR is also unreliable when only one or two clusters are treated:
prefer the randomization test then.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import UserInputError
from ._invert import invert
from .results import Estimate


@dataclass
class WildBootstrapResult(Estimate):
    """WCR/WCU bootstrap result for the TWFE coefficient (``se`` is the CRV1 standard error)."""

    n_boot: int = 0
    enumerated: bool = False
    n_clusters: int = 0
    bootstrap_weights: str = "rademacher"
    t_star: np.ndarray | None = field(default=None, repr=False)
    draws: np.ndarray | None = field(default=None, repr=False)


def _draws(G: int, B: int, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    if kind == "rademacher" and 2**G <= B:
        return np.array(list(itertools.product([1.0, -1.0], repeat=G))).T, True
    if kind == "rademacher":
        return rng.choice([-1.0, 1.0], size=(G, B)), False
    vals = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
    return vals[rng.integers(0, 6, size=(G, B))], False


def wild_cluster_bootstrap(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treatment: str,
    cluster: str,
    B: int = 9999,
    weights: str = "rademacher",
    seed: int = 0,
    impose_null: bool = True,
    *,
    null: float = 0.0,
    alpha: float = 0.05,
) -> WildBootstrapResult:
    """Wild cluster bootstrap p-value (H0: effect = ``null``) and CI for the TWFE DiD coefficient.

    See the module docstring for the algorithm (Cameron, Gelbach and Miller 2008; Webb 2014; Roodman et
    al. 2019). ``weights`` is the bootstrap weight distribution, ``"rademacher"`` or ``"webb"``.
    """
    from .did import twfe

    where = "inference.wild_cluster_bootstrap"
    if weights not in ("rademacher", "webb"):
        raise UserInputError(f"{where}: weights must be 'rademacher' or 'webb', got {weights!r}.")
    if int(B) < 99:
        raise UserInputError(f"{where}: B must be at least 99 bootstrap draws, got {B!r}.")
    fit = twfe(data, outcome, unit, time, treatment, cluster=cluster)
    k = fit.kernel
    d = data.loc[k.index]
    g, _ = pd.factorize(d[cluster], sort=True)
    G = int(g.max()) + 1
    if G < 2:
        raise UserInputError(f"{where}: the cluster column {cluster!r} has a single cluster.")
    yt = k.y_tilde
    Dt = k.tw.demean(d[treatment].to_numpy(float))
    S = float(Dt @ Dt)
    b_hat, se = fit.estimate, fit.se
    c = (se**2) * S**2 / float(np.sum(np.bincount(g, weights=Dt * (yt - b_hat * Dt)) ** 2))
    rng = np.random.default_rng(seed)
    V, enumerated = _draws(G, int(B), weights, rng)
    Bn = V.shape[1]
    Q = np.bincount(g, weights=Dt * Dt, minlength=G)
    # per draw: a_b = D~'(x * v)/S and cluster sums of D~ * M(x * v), for x = y~ and x = D~ (or u^)
    base_y = yt if impose_null else yt - b_hat * Dt
    chunk = max(1, int(2e7 // max(len(yt), 1)))
    sums = {}
    for name, x in (("y", base_y), ("d", Dt)):
        a = np.empty(Bn)
        SA = np.empty((G, Bn))
        for s in range(0, Bn, chunk):
            Xv = x[:, None] * V[g, s : s + chunk]
            a[s : s + chunk] = Dt @ Xv / S
            MX = k.tw.demean(Xv)
            SA[:, s : s + chunk] = _cluster_sum(g, G, Dt[:, None] * MX)
        sums[name] = (a, SA)
    ay, SAy = sums["y"]
    ad, SAd = sums["d"]

    def tstar(b0: float) -> np.ndarray:
        if impose_null:
            dev = ay - b0 * ad  # b*_b - b0
            score = (SAy - b0 * SAd) - dev[None, :] * Q[:, None]
        else:
            dev = ay
            score = SAy - dev[None, :] * Q[:, None]
        se_b = np.sqrt(c * (score**2).sum(axis=0)) / S
        with np.errstate(divide="ignore", invalid="ignore"):
            return dev / se_b

    def pfun(b0: float) -> float:
        t_obs = abs((b_hat - b0) / se)
        ts = np.abs(tstar(b0)) if impose_null else np.abs(t_fixed)
        return float(np.mean(ts >= t_obs - 1e-12 * max(1.0, t_obs)))

    t_fixed = tstar(0.0) if not impose_null else None
    p = pfun(null)
    if impose_null:
        lo, hi = invert(pfun, b_hat, se, alpha)
    else:
        q = float(np.quantile(np.abs(t_fixed[np.isfinite(t_fixed)]), 1 - alpha))
        lo, hi = b_hat - q * se, b_hat + q * se
    warn = [w for w in fit.warnings if "randomization_test" in w]
    if fit.n_treated_clusters is not None and fit.n_treated_clusters < 3:
        warn.append(f"{fit.n_treated_clusters} treated cluster(s): the wild cluster bootstrap is unreliable "
                    "with one or two treated clusters (MacKinnon and Webb 2017); prefer "
                    "primarycare.inference.randomization_test.")
    if enumerated and Bn < 1 / alpha * 2:
        warn.append(f"only {Bn} distinct Rademacher draws with {G} clusters: p-values are coarse.")
    label = "WCR" if impose_null else "WCU"
    draws = f"all {Bn} Rademacher sign vectors" if enumerated else f"{Bn} {weights} draws (seed {seed})"
    return WildBootstrapResult(
        method=f"TWFE DiD, wild cluster bootstrap ({label})", outcome=outcome, estimate=b_hat, se=se,
        ci_low=lo, ci_high=hi, p_value=p, n_obs=fit.n_obs, alpha=alpha,
        inference=f"{label} bootstrap-t by {cluster} ({G} clusters), {draws}; H0: effect = {null:g}; "
                  "CI by test inversion",
        warnings=warn, n_boot=Bn, enumerated=enumerated, n_clusters=G, bootstrap_weights=weights,
        t_star=tstar(null) if impose_null else t_fixed, draws=V,
    )


def _cluster_sum(g: np.ndarray, G: int, X: np.ndarray) -> np.ndarray:
    ind = sp.csr_matrix((np.ones(len(g)), (g, np.arange(len(g)))), shape=(G, len(g)))
    return np.asarray(ind @ X)


def wild_cluster_bootstrap_event_study(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    cluster: str | None = None,
    method: str = "sun_abraham",
    window: tuple[int, int] = (-5, 5),
    reference: int = -1,
    B: int = 9999,
    weights: str = "rademacher",
    seed: int = 0,
    impose_null: bool = True,
    *,
    endpoints: str = "bin",
    small_sample: str = "nonnested",
    null: float = 0.0,
    alpha: float = 0.05,
) -> WildBootstrapResult:
    """Wild cluster bootstrap for the post-period aggregate of an event study (few clusters).

    The aggregate is the one reported by :func:`primarycare.did.event_study` (``result.aggregate``): for
    ``method="sun_abraham"`` the interaction-weighted average a'b of the cohort x relative-time
    coefficients b (Sun and Abraham 2021; each post cell weighted by its share of the treated
    observations, weights held fixed), for ``"twfe"`` the observation-weighted average of the lag
    coefficients. Restricted wild cluster bootstrap, WCR (Cameron, Gelbach and Miller 2008; MacKinnon
    and Webb 2017): the linear restriction a'b = ``null`` is imposed, the restricted residuals are
    multiplied by one weight per cluster (Rademacher, all 2^G sign vectors when 2^G <= B, or Webb's
    six-point weights), the regression with unit and period effects is refitted and the CRV1 t-statistic
    of the aggregate (same small-sample factor as the estimate) is compared with the observed one. As in
    :func:`wild_cluster_bootstrap`, everything is linear in the null value, so the p-value function is
    cheap and the confidence interval inverts it (Roodman, MacKinnon, Nielsen and Webb 2019).
    ``impose_null=False`` gives WCU with a bootstrap-t interval. The imputation event study is not one
    regression; use :func:`primarycare.inference.randomization_test` for it. ``se`` is the CRV1 standard
    error of the aggregate.
    """
    from . import _prep
    from ._fe import TwoWay
    from ._vcov import _codes, fe_df_k
    from .did import _es_prepare, _es_sa_design, _es_twfe_design, _window_rows

    where = "inference.wild_cluster_bootstrap_event_study"
    if method not in ("twfe", "sun_abraham"):
        raise UserInputError(f"{where}: method must be 'twfe' or 'sun_abraham' (one linear regression each); "
                             f"got {method!r}. For the imputation estimator use randomization_test.")
    if weights not in ("rademacher", "webb"):
        raise UserInputError(f"{where}: weights must be 'rademacher' or 'webb', got {weights!r}.")
    if int(B) < 99:
        raise UserInputError(f"{where}: B must be at least 99 bootstrap draws, got {B!r}.")
    if endpoints not in ("bin", "drop"):
        raise UserInputError(f"{where}: endpoints must be 'bin' or 'drop', got {endpoints!r}.")
    lo, hi = _window_rows(window, reference)
    _prep.require_columns(data, {"cluster": cluster}, where)
    cluster_col = cluster if cluster is not None else unit
    d, warn = _es_prepare(data, outcome, unit, time, first_treated, cluster, where)
    if method == "twfe":
        d, X, levels, n_e, A, w2 = _es_twfe_design(d, lo, hi, reference, endpoints)
    else:
        d, X, levels, n_e, A, w2 = _es_sa_design(d, lo, hi, reference)
    warn += w2
    post = np.where(np.array(levels) >= 0, n_e, 0).astype(float)
    if post.sum() == 0:
        raise UserInputError(f"{where}: no post-treatment relative period in the window {window}.")
    a = A.T @ (post / post.sum())  # aggregate in coefficient space
    tw = TwoWay.from_frame(d, unit, "_t")
    Zm = tw.demean(np.column_stack([d["_y"].to_numpy(), X]))
    yt, Xt = Zm[:, 0], Zm[:, 1:]
    g, G = _codes(d[cluster_col].to_numpy())
    if G < 2:
        raise UserInputError(f"{where}: the cluster column {cluster_col!r} has a single cluster.")
    nobs, k = Xt.shape
    df_k = fe_df_k(k, [tw.unit_codes, tw.time_codes], d[cluster_col].to_numpy(), small_sample)
    c = G / (G - 1) * (nobs - 1) / (nobs - df_k)
    H = np.linalg.pinv(Xt.T @ Xt)
    beta = H @ (Xt.T @ yt)
    u = yt - Xt @ beta
    h = H @ a
    z = Xt @ h  # theta = z'y~ ; its CRV1 score in cluster g is sum_{i in g} z_i u_i
    q = float(a @ h)
    theta = float(a @ beta)
    se = float(np.sqrt(c * np.sum(np.bincount(g, weights=z * u, minlength=G) ** 2)))
    K = _cluster_sum(g, G, z[:, None] * Xt) @ H  # G x k: sum_{i in g} z_i x_i' (X~'X~)^-1
    rng = np.random.default_rng(seed)
    V, enumerated = _draws(G, int(B), weights, rng)
    Bn = V.shape[1]
    chunk = max(1, int(2e7 // max(nobs, 1)))
    parts = {}
    for name, x in (("u", u), ("z", z)):
        a_x = np.bincount(g, weights=z * x, minlength=G) @ V  # theta* - theta0 contributions
        C = _cluster_sum(g, G, Xt * x[:, None]).T  # k x G
        SA = np.empty((G, Bn))
        for s in range(0, Bn, chunk):
            Vc = V[:, s : s + chunk]
            MW = tw.demean(x[:, None] * Vc[g])
            SA[:, s : s + chunk] = _cluster_sum(g, G, z[:, None] * MW) - K @ (C @ Vc)
        parts[name] = (a_x, SA)
    au, SAu = parts["u"]
    az, SAz = parts["z"]

    def tstar(t0: float) -> np.ndarray:
        kappa = (theta - t0) / q if impose_null else 0.0
        dev, score = au + kappa * az, SAu + kappa * SAz
        with np.errstate(divide="ignore", invalid="ignore"):
            return dev / np.sqrt(c * (score**2).sum(axis=0))

    t_fixed = None if impose_null else tstar(theta)

    def pfun(t0: float) -> float:
        t_obs = abs((theta - t0) / se)
        ts = np.abs(tstar(t0)) if impose_null else np.abs(t_fixed)
        return float(np.mean(ts >= t_obs - 1e-12 * max(1.0, t_obs)))

    p = pfun(null)
    if impose_null:
        ci_lo, ci_hi = invert(pfun, theta, se, alpha)
    else:
        qq = float(np.quantile(np.abs(t_fixed[np.isfinite(t_fixed)]), 1 - alpha))
        ci_lo, ci_hi = theta - qq * se, theta + qq * se
    n_tc = int(pd.Series(d["_g"].to_numpy() > 0).groupby(g).any().sum())
    if n_tc < 3:
        warn.append(f"{n_tc} treated cluster(s): the wild cluster bootstrap is unreliable with one or two "
                    "treated clusters (MacKinnon and Webb 2017); prefer primarycare.inference.randomization_test.")
    if enumerated and Bn < 1 / alpha * 2:
        warn.append(f"only {Bn} distinct Rademacher draws with {G} clusters: p-values are coarse.")
    label = "WCR" if impose_null else "WCU"
    draws = f"all {Bn} Rademacher sign vectors" if enumerated else f"{Bn} {weights} draws (seed {seed})"
    name = {"twfe": "TWFE leads and lags", "sun_abraham": "Sun-Abraham interaction-weighted"}[method]
    return WildBootstrapResult(
        method=f"Event study ({name}) post-period aggregate, wild cluster bootstrap ({label})",
        outcome=outcome, estimate=theta, se=se, ci_low=ci_lo, ci_high=ci_hi, p_value=p, n_obs=nobs,
        alpha=alpha,
        inference=f"{label} bootstrap-t by {cluster_col} ({G} clusters), {draws}; H0: aggregate = {null:g}; "
                  "CI by test inversion",
        warnings=warn, extra={"window": f"{lo}..{hi}", "reference": reference},
        n_boot=Bn, enumerated=enumerated, n_clusters=G, bootstrap_weights=weights,
        t_star=tstar(null) if impose_null else t_fixed, draws=V,
    )
