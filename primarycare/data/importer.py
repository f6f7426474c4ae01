"""Import real data: yearbook tables, NBS provincial exports and tidy panel CSVs into ``data/panel/observed.csv``.

Three input layouts, detected from the file's content (never from its extension):

* a **China Health Statistics Yearbook** table (中国卫生健康统计年鉴), one file a year: a title line with
  the table number and year (``2-2-1 各地区医疗卫生机构诊疗人次（2019年）``), a unit line (``单位：万人次``),
  a ``地区`` column with padded names (``北　京``), a ``全国`` row, one column per institution type
  (``医疗卫生机构合计 / 医院 / 基层医疗卫生机构 / #社区卫生服务中心（站） / #乡镇卫生院 / #村卫生室 / 其他机构``)
  and a note line. The table (what is counted: visits, 卫生人员, 卫生技术人员, 执业(助理)医师, 全科医生) comes
  from the title or the column names, or ``--table``; the year from the title or the file name, or
  ``--year``. Each (table, institution type) maps to an indicator through ``data/yearbook_columns.csv``.
* a **National Bureau of Statistics** provincial annual export (分省年度数据): header lines
  ``数据库：分省年度数据`` / ``指标：…`` / ``时间：…``, a ``地区`` column, one column per year (``2022年``), notes
  at the bottom. The 指标 text maps to an indicator through ``data/nbs_indicators.csv`` (or ``--indicator``).
* a **tidy CSV** already in the panel format (``province, year, indicator, value, unit, status, source``).

Each may be CSV (UTF-8, UTF-8 with BOM, GBK/GB18030), XLSX, XLS, or the HTML page that the NBS site and
many yearbook CDs save with an ``.xls`` name (read with an explicit HTML table parser, so each row keeps
its place in the file). Units written with 万 or 亿 are converted to the vocabulary's unit
(``data/indicators.csv``) and the report says so.

Imported rows get ``status = observed`` and a ``source`` naming the file (and the table title or 指标 text).
Merging keeps what is already in ``observed.csv``; new values replace old ones for the same province, year
and indicator, and the report lists what changed. Every error names the file and the line (CSV) or row
(spreadsheet) where the user can find the bad cell; file-system problems (a folder given as a file, an
unreadable file, a read-only or full target) are one-paragraph :class:`~primarycare.errors.UserInputError`s.
"""

from __future__ import annotations

import csv
import difflib
import errno
import io
import math
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserInputError
from ..paths import DATA, PANEL_DIR
from . import indicators, provinces
from .schema import (
    KEY,
    PANEL_COLUMNS,
    decode_bytes,
    display_name,
    read_bytes,
    read_panel_csv,
    validate_panel,
)

OBSERVED_FILE = PANEL_DIR / "observed.csv"
MAPPING_FILE = DATA / "nbs_indicators.csv"
YEARBOOK_FILE = DATA / "yearbook_columns.csv"
MULTIPLIERS = {"亿": 1e8, "万": 1e4, "千": 1e3}
_YEAR = re.compile(r"^\s*(\d{4})\s*年?\s*$")
_UNIT = re.compile(r"[（(]([^()（）]*)[)）]\s*$")
_NOTE = ("注", "数据来源", "资料来源", "说明", "#", "＃")
_EMPTY = ("", "-", "－", "--", "…", "...", "……", "—", "——")
_NATIONAL = ("全国", "合计", "总计", "全国合计", "全国总计")
_REGIONS = ("东部", "中部", "西部", "东北", "东部地区", "中部地区", "西部地区", "东北地区")
_NOT_PROVINCES = ("新疆生产建设兵团", "兵团", "香港", "澳门", "台湾")  # rows some tables carry; not in provinces.csv
_SPACES = re.compile(r"[\s\u3000\u00a0]+")
_TITLE_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年")
_NAME_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_TABLE_NO = re.compile(r"^\s*(?:表\s*)?(\d+(?:\s*[-－—–]\s*\d+)+)")

# What a yearbook table counts, from a title or column text: (keyword, measure); most specific first.
MEASURES = [("卫生技术人员", "health_technicians"), ("执业(助理)医师", "physicians"), ("执业医师", "physicians"),
            ("全科医生", "gps"), ("诊疗人次", "visits"), ("门诊", "visits"), ("卫生人员", "staff"),
            ("人员数", "staff"), ("常住人口", "population")]
