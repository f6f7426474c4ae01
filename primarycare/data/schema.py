"""The panel schema (pandera) and readable validation errors.

Every panel file (the simulated panel, ``data/panel/observed.csv``, a user's own tidy CSV) has the
columns ``province, year, indicator, value, unit, status, source``. :func:`validate_panel` checks them
with a pandera schema and turns all failures into ONE paragraph naming the file, the row, the column,
the bad value and what was expected, so a user never sees a traceback.

Row numbers: "row N" counts data rows from 1 (the header is not a row), so row N is line N + 1 of a
CSV file with one header line.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ..errors import UserInputError
from . import indicators, provinces

PANEL_COLUMNS = ["province", "year", "indicator", "value", "unit", "status", "source"]
KEY = ["province", "year", "indicator"]
STATUSES = ("observed", "simulated")
YEAR_MIN, YEAR_MAX = 1990, 2035
MAX_LISTED = 5


@dataclass(frozen=True)
class Problem:
    """One validation failure: 0-based index, column, bad value and the expectation."""

    index: int
    column: str
    value: object
    expected: str

    def text(self) -> str:
        v = self.value.item() if isinstance(self.value, np.generic) else self.value
        val = "an empty cell" if _blank(v) else repr(v)
        return f"row {self.index + 1}, column {self.column!r}: found {val}; expected {self.expected}"


def _blank(x: object) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x)) or (isinstance(x, str) and not x.strip()) \
        or x is pd.NA


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Resolve province spellings (安徽, 安徽省, 34, anhui) to the English key; others are left for
    :func:`validate_panel` to report. Strips whitespace in text columns."""
    out = df.copy()
    for col in ("province", "indicator", "unit", "status", "source"):
        if col in out.columns:
            out[col] = out[col].map(lambda x: x.strip() if isinstance(x, str) else x)
    if "province" in out.columns:
        def _res(x: object) -> object:
            try:
                return provinces.resolve(x)
            except UserInputError:
                return x

        out["province"] = out["province"].map(lambda x: x if _blank(x) else _res(x))
    return out


def _range_ok(df: pd.DataFrame) -> pd.Series:
    t = indicators.table()
    lo = df["indicator"].map(t["min"]).astype(float)
    hi = df["indicator"].map(t["max"]).astype(float)
    v = df["value"].astype(float)
    return (lo.isna() | (v >= lo)) & (hi.isna() | (v <= hi)) | ~df["indicator"].isin(t.index)


def _unit_ok(df: pd.DataFrame) -> pd.Series:
    t = indicators.table()
    expected = df["indicator"].map(t["unit"])
    return expected.isna() | (df["unit"] == expected)


def panel_schema() -> pa.DataFrameSchema:
    """The pandera schema of a (normalised, numerically coerced) panel."""
    return pa.DataFrameSchema(
        {
            "province": pa.Column(str, pa.Check.isin(provinces.names(), name="province"), nullable=False),
            "year": pa.Column("int64", pa.Check.in_range(YEAR_MIN, YEAR_MAX, name="year")),
            "indicator": pa.Column(str, pa.Check.isin(indicators.ids(), name="indicator")),
            "value": pa.Column(float),
            "unit": pa.Column(str, nullable=False),
            "status": pa.Column(str, pa.Check.isin(list(STATUSES), name="status")),
            "source": pa.Column(str, pa.Check.str_length(min_value=1, name="source")),
        },
        checks=[pa.Check(_range_ok, name="range"), pa.Check(_unit_ok, name="unit")],
        strict=False,
    )


def _expectation(check: str, row: pd.Series | None) -> tuple[str, str]:
    """(column, expectation) for a pandera check name."""
    if check == "province":
        hint = ""
        if row is not None:
            try:
                provinces.resolve(row["province"])
            except UserInputError as e:
                hint = " " + str(e).split(".", 1)[1].split(" Use ")[0].strip() if "Did you mean" in str(e) else ""
        return "province", ("one of the 31 provinces (English name, Chinese name or 2-digit code; see "
                            f"data/provinces.csv).{hint}").rstrip(".")
    if check == "year":
        return "year", f"a year between {YEAR_MIN} and {YEAR_MAX}"
    if check == "indicator":
        return "indicator", "an indicator id from data/indicators.csv (" + ", ".join(indicators.ids(True)) + ", ...)"
    if check == "status":
        return "status", "'observed' or 'simulated'"
    if check == "source":
        return "source", "a non-empty source (file name or document)"
    if check == "unit" and row is not None:
        return "unit", f"{indicators.unit(row['indicator'])!r}, the unit of {row['indicator']} in data/indicators.csv"
    if check == "range" and row is not None:
        t = indicators.table().loc[row["indicator"]]
        lo = "" if pd.isna(t["min"]) else f"{t['min']:g}"
        hi = "" if pd.isna(t["max"]) else f"{t['max']:g}"
        span = f"between {lo} and {hi}" if hi else f"at least {lo}"
        return "value", f"a value {span} for {row['indicator']} ({t['kind']}, unit {t['unit']})"
    return "?", check


