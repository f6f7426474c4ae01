"""The facts register: every figure the seeds and ``public_figures.md`` print, with a verbatim quote.

``data/facts.csv`` holds one row per quantitative statement (a reported value, a target, or a value
derived by simple arithmetic from printed ones). This module reads it with proper dtypes and checks it:

* :func:`load_facts` validates columns and vocabularies (indicator ids from ``data/indicators.csv``,
  province keys via :func:`primarycare.provinces.resolve`, kinds, qualifiers) and raises
  :class:`~primarycare.errors.UserInputError` naming the row and the column on any problem.
* :func:`check_quotes` re-reads the source files and returns the rows whose quote is not verbatim in
  the source, whose value is not printed in the quote, or whose derived arithmetic does not hold.
* :func:`conflicts` finds, automatically, same-place same-year same-indicator rows that disagree, so a
  test can require each of them to carry a ``conflict_group``.

Derived rows write their arithmetic in ``note`` as ``derived: <expression>`` (for example
``derived: 54.73 - 4.01; what it means``: the expression ends at a semicolon or the end of the
note); the expression may use + - * / and parentheses, every number in it except
the constant 100 must be printed in the row's quote, and its result must round to ``value``.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
from pathlib import Path

import pandas as pd

from ..errors import UserInputError
from ..paths import DATA, REFERENCE, SEEDS
from . import indicators, provinces

COLUMNS = [
    "fact_id", "geography_level", "geography", "province", "year", "indicator", "value", "qualifier",
    "unit", "kind", "source", "quote", "page", "conflict_group", "note",
]
LEVELS = ("national", "province", "city", "county", "region")
KINDS = ("reported", "target", "derived")
QUALIFIERS = ("", "about", "more_than", "less_than", "at_least")
REFERENCE_FILE = "public_figures.md"
ESSAY_SOURCE = "001_118cb11ac7acb443.txt"
ESSAY_NOTE = "essay figure, source not verifiable"
SEED_NAME = re.compile(r"^\d{3}_[0-9a-f]{16}\.txt$")
QUOTE_LENGTH = (5, 60)
_DERIVED = re.compile(r"derived:\s*([^;]*?)\s*(?:;|$)")
_EXPR_CHARS = re.compile(r"^[0-9.+\-*/() ]+$")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _where(path: Path, i: int, fact_id: str, column: str) -> str:
    return f"{path.name}, row {i + 2} (fact_id {fact_id or '?'}), column {column!r}:"


def load_facts(path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate the facts register; ``year`` is nullable Int64, ``value`` float, the rest text.

    Raises :class:`UserInputError` naming the file, the row (line number and fact_id) and the column.
    """
    path = Path(path) if path is not None else DATA / "facts.csv"
    if not path.exists():
        raise UserInputError(f"The facts register {path} does not exist; expected a CSV with columns "
                             + ", ".join(COLUMNS) + ".")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    if list(raw.columns) != COLUMNS:
        missing = [c for c in COLUMNS if c not in raw.columns]
        extra = [c for c in raw.columns if c not in COLUMNS]
        raise UserInputError(
            f"{path.name} has the wrong columns (missing: {missing or 'none'}; unexpected: {extra or 'none'}). "
            "Expected exactly, in this order: " + ", ".join(COLUMNS) + "."
        )
    raw = raw.apply(lambda col: col.str.strip())
    known = set(indicators.ids())
    seen: set[str] = set()
    years: list[int | None] = []
    values: list[float] = []
    for i, row in enumerate(raw.itertuples(index=False)):
        fid = row.fact_id
        at = functools.partial(_where, path, i, fid)
        if not fid or fid in seen:
            raise UserInputError(f"{at('fact_id')} empty or duplicated; every row needs a unique id such as F0001.")
        seen.add(fid)
        _check_geography(row, at)
        years.append(_parse_year(row.year, at))
        if row.indicator not in known:
            raise UserInputError(f"{at('indicator')} unknown indicator {row.indicator!r}; use an id from "
                                 "data/indicators.csv (append a row there for a new indicator).")
        values.append(_parse_value(row.value, at))
        if row.qualifier not in QUALIFIERS:
            raise UserInputError(f"{at('qualifier')} {row.qualifier!r} is not one of "
                                 "empty, about, more_than, less_than, at_least.")
        if not row.unit:
            raise UserInputError(f"{at('unit')} empty; write the unit as printed (%, 万人, 亿元, ...).")
        if row.kind not in KINDS:
            raise UserInputError(f"{at('kind')} {row.kind!r} is not one of reported, target, derived.")
        if row.source != REFERENCE_FILE and not SEED_NAME.match(row.source):
            raise UserInputError(f"{at('source')} {row.source!r} is neither {REFERENCE_FILE} nor a seed file "
                                 "name such as 000_ab11b8548eff36b6.txt.")
        if not QUOTE_LENGTH[0] <= len(row.quote) <= QUOTE_LENGTH[1]:
            raise UserInputError(f"{at('quote')} {len(row.quote)} characters; a quote must be a verbatim "
                                 f"excerpt of {QUOTE_LENGTH[0]}-{QUOTE_LENGTH[1]} characters.")
        if row.source == REFERENCE_FILE and not row.page:
            raise UserInputError(f"{at('page')} empty; rows from {REFERENCE_FILE} give the page named there.")
        if row.kind == "derived" and derived_expression(row.note) is None:
            raise UserInputError(f"{at('note')} a derived row must give its arithmetic as "
                                 "'derived: <expression>; <explanation>', for example 'derived: 54.73 - 4.01; 2022 share minus the change'.")
    facts = raw.copy()
    facts["year"] = pd.array(years, dtype="Int64")
    facts["value"] = pd.Series(values, dtype="float64")
    return facts