# Institution types, from a column (or title) text: (keyword, institution); most specific first.
INSTITUTIONS = [("社区卫生服务中心（站）", "community_centre_station"), ("社区卫生服务中心", "community_centre"),
                ("社区卫生服务站", "community_station"), ("乡镇卫生院", "township_health_centre"),
                ("村卫生室", "village_clinic"), ("基层医疗卫生机构", "primary_care"), ("医院", "hospital"),
                ("其他医疗卫生机构", "other_institution"), ("其他机构", "other_institution"),
                ("其他", "other_institution"), ("医疗卫生机构合计", "total"), ("合计", "total"), ("总计", "total"),
                ("医疗卫生机构", "total")]
TABLES = ("visits", "staff", "health_technicians", "physicians", "gps", "population")


@dataclass
class ParseResult:
    """Rows parsed from one file and the notes (skipped cells, conversions) to tell the user."""

    panel: pd.DataFrame
    notes: list[str] = field(default_factory=list)


@dataclass
class Grid:
    """A file's cells as rows of text, with where each row is in the file the user has."""

    name: str
    rows: list[list[str]]
    lines: list[int]  # 1-based line (CSV) or row (spreadsheet, HTML table) of each row
    kind: str  # csv | excel | html

    def at(self, i: int) -> str:
        """``line 7`` in a CSV, ``row 7`` in a spreadsheet or an HTML table."""
        return f"{'line' if self.kind == 'csv' else 'row'} {self.lines[i]}"


