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

    def text(self, location: str | None = None) -> str:
        """``row N, column 'c': ...``, or ``<location>, panel column 'c': ...`` when the row's place in the
        user's file is known (a line and a column of the file before it was reshaped)."""
        v = self.value.item() if isinstance(self.value, np.generic) else self.value
        val = "an empty cell" if _blank(v) else repr(v)
        where = f"{location}, panel column {self.column!r}" if location else \
            f"row {self.index + 1}, column {self.column!r}"
        return f"{where}: found {val}; expected {self.expected}"


def _blank(x: object) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x)) or (isinstance(x, str) and not x.strip()) \
        or x is pd.NA


def _blank_mask(col: pd.Series) -> np.ndarray:
    """Vectorised :func:`_blank` over a column."""
    text = col.astype("string")
    return (col.isna() | (text.str.strip() == "").fillna(True)).to_numpy(dtype=bool)


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Resolve province spellings (安徽, 安徽省, 34, anhui) to the English key; others are left for
    :func:`validate_panel` to report. Strips whitespace in text columns. Works on unique values, so a
    panel of millions of rows is normalised in about a second."""
    out = df.copy()

    def _res(x: object) -> object:
        if _blank(x):
            return x
        try:
            return provinces.resolve(x)
        except UserInputError:
            return x

    for col in ("province", "indicator", "unit", "status", "source"):
        if col in out.columns:
            codes, uniques = pd.factorize(out[col], use_na_sentinel=True)
            fixed = [(u.strip() if isinstance(u, str) else u) for u in uniques]
            if col == "province":
                fixed = [_res(u) for u in fixed]
            values = np.empty(len(fixed) + 1, dtype=object)
            values[:-1] = fixed
            values[-1] = np.nan  # code -1: a missing cell stays missing
            out[col] = pd.Series(values[codes], index=out.index, dtype=object)  # no per-row string re-boxing
    return out


def _by_indicator(df: pd.DataFrame, column: str) -> np.ndarray:
    """``indicators.csv``'s ``column`` for each row's indicator (NaN when unknown), via factorize."""
    t = indicators.table()
    codes, uniques = pd.factorize(df["indicator"])
    looked = t[column].reindex(pd.Index(uniques, dtype=object)).to_numpy(dtype=object)
    return np.append(looked, np.nan)[codes]


def _range_ok(df: pd.DataFrame) -> pd.Series:
    lo = _by_indicator(df, "min").astype(float)
    hi = _by_indicator(df, "max").astype(float)
    v = df["value"].to_numpy(dtype=float)
    known = ~pd.isna(_by_indicator(df, "unit"))
    ok = (np.isnan(lo) | (v >= lo)) & (np.isnan(hi) | (v <= hi)) | ~known
    return pd.Series(ok, index=df.index)


def _unit_ok(df: pd.DataFrame) -> pd.Series:
    expected = _by_indicator(df, "unit")
    ok = pd.isna(expected) | (df["unit"].to_numpy(dtype=object) == expected)
    return pd.Series(ok, index=df.index)


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


def _to_number(raw: pd.Series) -> pd.Series:
    """Numbers from a column of text or numbers (thousands commas and spaces removed); text becomes NaN."""
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype("float64")
    text = raw.astype("string").str.replace(",", "", regex=False).str.strip()
    try:  # fast path: every cell is a number, NaN or empty
        return pd.Series(text.to_numpy(dtype=object, na_value=np.nan).astype(np.float64), index=raw.index)
    except (ValueError, TypeError):
        return pd.to_numeric(text, errors="coerce").astype("float64")


def _coerce(df: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem], np.ndarray]:
    """Coerce year and value to numbers, recording text, empty and non-finite cells as problems.

    Returns the coerced frame, the problems (the first ``_CAP`` of each check in full, the rest counted)
    and a mask of every bad row."""
    problems: list[Problem] = []
    out = df.copy()
    any_bad = np.zeros(len(df), dtype=bool)
    for col, kind in (("year", "a whole-number year such as 2022"), ("value", "a number (no text, no units)")):
        raw = out[col]
        num = _to_number(raw)
        arr = num.to_numpy()
        bad = np.isnan(arr)
        if col == "year":
            bad |= ~bad & (arr != np.floor(np.where(np.isfinite(arr), arr, 0)))
        for i in np.flatnonzero(bad)[:_CAP]:
            problems.append(Problem(i, col, raw.iloc[i], kind))
        problems += _hidden(col, int(bad.sum()) - _CAP)
        any_bad |= bad
        inf = np.isinf(arr)
        any_bad |= inf
        for i in np.flatnonzero(inf)[:_CAP]:
            problems.append(Problem(i, col, raw.iloc[i], "a finite number (inf, nan and numbers beyond "
                                    "1.8e308 such as 1e400 are refused); leave a missing value out instead"))
        problems += _hidden(col, int(inf.sum()) - _CAP)
        out[col] = num.where(~inf, np.nan)
    for col in ("province", "indicator", "unit", "status", "source"):
        blank = _blank_mask(out[col])
        any_bad |= blank
        for i in np.flatnonzero(blank)[:_CAP]:
            problems.append(Problem(i, col, out[col].iloc[i], "a non-empty cell"))
        problems += _hidden(col, int(blank.sum()) - _CAP)
    return out, problems, any_bad


def _hidden(column: str, count: int) -> list[Problem]:
    """Problems beyond the ones listed: one placeholder (index -1) carrying their number in ``value``."""
    return [Problem(-1, column, int(count), "")] if count > 0 else []


_CAP = 50  # problems kept in full per check; the rest are only counted (the message lists MAX_LISTED)


def _message(source_name: str, problems: list[Problem], locations: list[str] | None = None) -> str:
    listed = sorted({p for p in problems if p.index >= 0},
                    key=lambda p: (p.index, PANEL_COLUMNS.index(p.column) if p.column in PANEL_COLUMNS else 99))
    n = len(listed) + sum(p.value for p in problems if p.index < 0)
    if locations is None:
        shown = "; ".join(p.text() for p in listed[:MAX_LISTED])
        convention = "rows are data rows counted from 1 after the header, so row N is line N+1 of the file"
    else:
        shown = "; ".join(p.text(locations[p.index]) for p in listed[:MAX_LISTED])
        convention = "each problem names the line and column of the file where the value was read"
    more = f" (and {n - MAX_LISTED} more)" if n > MAX_LISTED else ""
    return (f"{source_name}: {n} problem{'s' if n > 1 else ''} in the panel data ({convention}): {shown}{more}.")


def validate_panel(df: pd.DataFrame, source_name: str, locations: list[str] | None = None) -> pd.DataFrame:
    """Validate a panel and return it cleaned (provinces resolved, year int, value float).

    Raises :class:`UserInputError` with one paragraph listing the first few problems and their count.
    ``locations`` (one text per row, such as ``line 7, column 2021年``) names where each row was read in
    the user's file when the panel was reshaped from a wide table, so errors point at the user's file and
    not at a row of the reshaped frame. Every check is vectorised (the duplicate check too), so millions
    of rows validate in seconds.
    """
    if df is None or len(df) == 0:
        raise UserInputError(f"{source_name}: the file has no data rows; expected a header "
                             f"({', '.join(PANEL_COLUMNS)}) and at least one row.")
    missing = [c for c in PANEL_COLUMNS if c not in df.columns]
    if missing:
        raise UserInputError(f"{source_name}: missing column(s) {', '.join(missing)}; a panel file needs the "
                             f"columns {', '.join(PANEL_COLUMNS)} (found: {', '.join(map(str, df.columns))}).")
    df = normalise(df[PANEL_COLUMNS].reset_index(drop=True))
    coerced, problems, bad = _coerce(df)
    good = coerced[~bad]
    good = good.astype({"year": "int64", "value": "float64"})
    good = good.astype({c: str for c in ("province", "indicator", "unit", "status", "source")})
    try:
        panel_schema().validate(good, lazy=True)
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
        fc = fc[fc["index"].notna()]
        n_cases = len(fc)
        for rec in fc.head(_CAP * 4).itertuples(index=False):
            i = int(rec.index)
            row = good.loc[i]
            check = str(rec.column) if rec.schema_context == "Column" else str(rec.check)
            col, expected = _expectation(check, row)
            if col == "?":
                col = str(rec.column)
            problems.append(Problem(i, col, df.loc[i, col] if col in df.columns else rec.failure_case, expected))
        problems += _hidden("", n_cases - _CAP * 4)
    problems += _duplicates(df, good, locations)
    if problems:
        raise UserInputError(_message(source_name, problems, locations))
    return good[PANEL_COLUMNS].reset_index(drop=True)


def _duplicates(raw: pd.DataFrame, good: pd.DataFrame, locations: list[str] | None = None) -> list[Problem]:
    """One problem per repeated (province, year, indicator), naming the row of its first appearance.

    Vectorised: a stable sort by key and the first index of each key group (no Python loop over rows)."""
    later = good.duplicated(KEY, keep="first").to_numpy()
    if not later.any():
        return []
    idx = good.index.to_numpy()
    codes = good.groupby(KEY, sort=False, dropna=False).ngroup().to_numpy()
    first_of_group = np.full(codes.max() + 1, -1, dtype=np.int64)
    order = np.arange(len(codes))[::-1]  # fill in reverse so the first occurrence wins
    first_of_group[codes[order]] = idx[order]
    rows = np.flatnonzero(later)
    out = []
    for r in rows[:_CAP]:
        i = int(idx[r])
        j = int(first_of_group[codes[r]])
        key = (good.iat[r, 0], int(good.iat[r, 1]), good.iat[r, 2])
        seen = f"row {j + 1}" if locations is None else locations[j]
        out.append(Problem(i, "year", raw.loc[i, "year"],
                           f"one row per (province, year, indicator); {key[0]} {key[1]} {key[2]} already "
                           f"appears in {seen}"))
    out += _hidden("year", len(rows) - _CAP)
    return out


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


def display_name(path: str | Path) -> str:
    """A file name that can always be printed and written to UTF-8: bytes of an odd (non-UTF-8) file name
    are shown as U+FFFD instead of raising UnicodeEncodeError in a message or a ``source`` cell."""
    name = Path(path).name or str(path)
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def read_bytes(path: str | Path, what: str = "file") -> bytes:
    """The bytes of a user's file; every file-system problem becomes one :class:`UserInputError` paragraph."""
    path = Path(path)
    shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if path.is_dir():
        raise UserInputError(f"{shown} is a folder, not a file. Give the {what} itself (for example "
                             f"{shown}/table.csv), or list several files one after the other.")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserInputError(f"The {what} {shown} does not exist. Check the path (it is relative to the folder "
                             "you run the command from).") from None
    except PermissionError:
        raise UserInputError(f"The {what} {shown} cannot be read: permission denied. Make it readable "
                             "(chmod u+r) or copy it somewhere you own.") from None
    except OSError as e:
        raise UserInputError(f"The {what} {shown} cannot be read ({e.strerror or e}).") from None


def record_lines(text: str) -> list[int]:
    """The 1-based file line where each non-blank CSV record starts (header included), as pandas reads
    them with ``skip_blank_lines``: so an error can name the line a user sees in an editor."""
    import csv

    reader = csv.reader(io.StringIO(text))
    lines = []
    end = 0
    for row in reader:
        start = end + 1
        end = reader.line_num
        if any(c.strip() for c in row):
            lines.append(start)
    return lines


def read_panel_csv(path: str | Path) -> pd.DataFrame:
    """Read and validate a tidy panel CSV (UTF-8 with or without BOM, or GBK/GB18030).

    Errors name the data row and, when blank or multi-line records shift it, the line of the file."""
    path = Path(path)
    data = read_bytes(path, "panel file")
    name = display_name(path)
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
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    lines = record_lines(text)[1:] if n_lines != len(df) + 1 else []  # only when blank lines or multi-line
    shifted = len(lines) == len(df) and any(ln != i + 2 for i, ln in enumerate(lines))  # records shift rows
    locations = [f"row {i + 1} (line {ln})" for i, ln in enumerate(lines)] if shifted else None
    return validate_panel(df, name, locations)
