"""The wording rules: which numbers allow which words. One place, tested against the numbers.

Every verdict the book writes about an estimate comes from a function here, which returns a *code*
(no prose); :mod:`primarycare.report.words` turns codes into sentences in the reader's language. The
rules:

1. **Design-based intervals only.** An interval or test counts as evidence only when its basis is valid
   with one treated province: a randomization test by test inversion, placebo bands (Conley and Taber
   2011), the placebo variance of synthetic DiD (Arkhangelsky et al. 2021), a conformal interval
   (Chernozhukov, Wüthrich and Zhu 2021), or the synthetic control's placebo rank. Model-based intervals
   (CRV1, analytic influence function, Newey-West HAC in a 14-year series) are shown in a secondary
   column and never read as evidence.
2. **Identical estimators count once.** Rows with ``same_as`` set are the same number by construction
   (the event-study post average and Callaway-Sant'Anna with one treated province and never-treated
   comparisons) and are left out of every count.
3. **No "interval" without one.** A method whose row has no interval (a synthetic control without its
   conformal interval) is read by its p-value only.
4. **"Evidence" needs a rejection.** "Evidence of an increase" only when every counted test rejects no
   effect and the estimates agree in sign; "no evidence of an effect" when none rejects (never "weak
   evidence" then); "mixed" otherwise; "conflict" when rejecting tests disagree in sign. An unbounded
   interval includes zero.
5. **A non-rejection is never evidence for an assumption** (Roth 2022): a pre-trend test that does not
   reject yields ``not_reject``, which the words render as "no evidence against", together with the
   test's power where known; with one treated province the placebo p-value decides, and a disagreement
   with the CRV1 F-test is reported.
6. **Units.** A difference of shares is in percentage points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# the vocabulary of interval bases and methods is defined once, with the result it describes
from ..case.result import CROSS_PROVINCE_METHODS as CROSS_PROVINCE
from ..case.result import DESIGN_BASED, MODEL_BASED  # noqa: F401 - MODEL_BASED is read by report.tables


def _f(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def is_design_based(basis: str) -> bool:
    """True for an interval basis valid with one treated province (rule 1)."""
    return str(basis) in DESIGN_BASED


def has_interval(row: Any) -> bool:
    """True when the row has an interval at all (both bounds present; an unbounded bound counts)."""
    lo, hi = _f(_get(row, "ci_low")), _f(_get(row, "ci_high"))
    return not (math.isnan(lo) or math.isnan(hi))


def excludes_zero(lo: float, hi: float) -> bool:
    """True when the interval [lo, hi] lies wholly above or below zero (unbounded: never)."""
    lo, hi = _f(lo), _f(hi)
    if math.isnan(lo) or math.isnan(hi):
        return False
    return (lo > 0 and math.isfinite(lo)) or (hi < 0 and math.isfinite(hi))


def _get(row: Any, key: str, default: Any = None) -> Any:
    if isinstance(row, dict):
        return row.get(key, default)
    if isinstance(row, pd.Series):
        return row.get(key, default)
    return getattr(row, key, default)


def shows_interval_as_main(row: Any) -> bool:
    """Whether a table may show this row's interval in its main interval column (rule 1)."""
    return is_design_based(_get(row, "interval_basis", "")) and has_interval(row)


@dataclass(frozen=True)
class Test:
    """One counted test of 'no effect': the method, its estimate, how it was judged and the outcome."""

    method: str
    estimate: float
    basis: str
    kind: str  # "interval" (a design-based interval) or "p_value" (placebo rank without an interval)
    rejects: bool
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    p_value: float = float("nan")