def _check_geography(row, at) -> None:
    level, geo, prov = row.geography_level, row.geography, row.province
    if level not in LEVELS:
        raise UserInputError(f"{at('geography_level')} {level!r} is not one of " + ", ".join(LEVELS) + ".")
    if level == "national":
        if geo != "China" or prov:
            raise UserInputError(f"{at('geography')} national rows have geography 'China' and an empty province.")
        return
    if prov:
        try:
            key = provinces.resolve(prov)
        except UserInputError as err:
            raise UserInputError(f"{at('province')} {err}") from None
        if key != prov:
            raise UserInputError(f"{at('province')} write the canonical key {key!r}, not {prov!r}.")
    elif level != "region":
        raise UserInputError(f"{at('province')} empty; {level} rows need the province key (e.g. Zhejiang).")
    if level == "province" and geo != prov:
        raise UserInputError(f"{at('geography')} province rows repeat the province key ({prov!r}), got {geo!r}.")
    if not geo:
        raise UserInputError(f"{at('geography')} empty; name the place (pinyin plus Chinese, e.g. 'Kaifeng 开封').")


def _parse_year(text: str, at) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not 1949 <= int(text) <= 2100:
        raise UserInputError(f"{at('year')} {text!r} is not a year between 1949 and 2100 (or empty if unknown).")
    return int(text)


def _parse_value(text: str, at) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserInputError(f"{at('value')} {text!r} is not a number; write it in Arabic digits as printed "
                             "(54.73, 4500), without units or commas.") from None
    if not math.isfinite(value):
        raise UserInputError(f"{at('value')} {text!r} is not a finite number.")
    return value


def numbers_in(text: str) -> list[float]:
    """All Arabic-digit numbers in ``text`` (thousands commas removed), as floats."""
    return [float(m) for m in _NUMBER.findall(_THOUSANDS.sub("", text))]


def derived_expression(note: str) -> str | None:
    """The arithmetic after ``derived:`` in a note, or None when there is none."""
    m = _DERIVED.search(note or "")
    if not m:
        return None
    expr = m.group(1).strip()
    return expr if _EXPR_CHARS.match(expr) and _NUMBER.search(expr) else None


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate(expr: str) -> float:
    """Evaluate a +, -, *, / expression of numbers safely (no names, no calls)."""

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise ValueError(f"unsupported element in {expr!r}")

    return ev(ast.parse(expr, mode="eval"))


