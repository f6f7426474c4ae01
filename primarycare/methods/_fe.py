"""Two-way fixed-effect projections (within transformation) for DiD estimators.

The two-way within transformation ``M x`` removes unit and time means. On a balanced, unweighted panel
one sweep is exact; otherwise the method of alternating projections (von Neumann, 1950; used for
high-dimensional fixed effects by Guimarães and Portugal, 2010, and Gaure, 2013) is iterated until the
largest change is below ``tol``. Columns are processed together (a matrix in, a matrix out), which is
what makes the randomization-test refits vectorised: thousands of permuted treatment columns are
residualised in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass
class TwoWay:
    """Unit and time codes of a panel (one row per observation) and the fixed-effect projection."""

    unit_codes: np.ndarray
    time_codes: np.ndarray
    n_units: int
    n_times: int
    weights: np.ndarray | None = None
    tol: float = 1e-12
    max_iter: int = 10_000

    @classmethod
    def from_frame(
        cls, data: pd.DataFrame, unit: str, time: str, weights: np.ndarray | None = None
    ) -> TwoWay:
        u, _ = pd.factorize(data[unit], sort=True)
        t, _ = pd.factorize(data[time], sort=True)
        return cls(u.astype(np.int64), t.astype(np.int64), int(u.max()) + 1, int(t.max()) + 1, weights)

    @property
    def n(self) -> int:
        return len(self.unit_codes)

    @property
    def balanced(self) -> bool:
        return self.n == self.n_units * self.n_times and self.weights is None

    def _indicator(self, codes: np.ndarray, k: int) -> sp.csr_matrix:
        return sp.csr_matrix((np.ones(self.n), (np.arange(self.n), codes)), shape=(self.n, k))

    def unit_indicator_t(self) -> sp.csr_matrix:
        """Sparse (units x n) indicator: row u selects unit u's observations."""
        return self._indicator(self.unit_codes, self.n_units).T.tocsr()

    def time_indicator_t(self) -> sp.csr_matrix:
        """Sparse (periods x n) indicator."""
        return self._indicator(self.time_codes, self.n_times).T.tocsr()

    def _grid(self) -> bool:
        """True if rows are unit-major with periods 0..T-1 in order (a reshape gives the N x T grid)."""
        cache = self.__dict__.get("_is_grid")
        if cache is None:
            N, T = self.n_units, self.n_times
            cache = bool(np.array_equal(self.unit_codes, np.repeat(np.arange(N), T))
                         and np.array_equal(self.time_codes, np.tile(np.arange(T), N)))
            self.__dict__["_is_grid"] = cache
        return cache

    def _projectors(self) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray, np.ndarray]:
        """Weighted (groups x n) indicator matrices and group weights, built once per TwoWay."""
        cache = self.__dict__.get("_proj")
        if cache is None:
            w = np.ones(self.n) if self.weights is None else np.asarray(self.weights, float)
            rows = np.arange(self.n)
            SuT = sp.csr_matrix((w, (self.unit_codes, rows)), shape=(self.n_units, self.n))
            StT = sp.csr_matrix((w, (self.time_codes, rows)), shape=(self.n_times, self.n))
            wu = np.bincount(self.unit_codes, weights=w, minlength=self.n_units)
            wt = np.bincount(self.time_codes, weights=w, minlength=self.n_times)
            cache = (SuT, StT, wu, wt)
            self.__dict__["_proj"] = cache
        return cache

    def demean(self, x: np.ndarray) -> np.ndarray:
        """Residuals of ``x`` (n, or n x k) on unit and time dummies (weighted if weights are set)."""
        x = np.asarray(x, dtype=float)
        vec = x.ndim == 1
        X = x[:, None] if vec else x
        if self.balanced and self._grid():
            # rows ordered unit by unit, periods in order: x - unit mean - period mean + grand mean
            Z = X.reshape(self.n_units, self.n_times, -1)
            R = Z - Z.mean(axis=1, keepdims=True) - Z.mean(axis=0, keepdims=True) + Z.mean(axis=(0, 1))
            R = R.reshape(self.n, -1)
            return R[:, 0] if vec else R
        SuT, StT, wu, wt = self._projectors()
        R = X.copy()
        scale = max(1.0, float(np.abs(X).max()) if X.size else 1.0)
        for _ in range(self.max_iter):
            mu = (SuT @ R) / wu[:, None]
            R = R - mu[self.unit_codes]
            mt = (StT @ R) / wt[:, None]
            R = R - mt[self.time_codes]
            if self.balanced:
                break  # one sweep is exact on a balanced unweighted panel
            if np.abs(mt).max(initial=0.0) < self.tol * scale:
                # time means are now zero; check the unit means too
                mu2 = (SuT @ R) / wu[:, None]
                if np.abs(mu2).max(initial=0.0) < self.tol * scale:
                    break
        else:  # pragma: no cover - pathological designs only
            raise RuntimeError("two-way demeaning did not converge")
        return R[:, 0] if vec else R

    def fe_design(self, drop_first_time: bool = True) -> sp.csr_matrix:
        """Sparse dummy matrix [unit dummies, time dummies (first dropped)] for the GMM variance."""
        Su = self._indicator(self.unit_codes, self.n_units)
        St = self._indicator(self.time_codes, self.n_times)
        if drop_first_time:
            St = St[:, 1:]
        return sp.hstack([Su, St]).tocsr()


def fit_fe_subset(
    y: np.ndarray, unit_codes: np.ndarray, time_codes: np.ndarray, mask: np.ndarray, tol: float = 1e-12
) -> tuple[np.ndarray, np.ndarray]:
    """Unit and time effects fitted by OLS of ``y`` on two-way dummies using only rows in ``mask``.

    Returns (alpha by unit code, lambda by time code); entries for units/times absent from the subset
    are NaN. Used by the imputation estimator (Borusyak, Jaravel and Spiess, 2024).
    """
    u, t, yy = unit_codes[mask], time_codes[mask], np.asarray(y, float)[mask]
    nu, nt = int(unit_codes.max()) + 1, int(time_codes.max()) + 1
    cu = np.bincount(u, minlength=nu).astype(float)
    ct = np.bincount(t, minlength=nt).astype(float)
    alpha = np.zeros(nu)
    lam = np.zeros(nt)
    scale = max(1.0, float(np.abs(yy).max()) if yy.size else 1.0)
    for _ in range(100_000):
        alpha_new = np.bincount(u, weights=yy - lam[t], minlength=nu) / np.where(cu > 0, cu, 1)
        lam_new = np.bincount(t, weights=yy - alpha_new[u], minlength=nt) / np.where(ct > 0, ct, 1)
        done = max(np.abs(alpha_new - alpha).max(), np.abs(lam_new - lam).max()) < tol * scale
        alpha, lam = alpha_new, lam_new
        if done:
            break
    alpha[cu == 0] = np.nan
    lam[ct == 0] = np.nan
    return alpha, lam