class _TableParser(HTMLParser):
    """Rows of every ``<table>`` in an HTML document as lists of cell texts (``colspan`` repeated as empty
    cells), in document order. The NBS "Excel" download is such a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._span = 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._close_row()
            self._row = []
        elif tag in ("td", "th"):
            self._close_cell()
            if self._row is None:
                self._row = []
            self._cell = []
            span = dict(attrs).get("colspan") or "1"
            self._span = int(span) if span.strip().isdigit() else 1
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._close_cell()
        elif tag in ("tr", "table"):
            self._close_row()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def _close_cell(self) -> None:
        if self._cell is not None and self._row is not None:
            self._row.append(_SPACES.sub(" ", "".join(self._cell)).strip())
            self._row.extend([""] * (self._span - 1))
        self._cell = None
        self._span = 1

    def _close_row(self) -> None:
        self._close_cell()
        if self._row is not None:
            self.rows.append(self._row)
        self._row = None

    def close(self) -> None:
        super().close()
        self._close_row()


def _looks_like_html(data: bytes) -> bool:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<", b"\xff\xfe<", b"\xfe\xff")) and (b"<table" in data[:200_000].lower()
                                                                   or b"<html" in head[:500])


def read_grid(path: str | Path) -> Grid:
    """All rows of a user's file as text cells, detected by content: an XLSX (zip) or XLS (OLE2) workbook's
    first sheet, an HTML page (an NBS ``.xls`` download is one), or CSV text in UTF-8 / UTF-8 BOM / GBK."""
    path = Path(path)
    name = display_name(path)
    data = read_bytes(path)
    if not data.strip():
        return Grid(name, [], [], "csv")
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        engine = "openpyxl" if data.startswith(b"PK") else "xlrd"
        try:
            grid = pd.read_excel(io.BytesIO(data), header=None, dtype=object, engine=engine)
        except Exception as e:  # noqa: BLE001 - any reader failure is a bad user file
            raise UserInputError(f"{name}: could not be read as an Excel workbook ({type(e).__name__}: {e}). "
                                 "Open it in Excel and save it again as .xlsx or as CSV.") from None
        rows = [[_cell_text(c) for c in row] for row in grid.itertuples(index=False)]
        return Grid(name, rows, list(range(1, len(rows) + 1)), "excel")
    if _looks_like_html(data):
        text = decode_bytes(data, name) if not data.startswith((b"\xff\xfe", b"\xfe\xff")) else data.decode("utf-16")
        parser = _TableParser()
        parser.feed(text)
        parser.close()
        if not parser.rows:
            raise UserInputError(f"{name}: an HTML page without a table (<table>). A National Bureau of "
                                 "Statistics .xls download is an HTML table; this one has none.")
        return Grid(name, parser.rows, list(range(1, len(parser.rows) + 1)), "html")
    text = decode_bytes(data, name)
    reader = csv.reader(io.StringIO(text))
    rows, lines, end = [], [], 0
    for row in reader:
        rows.append([c.strip() for c in row])
        lines.append(end + 1)
        end = reader.line_num
    return Grid(name, rows, lines, "csv")


def _cell_text(c: object) -> str:
    if c is None or (isinstance(c, float) and math.isnan(c)):
        return ""
    if isinstance(c, float) and c.is_integer() and abs(c) < 1e15:
        return str(int(c))
    return str(c).strip()


def _rows_from_file(path: Path) -> list[list[str]]:
    """All rows of a file as lists of strings (kept for callers of the old helper)."""
    return read_grid(path).rows


def _mapping() -> pd.DataFrame:
    return pd.read_csv(MAPPING_FILE, encoding="utf-8")


def _strip_unit(name: str) -> tuple[str, str | None]:
    m = _UNIT.search(name)
    if not m:
        return name.strip(), None
    return name[: m.start()].strip(), m.group(1).strip()


def map_indicator(nbs_text: str, source_name: str) -> str:
    """Indicator id for an NBS 指标 text, via ``data/nbs_indicators.csv`` (exact, then contained name)."""
    name, _ = _strip_unit(nbs_text)
    m = _mapping()
    exact = m[m["nbs_name"] == name]
    if len(exact):
        return str(exact["indicator"].iloc[0])
    contained = m[[n in name for n in m["nbs_name"]]]
    if len(contained):  # the longest contained name is the most specific
        best = contained.loc[contained["nbs_name"].str.len().idxmax()]
        return str(best["indicator"])
    close = difflib.get_close_matches(name, m["nbs_name"].tolist(), n=3, cutoff=0.4)
    hint = f" Closest known names: {', '.join(close)}." if close else ""
    raise UserInputError(
        f"{source_name}: the NBS indicator {nbs_text!r} (指标 line) is not in data/nbs_indicators.csv.{hint} "
        "Add a row there (nbs_name, indicator, note) or pass --indicator with an id from data/indicators.csv."
    )


def unit_factor(unit_text: str | None, indicator: str, source_name: str) -> tuple[float, str]:
    """Multiplier turning values in ``unit_text`` into the vocabulary unit, and a note saying what was done."""
    vocab = indicators.unit(indicator)
    kind = indicators.table().loc[indicator, "kind"]
    if unit_text is None or unit_text == "":
        return 1.0, f"no unit given; values taken as {vocab!r}, the unit of {indicator}"
    prefix = next((p for p in MULTIPLIERS if unit_text.startswith(p)), None)
    if kind in ("share", "rate"):
        if prefix is not None:
            raise UserInputError(f"{source_name}: unit {unit_text!r} has the prefix {prefix} but {indicator} is a "
                                 f"{kind} in {vocab!r}; check the --indicator mapping.")
        return 1.0, f"unit {unit_text!r} read as {vocab!r}"
    if prefix is None:
        return 1.0, f"unit {unit_text!r} read as {vocab!r} (no 万/亿 multiplier)"
    factor = MULTIPLIERS[prefix]
    return factor, f"unit {unit_text!r} converted to {vocab!r} (x {factor:,.0f})"


def _find(rows: list[list[str]], label: str) -> tuple[int, str] | None:
    for i, row in enumerate(rows):
        first = next((c for c in row if c), "")
        if first.startswith(label):
            return i, re.split(r"[：:]", first, maxsplit=1)[1].strip() if re.search(r"[：:]", first) else ""
    return None


def _region_cell(cell: str) -> str:
    """``北　京`` -> ``北京``: the yearbook pads two-character names with full-width spaces."""
    return _SPACES.sub("", cell)


def _header_row(rows: list[list[str]]) -> int | None:
    return next((i for i, r in enumerate(rows) if r and _region_cell(r[0]) in ("地区", "省份", "地 区")), None)


def looks_like_nbs(rows: list[list[str]]) -> bool:
    """True when the rows have a 地区 header cell or an NBS 数据库/指标 line."""
    return any(r and (_region_cell(r[0]) == "地区" or r[0].startswith(("数据库", "指标"))) for r in rows[:15])


def number(cell: str, where: str, column: str) -> float | None:
    """The number in a table cell (thousands commas allowed), None for an empty or dash cell.

    Text, and non-finite values (``inf``, ``nan``, ``1e400``, which overflows to infinity), are refused
    with an error naming ``where`` (file and line) and the column."""
    text = cell.replace(",", "").replace("，", "").strip()
    if text in _EMPTY:
        return None
    try:
        v = float(text)
    except ValueError:
        raise UserInputError(f"{where}, column {column}: {cell!r} is not a number; expected a number (empty "
                             "cells and dashes are skipped as missing).") from None
    if not math.isfinite(v):
        raise UserInputError(f"{where}, column {column}: {cell!r} is not a finite number (inf, nan and numbers "
                             "beyond 1.8e308 such as 1e400 are refused); expected a number, or an empty cell "
                             "for a missing value.")
    return v


def _skip_row(first: str, where: str, notes: list[str]) -> bool:
    """National, regional and note rows are not provincial data: skip them with a note."""
    name = _region_cell(first)
    if name in _NATIONAL:
        notes.append(f"{where}: national row {first!r} skipped (the panel is provincial)")
        return True
    if name in _REGIONS:
        notes.append(f"{where}: regional subtotal {first!r} skipped")
        return True
    if name in _NOT_PROVINCES:
        notes.append(f"{where}: {first!r} skipped (not one of the 31 provinces of data/provinces.csv)")
        return True
    return False


def _province(first: str, where: str) -> str:
    try:
        return provinces.resolve(_region_cell(first))
    except UserInputError as e:
        raise UserInputError(f"{where}, column 地区: {e}") from None


def _finish(out: list[dict], locations: list[str], name: str, notes: list[str], empty: list[str]) -> ParseResult:
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        notes.append(f"{len(empty)} empty cell(s) skipped: {shown}")
    panel = validate_panel(pd.DataFrame(out, columns=PANEL_COLUMNS), name, locations)
    return ParseResult(panel=panel, notes=notes)


def parse_nbs(path: str | Path, indicator: str | None = None, grid: Grid | None = None) -> ParseResult:
    """Parse an NBS provincial annual export (CSV/XLS/XLSX/HTML) into observed panel rows.

    ``indicator`` overrides the mapping of the 指标 line (needed when the header lines are missing).
    Errors name the line of the file (1-based, header lines included) or the spreadsheet row.
    """
    path = Path(path)
    grid = grid or read_grid(path)
    name, rows = grid.name, grid.rows
    if not any(any(c for c in r) for r in rows):
        raise UserInputError(f"{name}: the file is empty.")
    notes: list[str] = []
    found = _find(rows, "指标")
    nbs_text = found[1] if found else ""
    unit_text: str | None = _strip_unit(nbs_text)[1] if nbs_text else None
    if indicator is not None:
        ind = indicators.check(indicator)
        notes.append(f"indicator set to {ind} by --indicator")
    elif nbs_text:
        ind = map_indicator(nbs_text, name)
        notes.append(f"指标 {nbs_text!r} mapped to {ind} (data/nbs_indicators.csv)")
    else:
        raise UserInputError(f"{name}: no '指标：' header line, so the indicator is unknown. NBS exports start with "
                             "数据库：分省年度数据 / 指标：… / 时间：… lines; restore them or pass --indicator with an id "
                             "from data/indicators.csv.")
    hdr = _header_row(rows)
    if hdr is None:
        raise UserInputError(f"{name}: no header row starting with '地区' (region) was found; an NBS provincial "
                             "export has a 地区 column followed by year columns such as 2022年.")
    header = rows[hdr]
    unit_col = next((j for j, c in enumerate(header) if c in ("单位", "unit")), None)
    year_cols: dict[int, int] = {}
    for j, c in enumerate(header[1:], start=1):
        m = _YEAR.match(c)
        if m:
            y = int(m.group(1))
            if y in year_cols.values():
                raise UserInputError(f"{name}, {grid.at(hdr)}: the year {y} appears twice in the header; each year "
                                     "must be one column.")
            year_cols[j] = y
        elif c and j != unit_col:
            raise UserInputError(f"{name}, {grid.at(hdr)}, column {j + 1}: header {c!r} is not a year such as "
                                 "2022年.")
    if not year_cols:
        raise UserInputError(f"{name}, {grid.at(hdr)}: no year columns (such as 2022年) after 地区.")
    factor = 1.0
    if unit_col is None:
        factor, note = unit_factor(unit_text, ind, name)
        notes.append(note)
    source = f"{name}: NBS 指标 {nbs_text}" if nbs_text else f"{name}: NBS export (indicator {ind} by --indicator)"
    out: list[dict] = []
    locations: list[str] = []
    empty: list[str] = []
    seen: dict[str, str] = {}
    vocab_unit = indicators.unit(ind)
    for i in range(hdr + 1, len(rows)):
        row = rows[i]
        first = row[0] if row else ""
        where = f"{name}, {grid.at(i)}"
        if not any(row) or first.startswith(_NOTE) or _skip_row(first, grid.at(i), notes):
            continue
        prov = _province(first, where)
        if prov in seen:
            raise UserInputError(f"{where}: {first} appears again (first on {seen[prov]}); each province must "
                                 "be one row.")
        seen[prov] = grid.at(i)
        if unit_col is not None:
            factor, note = unit_factor(row[unit_col] if unit_col < len(row) else None, ind, name)
            notes.append(f"{grid.at(i)}: {note}")
        for j, y in year_cols.items():
            v = number(row[j] if j < len(row) else "", where, header[j])
            if v is None:
                empty.append(f"{first} {y} ({grid.at(i)})")
                continue
            out.append({"province": prov, "year": y, "indicator": ind, "value": round(v * factor, 6),
                        "unit": vocab_unit, "status": "observed", "source": source})
            locations.append(f"{grid.at(i)}, column {header[j]} ({first} {y})")
    if not out:
        raise UserInputError(f"{name}: no values found below the 地区 header.")
    return _finish(out, locations, name, notes, empty)


def _yearbook_map() -> dict[tuple[str, str], str]:
    t = pd.read_csv(YEARBOOK_FILE, encoding="utf-8")
    return {(r.measure, r.institution): r.indicator for r in t.itertuples(index=False)}


def _norm(text: str) -> str:
    """Column or title text without padding, ``#`` markers, and with full-width parentheses."""
    t = _SPACES.sub("", text).lstrip("#＃")
    return t.replace("(", "（").replace(")", "）")


