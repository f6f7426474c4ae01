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
