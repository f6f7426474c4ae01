"""A placebo (permutation) p-value for the event study's joint pre-trend statistic.

Why: the joint F-test of the pre-reform event-study coefficients uses cluster-robust (CRV1) errors.
With one treated province the lead coefficients are identified from a single cluster, whose CRV1
variance is badly underestimated, so the F-test rejects parallel pre-trends far too often even when
there is no pre-trend (Conley and Taber 2011; MacKinnon and Webb 2017). Following Conley and Taber's
reasoning, we keep the statistic but get its null distribution from the comparison units: the same
statistic is recomputed with each comparison unit as the pseudo-treated unit (given the treated unit's
reform timing), and the real statistic is ranked among them. The permutations are done by
:func:`primarycare.inference.randomization_test`, so the p-value is exact when all assignments are
enumerated (one treated unit: one assignment per unit).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import UserInputError
from .results import Estimate


@dataclass
class PretrendPlacebo(Estimate):
    """The pre-trend statistic with both p-values.

    ``estimate`` is the joint F statistic of the pre-reform coefficients; ``f_p_value`` its CRV1 F-test
    p-value; ``p_value`` the placebo p-value (share of assignments, the real one included, whose
    statistic is at least the real one); ``distribution`` the placebo statistics; ``n_treated_units``
    the number of treated units (the placebo p-value is the one to read when it is below 2).
    """

    f_p_value: float = float("nan")
    distribution: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)
    n_assignments: int = 0
    n_treated_units: int = 0

    @property
    def prefer_placebo(self) -> bool:
        """True when the CRV1 F-test is unreliable (fewer than 2 treated units)."""
        return self.n_treated_units < 2


def _pretrend_stat(data: pd.DataFrame, outcome: str, unit: str, time: str, first_treated: str,
                   window: tuple[int, int], reference: int, cluster: str | None) -> Estimate:
    """The event study's joint pre-trend F statistic as an :class:`Estimate` (for the permutation test)."""
    from . import did

    r = did.event_study(data, outcome, unit, time, first_treated, window=window, reference=reference,
                        method="twfe", cluster=cluster)
    pt = r.pretrend or {}
    return Estimate(method="Event-study pre-trend F statistic", outcome=outcome,
                    estimate=float(pt.get("statistic", float("nan"))), p_value=float(pt.get("p_value", float("nan"))),
                    n_obs=r.n_obs, inference=r.inference, warnings=list(r.warnings))


def pretrend_placebo(data: pd.DataFrame, outcome: str, unit: str, time: str, first_treated: str,
                     treatment: str, treated_units: list, window: tuple[int, int] = (-5, 5),
                     reference: int = -1, cluster: str | None = None, n_permutations: int | None = None,
                     seed: int = 0) -> PretrendPlacebo:
    """Joint pre-trend F statistic (TWFE event study) with its CRV1 p-value and a placebo p-value.

    The placebo p-value (Conley and Taber 2011-style; Fisher randomization inference as in
    :func:`primarycare.inference.randomization_test`) ranks the real statistic among the statistics
    obtained when the treated units' reform paths are given to comparison units instead; with one
    treated unit and N comparison units there are N + 1 assignments and the smallest p-value is
    1 / (N + 1). ``data`` needs ``treatment`` (0/1) and ``first_treated`` (reform year, 0 = never).
    """
    from . import inference

    if first_treated not in data.columns or treatment not in data.columns:
        raise UserInputError(f"pretrend_placebo: the data need the columns {first_treated!r} (first treated "
                             f"period, 0 = never) and {treatment!r} (0/1 treated indicator).")
    stat = functools.partial(_pretrend_stat, outcome=outcome, unit=unit, time=time, first_treated=first_treated,
                             window=window, reference=reference, cluster=cluster)
    observed = stat(data)
    if not np.isfinite(observed.estimate):
        raise UserInputError(f"pretrend_placebo: the event study of {outcome!r} has no pre-reform "
                             f"coefficients to test in window {window}.")
    rt = inference.randomization_test(stat, data, unit, list(treated_units), treatment,
                                      n_permutations=n_permutations, seed=seed, time=time,
                                      first_treated=first_treated, ci=False, progress=False)
    k = len(list(treated_units))
    return PretrendPlacebo(
        method="Pre-trend test (placebo p-value)", outcome=outcome, estimate=observed.estimate,
        p_value=float(rt.p_value), n_obs=observed.n_obs,
        inference=(f"joint F of the pre-reform event-study coefficients; placebo p-value from "
                   f"{rt.n_assignments} assignments of the reform to units (Conley and Taber 2011 style); "
                   f"CRV1 F-test p-value {observed.p_value:.3g}"),
        warnings=list(rt.warnings), f_p_value=observed.p_value,
        distribution=np.asarray(rt.distribution, dtype=float), n_assignments=int(rt.n_assignments),
        n_treated_units=k,
    )