def _decimals(value: float) -> int:
    text = repr(float(value))
    if "e" in text or text.endswith(".0"):
        return 0
    return len(text.split(".")[1])


def _contains(numbers: list[float], value: float) -> bool:
    return any(math.isclose(n, value, rel_tol=1e-12, abs_tol=1e-12) for n in numbers)


def check_quotes(facts: pd.DataFrame, seeds_dir: str | Path | None = None,
                 reference_dir: str | Path | None = None) -> pd.DataFrame:
    """Rows failing the quote checks, with a ``problem`` column (empty frame when all pass).

    A row fails when its source file is missing, its quote is not verbatim in the source, its value is
    not among the numbers printed in the quote (reported and target rows), or, for derived rows, an
    operand is not printed in the quote or the arithmetic does not round to the value.
    """
    seeds_dir = Path(seeds_dir) if seeds_dir is not None else SEEDS
    reference_dir = Path(reference_dir) if reference_dir is not None else REFERENCE
    texts: dict[str, str | None] = {}
    problems: list[str] = []
    for row in facts.itertuples(index=False):
        if row.source not in texts:
            path = (reference_dir if row.source == REFERENCE_FILE else seeds_dir) / row.source
            texts[row.source] = path.read_text(encoding="utf-8") if path.exists() else None
        text = texts[row.source]
        problems.append(_problem(row, text))
    out = facts.assign(problem=problems)
    return out[out["problem"] != ""].reset_index(drop=True)


def _problem(row, text: str | None) -> str:
    if text is None:
        return f"source file {row.source} not found"
    if row.quote not in text:
        return "quote not found verbatim in the source"
    printed = numbers_in(row.quote)
    if row.kind != "derived":
        return "" if _contains(printed, row.value) else f"value {row.value:g} not printed in the quote"
    expr = derived_expression(row.note)
    if expr is None:
        return "derived row without 'derived: <expression>' in note"
    try:
        result = evaluate(expr)
    except (ValueError, SyntaxError, ZeroDivisionError) as err:
        return f"cannot evaluate {expr!r}: {err}"
    missing = [n for n in numbers_in(expr) if n != 100 and not _contains(printed, n)]
    if missing:
        return f"operands {missing} of {expr!r} not printed in the quote"
    tolerance = 0.5 * 10 ** -_decimals(row.value) + 1e-9
    if abs(result - row.value) > tolerance:
        return f"{expr} = {result:.6g}, which does not round to {row.value:g}"
    return ""


def conflicts(facts: pd.DataFrame) -> pd.DataFrame:
    """Rows that disagree with another row on the same geography, year, indicator and unit.

    Reported and derived rows are compared with each other; targets only with targets (a target that
    differs from an outcome is not a disagreement). Rows without a year are not compared. The result
    has a ``conflict_key`` column naming the disagreement.
    """
    df = facts[facts["year"].notna()].copy()
    df["_class"] = df["kind"].where(df["kind"] == "target", "observed")
    keys = ["geography_level", "geography", "year", "indicator", "unit", "_class"]
    parts = []
    for key, group in df.groupby(keys, sort=True, dropna=False):
        if group["value"].round(9).nunique() > 1:
            parts.append(group.assign(conflict_key=" / ".join(str(k) for k in key)))
    if not parts:
        return facts.iloc[0:0].assign(conflict_key=pd.Series(dtype=str))
    return pd.concat(parts).drop(columns="_class").reset_index(drop=True)


def for_province(facts: pd.DataFrame, province: str) -> pd.DataFrame:
    """All rows about one province (province, city, county and intra-province region rows); any spelling."""
    key = provinces.resolve(province)
    return facts[facts["province"] == key].reset_index(drop=True)


def essay_rows(facts: pd.DataFrame) -> pd.DataFrame:
    """Rows from the unattributed essay (seed 001), whose figures cannot be checked against a source."""
    return facts[facts["source"] == ESSAY_SOURCE].reset_index(drop=True)