def _keyword(text: str, table: list[tuple[str, str]]) -> str | None:
    t = _norm(text)
    return next((v for k, v in table if _norm(k) in t), None)


def yearbook_title(rows: list[list[str]], hdr: int) -> tuple[int, str] | None:
    """(row index, text) of the title line above the 地区 header: the first non-empty line that is not a
    unit line."""
    for i in range(hdr):
        first = next((c for c in rows[i] if c), "")
        if first and not _norm(first).startswith(("单位", "计量单位")):
            return i, first
    return None


def _unit_line(rows: list[list[str]], hdr: int) -> str | None:
    for i in range(hdr + 1):
        for c in rows[i]:
            m = re.match(r"^\s*(?:计量)?单位\s*[：:]\s*(\S+)", c)
            if m:
                return m.group(1)
    return None


def looks_like_yearbook(rows: list[list[str]]) -> bool:
    """True when the 地区 header row names institution types or staff categories (not years)."""
    hdr = _header_row(rows)
    if hdr is None:
        return False
    cells = [c for c in rows[hdr][1:] if c]
    return bool(cells) and not any(_YEAR.match(c) for c in cells) and \
        any(_keyword(c, INSTITUTIONS) or _keyword(c, MEASURES) for c in cells)


def parse_yearbook(path: str | Path, table: str | None = None, year: int | None = None,
                   grid: Grid | None = None) -> ParseResult:
    """Parse one China Health Statistics Yearbook table (one year, provinces by institution type).

    ``table`` (visits, staff, health_technicians, physicians, gps, population) says what is counted when
    neither the title nor the column names say it; ``year`` when neither the title nor the file name
    carries one. Each column maps to an indicator through ``data/yearbook_columns.csv`` from its
    institution type (医院, 基层医疗卫生机构, #乡镇卫生院, ...) and the table's measure; a column that maps
    to nothing known (注册护士, 专业公共卫生机构, ...) is skipped and listed in the notes. The 全国 row and
    regional subtotals are skipped; values in 万 are converted. Errors name the file line (CSV) or row.
    """
    path = Path(path)
    grid = grid or read_grid(path)
    name, rows = grid.name, grid.rows
    if not any(any(c for c in r) for r in rows):
        raise UserInputError(f"{name}: the file is empty.")
    notes: list[str] = []
    hdr = _header_row(rows)
    if hdr is None:
        raise UserInputError(f"{name}: no header row starting with '地区' was found; a yearbook table has a 地区 "
                             "column followed by institution types (医疗卫生机构合计, 医院, 基层医疗卫生机构, ...).")
    found = yearbook_title(rows, hdr)
    title = found[1] if found else ""
    if table is not None and table not in TABLES:
        raise UserInputError(f"--table {table!r} is not one of {', '.join(TABLES)}.")
    measure_title = _keyword(title, MEASURES)
    inst_title = _keyword(title, INSTITUTIONS[:-4])  # a specific institution type named in the title
    if year is None:
        m = _TITLE_YEAR.search(title)
        if m:
            year = int(m.group(1))
            notes.append(f"year {year} from the title")
        else:
            m = _NAME_YEAR.search(name)
            if not m:
                raise UserInputError(f"{name}: no year in the title line ({title!r}) or in the file name. Yearbook "
                                     "tables are one year each: put the year in the file name (e.g. visits_2019.csv) "
                                     "or pass --year.")
            year = int(m.group(1))
            notes.append(f"year {year} from the file name")
    tno = _TABLE_NO.match(title)
    label = f"table {tno.group(1).replace(' ', '')}" if tno else "yearbook table"
    source = f"{name}: {title}" if title else f"{name}: {label}"
    unit_text = _unit_line(rows, hdr)
    header = rows[hdr]
    mapping = _yearbook_map()
    columns: dict[int, str] = {}
    skipped: list[str] = []
    for j, c in enumerate(header[1:], start=1):
        if not c:
            continue
        if re.search(r"每[千万十]|[比占]|率|%|％", _norm(c)):
            skipped.append(c)  # a per-capita figure or a share: derived from the counts instead
            continue
        col_measure, inst = _keyword(c, MEASURES), _keyword(c, INSTITUTIONS)
        if col_measure is None and inst is None:
            skipped.append(c)  # 注册护士, 药师, ...: not in the vocabulary
            continue
        measure = col_measure or table or measure_title
        if inst in (None, "total") and inst_title:
            inst = inst_title  # a table of one institution type (its 合计 and staff-category columns)
        if measure is None:
            raise UserInputError(f"{name}: the title ({title!r}) and the columns do not say what is counted (visits, "
                                 "卫生人员, 卫生技术人员, 执业(助理)医师, 全科医生). Pass --table with one of "
                                 + ", ".join(TABLES) + ".")
        ind = mapping.get((measure, inst or "total"))
        if ind is None:
            skipped.append(c)
            continue
        if ind in columns.values():
            raise UserInputError(f"{name}, {grid.at(hdr)}, column {j + 1}: {c!r} maps to {ind}, like an earlier "
                                 "column; each indicator must be one column.")
        columns[j] = ind
    if skipped:
        notes.append(f"column(s) not in data/yearbook_columns.csv skipped: {', '.join(skipped)}")
    if not columns:
        raise UserInputError(f"{name}, {grid.at(hdr)}: no column maps to a known indicator (data/yearbook_columns.csv); "
                             f"found {', '.join(c for c in header[1:] if c)}.")
    factors = {}
    for ind in set(columns.values()):
        f, note = unit_factor(unit_text, ind, name)
        factors[ind] = f
    notes.append(f"unit {unit_text!r}: " + (f"x {next(iter(factors.values())):,.0f}"
                                            if unit_text else "none given, values taken in the vocabulary unit"))
    notes.append("columns mapped: " + ", ".join(f"{header[j]} -> {ind}" for j, ind in columns.items()))
    out: list[dict] = []
    locations: list[str] = []
    empty: list[str] = []
    seen: dict[str, str] = {}
    for i in range(hdr + 1, len(rows)):
        row = rows[i]
        first = row[0] if row else ""
        where = f"{name}, {grid.at(i)}"
        if not any(row) or _norm(first).startswith(_NOTE) or _skip_row(first, grid.at(i), notes):
            continue
        prov = _province(first, where)
        if prov in seen:
            raise UserInputError(f"{where}: {first} appears again (first on {seen[prov]}); each province must "
                                 "be one row.")
        seen[prov] = grid.at(i)
        for j, ind in columns.items():
            v = number(row[j] if j < len(row) else "", where, header[j])
            if v is None:
                empty.append(f"{_region_cell(first)} {header[j]} ({grid.at(i)})")
                continue
            out.append({"province": prov, "year": year, "indicator": ind, "value": round(v * factors[ind], 6),
                        "unit": indicators.unit(ind), "status": "observed", "source": source})
            locations.append(f"{grid.at(i)}, column {header[j]} ({_region_cell(first)})")
    if not out:
        raise UserInputError(f"{name}: no provincial values found below the 地区 header.")
    return _finish(out, locations, name, notes, empty)