@dataclass(frozen=True)
class EffectVerdict:
    """The reading of one outcome's cross-province estimates (codes and the numbers behind them)."""

    code: str  # all_reject | some_reject | none_reject | conflict | no_inference | no_estimates
    direction: str  # increase | decrease | none (signs differ or zero)
    tests: tuple[Test, ...] = ()
    counted: tuple[str, ...] = ()  # distinct methods counted
    merged: tuple[tuple[str, str], ...] = ()  # (method, same_as) pairs counted once
    low: float = float("nan")  # smallest estimate among the counted methods
    high: float = float("nan")  # largest
    covered: tuple[str, ...] = ()  # design-based intervals containing the planted effect
    n_intervals: int = 0  # design-based intervals (for the planted-effect count)
    planted: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_tests(self) -> int:
        return len(self.tests)

    @property
    def n_reject(self) -> int:
        return sum(t.rejects for t in self.tests)


def effect_verdict(estimates: pd.DataFrame, outcome: str, alpha: float = 0.05) -> EffectVerdict:
    """Read the main cross-province estimates of ``outcome`` by rules 1 to 4."""
    e = estimates[(estimates["outcome"] == outcome) & (estimates["section"] == "main")
                  & estimates["method"].isin(CROSS_PROVINCE)].copy()
    e = e[np.isfinite(pd.to_numeric(e["estimate"], errors="coerce"))]
    if e.empty:
        return EffectVerdict("no_estimates", "none")
    same = e["same_as"].fillna("").astype(str) if "same_as" in e else pd.Series("", index=e.index)
    merged = tuple((str(m), str(s)) for m, s in zip(e["method"], same, strict=True) if s)
    distinct = e[same == ""].drop_duplicates("method", keep="last")
    tests: list[Test] = []
    for r in distinct.itertuples(index=False):
        basis = str(r.interval_basis)
        if is_design_based(basis) and has_interval(r._asdict()):
            tests.append(Test(r.method, float(r.estimate), basis, "interval", excludes_zero(r.ci_low, r.ci_high),
                              _f(r.ci_low), _f(r.ci_high), _f(r.p_value)))
        elif r.method == "Synthetic control" and not math.isnan(_f(r.p_value)):
            tests.append(Test(r.method, float(r.estimate), "placebo_rank", "p_value", _f(r.p_value) <= alpha,
                              p_value=_f(r.p_value)))
    est = distinct["estimate"].astype(float).to_numpy()
    signs = set(np.sign(est).tolist())
    direction = "increase" if signs == {1.0} else "decrease" if signs == {-1.0} else "none"
    planted = _f(distinct["planted"].dropna().iloc[0]) if distinct["planted"].notna().any() else float("nan")
    intervals = [t for t in tests if t.kind == "interval"]
    covered = tuple(t.method for t in intervals if not math.isnan(planted) and t.ci_low <= planted <= t.ci_high)
    base = dict(tests=tuple(tests), counted=tuple(distinct["method"]), merged=merged, low=float(est.min()),
                high=float(est.max()), covered=covered, n_intervals=len(intervals), planted=planted)
    if not tests:
        return EffectVerdict("no_inference", direction, **base)
    rej = [t for t in tests if t.rejects]
    if rej and len({np.sign(t.estimate) for t in rej}) > 1:
        return EffectVerdict("conflict", "none", **base)
    if len(rej) == len(tests) and direction != "none":
        return EffectVerdict("all_reject", direction, **base)
    if not rej:
        return EffectVerdict("none_reject", direction, **base)
    return EffectVerdict("some_reject", direction, **base)


@dataclass(frozen=True)
class PretrendVerdict:
    """The reading of one outcome's pre-trend test (rule 5)."""

    code: str  # reject | not_reject | unavailable
    p_used: float
    which: str  # "placebo" or "crv1"
    disagree: bool  # the CRV1 F-test and the placebo p-value fall on different sides of alpha
    statistic: float
    crv1_p: float
    placebo_p: float
    n_assignments: int
    sign_pattern: str  # "all_above", "all_below" or "" (only with at least 3 leads)
    n_leads: int
    band_excludes: int  # leads whose placebo band excludes zero
    power: float = float("nan")  # power of the test against the reference linear violation
    power_slope: float = float("nan")  # the slope (per year) at which power is 80% (Roth 2022)