def _coerce(df: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """Coerce year and value to numbers, recording text and empty cells as problems."""
    problems: list[Problem] = []
    out = df.copy()
    for col, kind in (("year", "a whole-number year such as 2022"), ("value", "a number (no text, no units)")):
        raw = out[col]
        num = pd.to_numeric(raw.map(lambda x: x.replace(",", "").strip() if isinstance(x, str) else x),
                            errors="coerce")
        for i in np.flatnonzero(num.isna().to_numpy()):
            problems.append(Problem(i, col, raw.iloc[i], kind))
        if col == "year":
            frac = num.notna() & (num != np.floor(num.fillna(0)))
            for i in np.flatnonzero(frac.to_numpy()):
                problems.append(Problem(i, col, raw.iloc[i], kind))
        out[col] = num
    for col in ("province", "indicator", "unit", "status", "source"):
        for i in np.flatnonzero(out[col].map(_blank).to_numpy()):
            problems.append(Problem(i, col, out[col].iloc[i], "a non-empty cell"))
    return out, problems


def _message(source_name: str, problems: list[Problem]) -> str:
    problems = sorted(set(problems), key=lambda p: (p.index, PANEL_COLUMNS.index(p.column)
                                                    if p.column in PANEL_COLUMNS else 99))
    shown = "; ".join(p.text() for p in problems[:MAX_LISTED])
    more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
    n = len(problems)
    return (f"{source_name}: {n} problem{'s' if n > 1 else ''} in the panel data (rows are data rows "
            f"counted from 1 after the header, so row N is line N+1 of the file): {shown}{more}.")


def validate_panel(df: pd.DataFrame, source_name: str) -> pd.DataFrame:
    """Validate a panel and return it cleaned (provinces resolved, year int, value float).

    Raises :class:`UserInputError` with one paragraph listing the first few problems and their count.
    """
    if df is None or len(df) == 0:
        raise UserInputError(f"{source_name}: the file has no data rows; expected a header "
                             f"({', '.join(PANEL_COLUMNS)}) and at least one row.")
    missing = [c for c in PANEL_COLUMNS if c not in df.columns]
    if missing:
        raise UserInputError(f"{source_name}: missing column(s) {', '.join(missing)}; a panel file needs the "
                             f"columns {', '.join(PANEL_COLUMNS)} (found: {', '.join(map(str, df.columns))}).")
    df = normalise(df[PANEL_COLUMNS].reset_index(drop=True))
    coerced, problems = _coerce(df)
    bad_rows = {p.index for p in problems}
    good = coerced.drop(index=list(bad_rows))
    good = good.astype({"year": "int64", "value": "float64"})
    good = good.astype({c: str for c in ("province", "indicator", "unit", "status", "source")})
    try:
        panel_schema().validate(good, lazy=True)
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
        for rec in fc.itertuples(index=False):
            if rec.index is None or pd.isna(rec.index):
                continue
            i = int(rec.index)
            row = good.loc[i]
            check = str(rec.column) if rec.schema_context == "Column" else str(rec.check)
            col, expected = _expectation(check, row)
            if col == "?":
                col = str(rec.column)
            problems.append(Problem(i, col, df.loc[i, col] if col in df.columns else rec.failure_case, expected))
    dup = coerced.loc[~coerced.index.isin(bad_rows)].duplicated(KEY, keep=False)
    if dup.any():
        first_seen: dict[tuple, int] = {}
        for i in np.flatnonzero(dup.to_numpy()):
            idx = coerced.index[~coerced.index.isin(bad_rows)][i]
            key = tuple(coerced.loc[idx, KEY])
            if key in first_seen:
                problems.append(Problem(idx, "year", df.loc[idx, "year"],
                                        f"one row per (province, year, indicator); {key[0]} {int(key[1])} "
                                        f"{key[2]} already appears in row {first_seen[key] + 1}"))
            else:
                first_seen[key] = idx
    if problems:
        raise UserInputError(_message(source_name, problems))
    return good[PANEL_COLUMNS].reset_index(drop=True)


def decode_bytes(data: bytes, source_name: str) -> str:
    """Text of a file: UTF-8 (with or without BOM) or GB18030/GBK; a clear error otherwise."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for enc in ("utf-8", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise UserInputError(f"{source_name}: the file is neither UTF-8 nor GBK/GB18030 text, so it cannot be "
                         "read. Save it as CSV in UTF-8 (or GBK) and try again.")


def read_panel_csv(path: str | Path) -> pd.DataFrame:
    """Read and validate a tidy panel CSV (UTF-8 with or without BOM, or GBK/GB18030)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserInputError(f"The panel file {path} does not exist.") from None
    name = path.name
    text = decode_bytes(data, name)
    if not text.strip():
        raise UserInputError(f"{name}: the file is empty; expected a header ({', '.join(PANEL_COLUMNS)}) and "
                             "data rows.")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
    except pd.errors.ParserError as e:
        raise UserInputError(f"{name}: not a well-formed CSV file ({e}).") from None
    df.columns = [str(c).strip() for c in df.columns]
    df = df.replace({"": np.nan})
    return validate_panel(df, name)
