"""Input checks shared by the DiD estimators: columns exist, no missing values, one cohort per unit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UserInputError


def require_columns(data: pd.DataFrame, cols: dict[str, str | None], where: str) -> None:
    """Raise a readable error if a named column is missing."""
    if not isinstance(data, pd.DataFrame):
        raise UserInputError(f"{where}: `data` must be a pandas DataFrame, got {type(data).__name__}.")
    for role, col in cols.items():
        if col is not None and col not in data.columns:
            raise UserInputError(
                f"{where}: the {role} column {col!r} is not in the data; available columns are "
                f"{', '.join(map(str, data.columns))}."
            )


def complete_rows(data: pd.DataFrame, cols: list[str], where: str) -> pd.DataFrame:
    """Rows with no missing value in ``cols`` (the first-treated column may be missing = never)."""
    d = data.dropna(subset=cols)
    if d.empty:
        raise UserInputError(f"{where}: no rows left after dropping missing values in {', '.join(cols)}.")
    return d


def check_binary(d: pd.DataFrame, col: str, where: str) -> np.ndarray:
    """The treatment column as floats, checked to be 0/1."""
    v = pd.to_numeric(d[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(v, [0.0, 1.0])
    if bad.any():
        row = d.index[np.argmax(bad)]
        raise UserInputError(
            f"{where}: the treatment column {col!r} must be 0/1 (1 = reform in force); row {row!r} has "
            f"{d[col].iloc[int(np.argmax(bad))]!r}."
        )
    return v


def cohorts(d: pd.DataFrame, unit: str, first_treated: str, where: str) -> pd.Series:
    """First treated period per row, 0 for never treated (missing or 0 in the input); one value per unit."""
    g = pd.to_numeric(d[first_treated], errors="coerce").fillna(0)
    per_unit = g.groupby(d[unit]).nunique()
    if (per_unit > 1).any():
        u = per_unit.index[per_unit > 1][0]
        raise UserInputError(
            f"{where}: the first-treated column {first_treated!r} must be constant within a unit; unit "
            f"{u!r} has several values."
        )
    return g.astype(float)


def check_unique_panel(d: pd.DataFrame, unit: str, time: str, where: str) -> None:
    dup = d.duplicated([unit, time])
    if dup.any():
        r = d.loc[dup].iloc[0]
        raise UserInputError(
            f"{where}: more than one row for unit {r[unit]!r} in period {r[time]!r}; the panel must have "
            "one row per unit and period."
        )


def staggered_wide(data: pd.DataFrame, outcome: str, unit: str, time: str, first_treated: str,
                   where: str) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Checked long rows, each row's cohort, and the unit x time outcome matrix of a staggered design.

    The shared input step of the cohort-based estimators (Callaway-Sant'Anna, Bacon decomposition).
    """
    require_columns(data, {"outcome": outcome, "unit": unit, "time": time, "first_treated": first_treated},
                    where)
    d = complete_rows(data, [outcome, unit, time], where)
    check_unique_panel(d, unit, time, where)
    g_row = cohorts(d, unit, first_treated, where)
    Y = d.pivot(index=unit, columns=time, values=outcome).astype(float)
    return d, g_row, Y
