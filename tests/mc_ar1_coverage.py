"""Reproduces the AR(1) coverage table in the primarycare.methods.trends docstring.

    PYTHONPATH=. python tests/mc_ar1_coverage.py 1000

Not collected by pytest (a one-off measurement, about 2 minutes). Series: n periods, reform at the middle,
true coefficients (1, 0.1, 1.0, 0.05) (simulation settings), stationary AR(1) errors with N(0, 1)
innovations; prints how often the nominal 95% interval for the slope change covers 0.05."""

import sys

import numpy as np
from scipy import stats
from statsmodels.regression.linear_model import GLSAR, OLS

from primarycare.methods.trends import build_design, newey_west_lags, prais_winsten


def cover(n: int, rho: float, reps: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    t = np.arange(2000, 2000 + n)
    X = build_design(t, [2000 + n // 2]).to_numpy()
    beta = np.array([1, 0.1, 1.0, 0.05])
    hits = {"ols": 0, "ar1": 0, "prais": 0}
    for _ in range(reps):
        e = np.empty(n)
        e[0] = rng.normal() / np.sqrt(1 - rho**2)
        for i in range(1, n):
            e[i] = rho * e[i - 1] + rng.normal()
        y = X @ beta + e
        hac = {"maxlags": newey_west_lags(n), "use_correction": True}
        fits = {
            "ols": OLS(y, X).fit(cov_type="HAC", cov_kwds=hac, use_t=True),
            "ar1": GLSAR(y, X, rho=1).iterative_fit(maxiter=100, rtol=1e-8),
            "prais": prais_winsten(y, X)[0],
        }
        for k, r in fits.items():
            hits[k] += abs(r.params[3] - 0.05) <= stats.t.ppf(0.975, r.df_resid) * r.bse[3]
    return {k: v / reps for k, v in hits.items()}


if __name__ == "__main__":
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    for n in (14, 60):
        for rho in (0.5, 0.9):
            print(n, rho, cover(n, rho, reps, 1000 * n + int(10 * rho)), flush=True)