def read_tidy(path: str | Path) -> ParseResult:
    """Read a tidy panel CSV for import: validated, every row must be ``observed``; file name added to source."""
    path = Path(path)
    name = display_name(path)
    df = read_panel_csv(path)
    bad = np.flatnonzero((df["status"] != "observed").to_numpy())
    if len(bad):
        raise UserInputError(f"{name}, row {bad[0] + 1}, column 'status': found {df['status'].iloc[bad[0]]!r}; "
                             "expected 'observed' (only observed values are imported; the simulated panel is "
                             "made by `python -m primarycare simulate`).")
    src = df["source"]
    df["source"] = src.where(src.str.startswith(name), name + ": " + src)
    return ParseResult(panel=df, notes=[f"tidy panel file, {len(df)} row(s)"])


def _is_tidy(rows: list[list[str]]) -> bool:
    return bool(rows) and {"province", "indicator"} <= {c.strip().lstrip("\ufeff") for c in rows[0]}


def _tidy_text(path: Path) -> bool:
    """True when ``path`` is CSV text whose first line is a tidy panel header (read from its first bytes)."""
    if path.is_dir() or not path.exists():
        return False  # read_grid gives the readable error
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) or _looks_like_html(head):
        return False
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "ignore")
    return _is_tidy([next(csv.reader([first]), [])])


