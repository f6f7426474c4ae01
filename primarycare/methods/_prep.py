"""Input checks shared by the estimators: columns exist, no missing values, one cohort per unit, numeric
periods (:func:`numeric_time`, also used by synthetic control and segmented regression)."""

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


def numeric_time(values: pd.Series, time: str, where: str, *, integer: bool = False) -> pd.Series:
    """The ``time`` column as numbers, or a one-paragraph :class:`UserInputError`.

    Numeric columns pass unchanged. Text that is unambiguously a number (``"2015"``, ``" 2016 "``) is
    converted (to int when every value is whole). Anything else (``"2003Q1"``, dates, ``"2015/16"``) is
    refused, naming the first offending row: the estimators need ordered numeric periods (years, or
    consecutive integers for quarters). With ``integer=True`` (cohort-based estimators, which use g - 1
    and t - g) whole numbers are required.
    """
    s = values
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s) or isinstance(
            s.dtype, pd.PeriodDtype):
        raise UserInputError(
            f"{where}: the time column {time!r} has type {s.dtype}; the estimators need numeric periods. "
            "Convert it first, for example to the year (df[time].dt.year) or to consecutive integers for "
            "quarters or months (e.g. 4 * year + quarter)."
        )
    if not pd.api.types.is_numeric_dtype(s):
        conv = pd.to_numeric(s.astype("string").str.strip(), errors="coerce")
        bad = conv.isna() & s.notna()
        if bad.any():
            row = s.index[np.argmax(bad.to_numpy())]
            raise UserInputError(
                f"{where}: the time column {time!r} must hold numeric periods (years such as 2015); row "
                f"{row!r} has {s.loc[row]!r}, which is not a number. Convert it first: for quarterly or "
                "monthly data use consecutive integers (e.g. 4 * year + quarter - 1) and adjust the "
                "treatment and first-treated periods the same way."
            )
        s = conv.astype(float)
        if s.notna().all() and (np.mod(s.to_numpy(), 1) == 0).all():
            s = s.astype("int64")
    if integer:
        v = s.dropna().to_numpy(dtype=float)
        if (np.mod(v, 1) != 0).any():
            a = s.to_numpy(dtype=float)
            row = s.index[int(np.argmax(np.isfinite(a) & (np.mod(a, 1) != 0)))]
            raise UserInputError(
                f"{where}: the time column {time!r} must hold whole-numbered periods (years, or consecutive "
                f"integers for quarters); row {row!r} has {s.loc[row]!r}."
            )
    return s


def numeric_period(value, name: str, where: str):
    """A single period argument (treatment time, interruption) as a number: ``"2015"`` -> 2015."""
    if isinstance(value, (bool, np.bool_)):
        raise UserInputError(f"{where}: {name} must be a period such as 2015, got {value!r}.")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value
    try:
        x = float(str(value).strip())
    except ValueError:
        raise UserInputError(
            f"{where}: {name} must be a numeric period in the units of the time column (a year such as 2015), "
            f"got {value!r}. For quarterly or monthly data use consecutive integers."
        ) from None
    return int(x) if x.is_integer() else x


def complete_rows(data: pd.DataFrame, cols: list[str], where: str) -> pd.DataFrame:
    """Rows with no missing value in ``cols`` (the first-treated column may be missing = never): the
    rows ``data.dropna(subset=cols)`` keeps, and ``data`` itself when none is missing (no copy)."""
    missing = np.zeros(len(data), dtype=bool)
    for c in dict.fromkeys(cols):
        na = data[c].isna()
        missing |= (na.any(axis=1) if isinstance(na, pd.DataFrame) else na).to_numpy(dtype=bool)
    d = data.loc[~missing] if missing.any() else data
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
    raw = d[first_treated]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        g = raw.astype(float)
    else:
        txt = raw.astype("string").str.strip()
        g = pd.to_numeric(txt, errors="coerce")
        bad = (g.isna() & txt.notna() & (txt != "")).to_numpy(dtype=bool)
        if bad.any() or pd.api.types.is_bool_dtype(raw):
            row = d.index[int(np.argmax(bad))]
            raise UserInputError(
                f"{where}: the first-treated column {first_treated!r} must hold the first treated period as "
                f"a number in the same units as the time column (missing or 0 = never treated); row {row!r} "
                f"has {raw.loc[row]!r}."
            )
    g = g.fillna(0)
    codes, levels = pd.factorize(d[unit])
    gv = g.to_numpy(dtype=float)
    # constant within each unit <=> zero spread: count * sum(g^2) = sum(g)^2 (exact for period values)
    cnt = np.bincount(codes, minlength=len(levels))
    s1 = np.bincount(codes, weights=gv, minlength=len(levels))
    s2 = np.bincount(codes, weights=gv * gv, minlength=len(levels))
    varies = cnt * s2 != s1 * s1
    if varies.any():
        u = levels[int(np.argmax(varies))]
        raise UserInputError(
            f"{where}: the first-treated column {first_treated!r} must be constant within a unit; unit "
            f"{u!r} has several values."
        )
    return g.astype(float)


def check_unique_panel(d: pd.DataFrame, unit: str, time: str, where: str) -> None:
    cu, lu = pd.factorize(d[unit])
    ct, lt = pd.factorize(d[time])
    if len(d) and np.bincount(cu.astype(np.int64) * len(lt) + ct).max() <= 1:
        return
    _raise_duplicate(d, unit, time, where)


def unique_panel_codes(d: pd.DataFrame, unit: str, time: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Unit and time codes (``pd.factorize(sort=True)``, as :meth:`TwoWay.from_frame`) after the check of
    :func:`check_unique_panel`, so the columns are factorised once."""
    cu, lu = pd.factorize(d[unit], sort=True)
    ct, lt = pd.factorize(d[time], sort=True)
    cu, ct = cu.astype(np.int64), ct.astype(np.int64)
    if not (len(d) and np.bincount(cu * len(lt) + ct).max() <= 1):
        _raise_duplicate(d, unit, time, where)
    return cu, ct


def _raise_duplicate(d: pd.DataFrame, unit: str, time: str, where: str) -> None:
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
    d = complete_rows(data, [outcome, unit, time], where).copy()
    d[time] = numeric_time(d[time], time, where, integer=True)
    check_unique_panel(d, unit, time, where)
    g_row = cohorts(d, unit, first_treated, where)
    Y = d.pivot(index=unit, columns=time, values=outcome).astype(float)
    return d, g_row, Y
