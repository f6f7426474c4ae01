"""One reform on the simulated teaching panel, ready for the estimators, with its planted truth.

Used by the primer chapters and the teachers' exercises: the frame a student estimates on and the
effect planted in it (the answer key).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import UserInputError


@dataclass(frozen=True)
class TeachingData:
    """One reform on the simulated teaching panel, ready for the estimators, with the planted truth.

    ``frame`` has one row per province-year: ``province``, ``year``, the outcome column, ``treated``
    (1 in the treated province from the reform year on), ``first_treated`` (the reform year, 0 for
    comparison provinces) and ``status`` (always "simulated"). ``truth`` is the planted effect by year in
    the treated province (0 before the reform).
    """

    frame: pd.DataFrame
    truth: pd.Series
    province: str
    reform_id: str
    reform_year: int
    outcome: str
    donors: tuple[str, ...]

    @property
    def att(self) -> float:
        """The planted average effect over the post-reform years in the panel: what DiD targets."""
        return float(self.truth[self.truth.index >= self.reform_year].mean())


def _cases() -> dict[str, Any]:
    """``load_cases()``, validated once while ``data/cases.yml`` and ``data/policies.csv`` are unchanged (a
    lesson draws dozens of panels in a loop; the cases do not change between draws)."""
    from ..files import versions
    from ..paths import DATA
    from . import config as cases

    return dict(_cases_for(versions(cases.CASES_FILE, DATA / "policies.csv")))


@functools.lru_cache(maxsize=1)
def _cases_for(stamp: tuple) -> dict[str, Any]:
    from . import config as cases

    return cases.load_cases()


def teaching_data(case_id: str = "zhejiang", outcome: str = "primary_care_visit_share",
                  seed: int | None = None, parallel_trends: bool = True) -> TeachingData:
    """The treated province of a case and its comparison provinces on the simulated teaching panel.

    Comparison provinces are the case's donors (other reforming provinces excluded, see
    ``data/cases.yml``). ``seed`` redraws the simulated panel (``None``: the simulator's default), so a
    reader can see how much an estimate moves from one simulated world to another.
    ``parallel_trends=False`` draws the same world with province-specific trends correlated with the
    province's level (the simulator's documented switch), for the lesson on what happens when the
    assumption fails.
    """
    from ..data import simulate

    all_cases = _cases()
    if case_id not in all_cases:
        raise UserInputError(f"case_id {case_id!r} is not a case in data/cases.yml; known cases: "
                             f"{', '.join(all_cases)}.")
    case = all_cases[case_id]
    if outcome not in simulate.PANEL_INDICATORS:
        raise UserInputError(f"outcome {outcome!r} is not an indicator in the simulated panel; expected one "
                             f"of {', '.join(simulate.PANEL_INDICATORS)} (data/indicators.csv).")
    kw = {} if seed is None else {"seed": seed}
    # the outcome alone: the same values as in the full panel (one random stream per indicator), a third
    # of the work (primer 06 draws fifty panels)
    sim = simulate.simulate_panel(parallel_trends=parallel_trends, indicators=[outcome], **kw)
    wide = sim.wide()
    keep = [case.province, *case.donors]
    df = wide.loc[wide["province"].isin(keep), ["province", "year", outcome]].copy()
    df = df.sort_values(["province", "year"]).reset_index(drop=True)
    year = int(case.reform_year)
    is_treated = df["province"].eq(case.province)
    df["first_treated"] = is_treated.astype(int) * year
    df["treated"] = (is_treated & df["year"].ge(year)).astype(int)
    df["status"] = "simulated"
    t = sim.truth
    t = t[(t["province"] == case.province) & (t["indicator"] == outcome) & (t["reform_id"] == case.reform)]
    truth = t.groupby("year")["effect"].sum().reindex(sorted(df["year"].unique()), fill_value=0.0)
    truth.name = "planted_effect"
    return TeachingData(df, truth, case.province, case.reform, year, outcome, tuple(case.donors))
