"""Confidence sets by test inversion: the values of a parameter a test does not reject.

Used by the randomization test and the wild cluster bootstrap (Roodman, MacKinnon, Nielsen and Webb
2019, sec. 3.5): the p-value function is evaluated on a grid around the estimate (widened until both
edges are found) and each edge is refined by bisection.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def invert(pfun: Callable[[float], float], center: float, scale: float, alpha: float, grid: int = 201,
            tol: float = 1e-7, pfun_grid: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[float, float]:
    """Smallest and largest tau with p(tau) > alpha: grid search then bisection at both edges.

    ``pfun_grid`` (optional) evaluates the p-value function on a whole grid at once; it must return
    exactly ``[pfun(t) for t in taus]`` (it only saves the Python loop)."""
    scale = scale if np.isfinite(scale) and scale > 0 else max(1.0, abs(center))
    for width in (4.0, 16.0, 64.0):
        taus = center + scale * width * np.linspace(-1, 1, grid)
        ps = np.asarray(pfun_grid(taus), dtype=float) if pfun_grid is not None else np.array([pfun(t) for t in taus])
        acc = np.flatnonzero(ps > alpha)
        if acc.size == 0:
            return float("nan"), float("nan")
        if acc[0] > 0 and acc[-1] < grid - 1:
            break
    else:
        return (-np.inf if acc[0] == 0 else float(taus[acc[0]]), np.inf if acc[-1] == grid - 1 else float(taus[acc[-1]]))

    def edge(out_t: float, in_t: float) -> float:
        for _ in range(200):
            if abs(out_t - in_t) < tol * max(1.0, scale):
                break
            mid = 0.5 * (out_t + in_t)
            if pfun(mid) > alpha:
                in_t = mid
            else:
                out_t = mid
        return in_t

    lo = edge(float(taus[acc[0] - 1]), float(taus[acc[0]]))
    hi = edge(float(taus[acc[-1] + 1]), float(taus[acc[-1]]))
    return lo, hi