def parse_file(path: str | Path, indicator: str | None = None, table: str | None = None,
               year: int | None = None) -> ParseResult:
    """Parse any supported file, its layout detected from the content: a tidy panel (header with province
    and indicator), a yearbook table (地区 plus institution types), or an NBS export (地区 plus years)."""
    path = Path(path)
    if _tidy_text(path):
        return read_tidy(path)  # a big tidy file is read once, by pandas (not cell by cell)
    grid = read_grid(path)
    rows = grid.rows
    if not any(any(c for c in r) for r in rows):
        raise UserInputError(f"{grid.name}: the file is empty; expected a yearbook table, an NBS export or a tidy "
                             "panel CSV.")
    if table is not None or year is not None or looks_like_yearbook(rows):  # --indicator is for NBS files
        return parse_yearbook(path, table=table, year=year, grid=grid)
    if looks_like_nbs(rows) or indicator is not None:
        return parse_nbs(path, indicator, grid=grid)
    raise UserInputError(f"{grid.name}: neither a tidy panel CSV (header {', '.join(PANEL_COLUMNS)}), a yearbook "
                         "table (title line, 地区 column and institution types) nor an NBS export (指标： line and a "
                         "地区 column with years). Check the file or its header lines.")


def read_any(path: str | Path, indicator: str | None = None) -> pd.DataFrame:
    """A validated panel from a tidy CSV, a yearbook table or an NBS export (for ``load_panel(panel_path=...)``)."""
    path = Path(path)
    if _tidy_text(path):
        return read_panel_csv(path)
    return parse_file(path, indicator).panel