def pretrend_verdict(row: Any, alpha: float = 0.05, sensitivity: pd.DataFrame | None = None) -> PretrendVerdict:
    """Read one row of the ``pretrend`` table (and the power rows of ``sensitivity``) by rule 5."""
    f_p, pl_p = _f(_get(row, "p_value")), _f(_get(row, "placebo_p_value"))
    n_tr = _get(row, "n_treated", 1)
    n_tr = 1 if n_tr is None or math.isnan(_f(n_tr)) else int(_f(n_tr))
    use_placebo = n_tr < 2 and not math.isnan(pl_p)
    p = pl_p if use_placebo else f_p
    n_leads = int(_f(_get(row, "n_leads", 0)) or 0)
    above, below = int(_f(_get(row, "leads_above_zero", 0)) or 0), int(_f(_get(row, "leads_below_zero", 0)) or 0)
    pattern = "all_above" if n_leads >= 3 and above == n_leads else "all_below" if n_leads >= 3 and below == n_leads else ""
    disagree = (not math.isnan(f_p) and not math.isnan(pl_p) and (f_p < alpha) != (pl_p < alpha))
    power = slope = float("nan")
    if sensitivity is not None and len(sensitivity):
        s = sensitivity
        if "kind" in s:
            pw = s[s["kind"] == "power"]
            if len(pw):
                power = _f(pw["power"].iloc[0]) if "power" in pw else float("nan")
                slope = _f(pw["slope_80"].iloc[0]) if "slope_80" in pw else float("nan")
    code = "unavailable" if math.isnan(p) else ("reject" if p < alpha else "not_reject")
    return PretrendVerdict(code, p, "placebo" if use_placebo else "crv1", disagree, _f(_get(row, "statistic")), f_p,
                           pl_p, int(_f(_get(row, "n_assignments", 0)) or 0), pattern, n_leads,
                           int(_f(_get(row, "leads_band_excludes_zero", 0)) or 0), power, slope)


def robustness_verdict(table: pd.DataFrame, main_estimate: float) -> dict[str, Any]:
    """Read the robustness rows of one outcome: counts of checks whose design-based interval excludes zero,
    placebo checks that 'find' an effect where none should be, and the range of the other estimates."""
    t = table.copy()
    spec = t["spec"].astype(str)
    placebo = t[spec.str.startswith(("placebo_year:", "placebo_in_time:"))]
    other = t[~spec.str.startswith(("placebo_year:", "placebo_in_time:", "leave_out:"))]
    loo = t[spec.str.startswith("leave_out:")]

    def rejects(df: pd.DataFrame) -> int:
        return int(sum(excludes_zero(a, b) for a, b in zip(df["ci_low"], df["ci_high"], strict=True)))

    sign = np.sign(main_estimate) if np.isfinite(main_estimate) else 0.0
    return {
        "n_placebo": int(len(placebo)), "placebo_reject": rejects(placebo[placebo["method"] == "TWFE DiD"]),
        "n_placebo_with_interval": int((placebo["interval_basis"].astype(str).isin(DESIGN_BASED)).sum()),
        "n_other": int(len(other)), "other_reject": rejects(other),
        "other_same_sign": int((np.sign(other["estimate"].astype(float)) == sign).sum()) if len(other) else 0,
        "n_loo": int(len(loo)),
        "loo_low": float(loo["estimate"].min()) if len(loo) else float("nan"),
        "loo_high": float(loo["estimate"].max()) if len(loo) else float("nan"),
        "loo_same_sign": int((np.sign(loo["estimate"].astype(float)) == sign).sum()) if len(loo) else 0,
    }


def difference_unit(unit: str) -> str:
    """The unit of a difference of two values measured in ``unit`` (rule 6): shares give points."""
    return "pp" if str(unit).strip() == "%" else str(unit)
