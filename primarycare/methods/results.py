"""The result object every estimator returns.

One shape for all methods (DiD, event study, synthetic control, segmented trends), so chapters, the
synthesis and tests can treat estimates alike: ``estimate``, ``se``, ``ci_low``, ``ci_high``,
``p_value``, ``n_obs``, a readable ``summary()`` and a one-row ``to_frame()``. Estimators subclass
:class:`Estimate` to add what is specific to them (a relative-time table, donor weights, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "—"
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(xf):
        return "—"
    return f"{xf:.{digits}g}" if abs(xf) >= 1e4 or (0 < abs(xf) < 1e-3) else f"{xf:.{digits}f}"


@dataclass
class Estimate:
    """A point estimate with its uncertainty and the facts needed to read it.

    ``warnings`` holds plain-language caveats (for example: cluster-robust standard errors with one
    treated cluster are unreliable); they are printed by ``summary()`` and kept in ``to_frame()``.
    """

    method: str
    outcome: str
    estimate: float
    se: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    p_value: float = float("nan")
    n_obs: int = 0
    alpha: float = 0.05
    inference: str = ""
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def _rows(self) -> list[tuple[str, str]]:
        level = f"{100 * (1 - self.alpha):.0f}%"
        rows = [
            ("Method", self.method),
            ("Outcome", self.outcome),
            ("Estimate", _fmt(self.estimate)),
            ("Std. error", _fmt(self.se)),
            (f"{level} CI", f"[{_fmt(self.ci_low)}, {_fmt(self.ci_high)}]"),
            ("p-value", _fmt(self.p_value)),
            ("Observations", str(self.n_obs)),
        ]
        if self.inference:
            rows.append(("Inference", self.inference))
        for k, v in self.extra.items():
            if isinstance(v, (int, float, str)):
                rows.append((k, _fmt(v) if isinstance(v, float) else str(v)))
        return rows

    def summary(self) -> str:
        """A plain-text table of the estimate, its uncertainty and any warnings."""
        rows = self._rows()
        width = max(len(k) for k, _ in rows)
        lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
        rule = "-" * max(len(line) for line in lines)
        out = [rule, *lines, rule]
        out += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(out)

    def __str__(self) -> str:  # print(result) shows the summary
        return self.summary()

    def to_frame(self) -> pd.DataFrame:
        """One row: method, outcome, estimate, se, ci_low, ci_high, p_value, n_obs, inference, warnings."""
        return pd.DataFrame(
            [
                {
                    "method": self.method,
                    "outcome": self.outcome,
                    "estimate": self.estimate,
                    "se": self.se,
                    "ci_low": self.ci_low,
                    "ci_high": self.ci_high,
                    "p_value": self.p_value,
                    "n_obs": self.n_obs,
                    "inference": self.inference,
                    "warnings": " | ".join(self.warnings),
                }
            ]
        )