def merge(existing: pd.DataFrame | None, new: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge ``new`` into ``existing`` (new wins). Returns (merged, changes) where changes lists each key
    with ``change`` = added / replaced / unchanged and the old and new values."""
    new = new[PANEL_COLUMNS]
    if existing is None or existing.empty:
        merged = new.copy()
        changes = new[KEY].assign(change="added", old_value=np.nan, new_value=new["value"].to_numpy())
    else:
        old = existing[PANEL_COLUMNS]
        j = new.merge(old[[*KEY, "value", "source"]], on=KEY, how="left", suffixes=("", "_old"))
        change = np.where(j["value_old"].isna(), "added",
                          np.where((j["value_old"] == j["value"]) & (j["source_old"] == j["source"]),
                                   "unchanged", "replaced"))
        changes = j[KEY].assign(change=change, old_value=j["value_old"], new_value=j["value"])
        keep = ~pd.MultiIndex.from_frame(old[KEY]).isin(pd.MultiIndex.from_frame(new[KEY]))
        merged = pd.concat([old[keep], new], ignore_index=True)
    merged = merged.sort_values(KEY, kind="stable").reset_index(drop=True)
    return merged, changes.reset_index(drop=True)


@dataclass
class ImportReport:
    """What an import did (or would do, in a dry run)."""

    merged: pd.DataFrame
    changes: pd.DataFrame
    notes: list[str]
    dry_run: bool
    target: Path

    def text(self, max_lines: int = 20) -> str:
        """Readable summary: counts by change, the first replaced values, and the parsing notes."""
        counts = self.changes["change"].value_counts()
        head = "DRY RUN, nothing written. " if self.dry_run else ""
        lines = [f"{head}{self.target}: {counts.get('added', 0)} added, {counts.get('replaced', 0)} replaced, "
                 f"{counts.get('unchanged', 0)} unchanged; {len(self.merged)} observed value(s) in total."]
        rep = self.changes[self.changes["change"] == "replaced"]
        for r in rep.head(max_lines).itertuples(index=False):
            lines.append(f"  replaced {r.province} {r.year} {r.indicator}: {r.old_value:g} -> {r.new_value:g}")
        if len(rep) > max_lines:
            lines.append(f"  ... and {len(rep) - max_lines} more replaced")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _write_error(target: Path, e: OSError) -> UserInputError:
    shown = str(target).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
           errno.EACCES: "permission denied", errno.EPERM: "permission denied",
           errno.EROFS: "the file system is read-only", errno.EISDIR: "it is a folder",
           errno.ENOTDIR: "a part of the path is a file, not a folder"}.get(e.errno, e.strerror or str(e))
    return UserInputError(f"Could not write the observed panel {shown}: {why}. Nothing was changed there (the "
                          "write is all-or-nothing). Free some space or choose a writable target with --observed, "
                          "then run the import again.")


def import_files(paths: list[str | Path], indicator: str | None = None, observed_path: str | Path | None = None,
                 dry_run: bool = False, table: str | None = None, year: int | None = None) -> ImportReport:
    """Parse ``paths`` and merge them into ``observed_path`` (default ``data/panel/observed.csv``).

    Writes atomically unless ``dry_run``. Files are merged in order, so a later file wins on a shared key.
    A target that cannot be written (read-only, full disk, a folder) raises :class:`UserInputError` and
    leaves the old file as it was.
    """
    from ..files import atomic_write

    target = Path(observed_path or OBSERVED_FILE)
    if target.is_dir():
        raise _write_error(target, OSError(errno.EISDIR, "is a directory"))
    existing = None
    if target.exists() and read_bytes(target, "observed panel").strip():
        existing = read_panel_csv(target)
    if not paths:
        raise UserInputError("No file to import: give one or more yearbook tables, NBS exports or tidy CSVs.")
    notes: list[str] = []
    new_frames = []
    for p in paths:
        res = parse_file(p, indicator, table=table, year=year)
        new_frames.append(res.panel)
        notes += [f"{display_name(p)}: {n}" for n in res.notes]
    new = pd.concat(new_frames, ignore_index=True).drop_duplicates(KEY, keep="last")
    merged, changes = merge(existing, new)
    if not dry_run:
        try:
            with atomic_write(target) as fh:
                merged.to_csv(fh, index=False, lineterminator="\n")
        except OSError as e:
            raise _write_error(target, e) from None
    return ImportReport(merged=merged, changes=changes, notes=notes, dry_run=dry_run, target=target)


def main(argv: list[str] | None = None) -> int:
    """``primarycare import FILE [FILE ...]``: import real data into data/panel/observed.csv."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="primarycare import",
        description="Import real data into data/panel/observed.csv: China Health Statistics Yearbook tables "
                    "(one file a year), NBS provincial exports, or tidy panel CSVs; CSV (UTF-8 or GBK), XLSX, XLS "
                    "or the HTML pages saved as .xls. Observed values replace simulated ones for the same "
                    "province, year and indicator in every analysis. See data/README.md.")
    parser.add_argument("files", nargs="+", type=Path, help="yearbook table, NBS export or tidy panel CSV")
    parser.add_argument("--indicator", help="indicator id (data/indicators.csv) for an NBS export, overriding "
                                            "the 指标 mapping")
    parser.add_argument("--table", choices=TABLES, help="what a yearbook table counts, when its title and "
                                                        "columns do not say")
    parser.add_argument("--year", type=int, help="the year of a yearbook table, when neither its title nor "
                                                 "its file name has one")
    parser.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    parser.add_argument("--observed", type=Path, default=OBSERVED_FILE,
                        help="target file (default data/panel/observed.csv)")
    args = parser.parse_args(argv)
    report = import_files(args.files, indicator=args.indicator, observed_path=args.observed, dry_run=args.dry_run,
                          table=args.table, year=args.year)
    print(report.text())
    return 0
