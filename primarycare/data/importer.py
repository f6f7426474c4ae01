"""Import real data: NBS provincial annual exports and tidy panel CSVs into ``data/panel/observed.csv``.

Two input formats:

* a National Bureau of Statistics (国家统计局) provincial annual data export (分省年度数据), CSV or
  XLS/XLSX: header lines ``数据库：分省年度数据`` / ``指标：…`` / ``时间：…``, a ``地区`` column, one column per
  year (``2022年``), notes at the bottom (``注：…``, ``数据来源：国家统计局``). The 指标 text is mapped to an
  indicator id through ``data/nbs_indicators.csv`` (or ``indicator=``), and units written as 万 or 亿 are
  converted to the vocabulary's unit (``data/indicators.csv``).
* a tidy CSV already in the panel format (``province, year, indicator, value, unit, status, source``).

Imported rows get ``status = observed`` and a ``source`` naming the file (and the NBS 指标 text). Merging
keeps what is already in ``observed.csv``; new values replace old ones for the same province, year and
indicator, and the report lists what changed.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserInputError
from ..paths import DATA, PANEL_DIR
from . import indicators, provinces
from .schema import KEY, PANEL_COLUMNS, decode_bytes, read_panel_csv, validate_panel

OBSERVED_FILE = PANEL_DIR / "observed.csv"
MAPPING_FILE = DATA / "nbs_indicators.csv"
MULTIPLIERS = {"亿": 1e8, "万": 1e4, "千": 1e3}
_YEAR = re.compile(r"^\s*(\d{4})\s*年?\s*$")
_UNIT = re.compile(r"[（(]([^()（）]*)[)）]\s*$")
_NOTE = ("注", "数据来源", "资料来源", "说明")
_COUNT_UNITS = {"visits": ("人次",), "persons": ("人",), "institutions": ("个", "家", "所"), "beds": ("张",),
                "yuan": ("元",)}


@dataclass
class ParseResult:
    """Rows parsed from one file and the notes (skipped cells, conversions) to tell the user."""

    panel: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _rows_from_file(path: Path) -> list[list[str]]:
    """All rows of a CSV (any of UTF-8, UTF-8 with BOM, GBK) or Excel file as lists of strings."""
    suffix = path.suffix.lower()
    if suffix in (".xls", ".xlsx"):
        try:
            grid = pd.read_excel(path, header=None, dtype=object)
        except Exception as e:  # noqa: BLE001 - any reader failure is a bad user file
            raise UserInputError(f"{path.name}: could not be read as an Excel file ({e}).") from None
        return [["" if pd.isna(c) else str(c).strip() for c in row] for row in grid.itertuples(index=False)]
    text = decode_bytes(path.read_bytes(), path.name)
    return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]


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


def looks_like_nbs(rows: list[list[str]]) -> bool:
    """True when the rows have a 地区 header cell or an NBS 数据库/指标 line."""
    return any(r and (r[0] == "地区" or r[0].startswith(("数据库", "指标"))) for r in rows[:15])


def parse_nbs(path: str | Path, indicator: str | None = None) -> ParseResult:
    """Parse an NBS provincial annual export (CSV/XLS/XLSX) into observed panel rows.

    ``indicator`` overrides the mapping of the 指标 line (needed when the header lines are missing).
    Row numbers in errors are line numbers of the file (1-based, header lines included).
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise UserInputError(f"The file {path} does not exist.")
    rows = _rows_from_file(path)
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
    hdr = next((i for i, r in enumerate(rows) if r and r[0] == "地区"), None)
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
                raise UserInputError(f"{name}, line {hdr + 1}: the year {y} appears twice in the header; each year "
                                     "must be one column.")
            year_cols[j] = y
        elif c and j != unit_col:
            raise UserInputError(f"{name}, line {hdr + 1}, column {j + 1}: header {c!r} is not a year such as "
                                 "2022年.")
    if not year_cols:
        raise UserInputError(f"{name}, line {hdr + 1}: no year columns (such as 2022年) after 地区.")
    if unit_col is None:
        factor, note = unit_factor(unit_text, ind, name)
        notes.append(note)
    source = f"{name}: NBS 指标 {nbs_text}" if nbs_text else f"{name}: NBS export (indicator {ind} by --indicator)"
    out = []
    empty: list[str] = []
    seen: dict[str, int] = {}
    for i in range(hdr + 1, len(rows)):
        row = rows[i]
        first = row[0] if row else ""
        if not any(row) or first.startswith(_NOTE):
            continue
        if first in ("全国", "合计", "总计"):
            notes.append(f"line {i + 1}: national row {first!r} skipped (the panel is provincial)")
            continue
        try:
            prov = provinces.resolve(first)
        except UserInputError as e:
            raise UserInputError(f"{name}, line {i + 1}, column 地区: {e}") from None
        if prov in seen:
            raise UserInputError(f"{name}, line {i + 1}: {first} appears again (first on line {seen[prov]}); each "
                                 "province must be one row.")
        seen[prov] = i + 1
        if unit_col is not None:
            factor, note = unit_factor(row[unit_col] if unit_col < len(row) else None, ind, name)
            notes.append(f"line {i + 1}: {note}")
        for j, y in year_cols.items():
            cell = row[j] if j < len(row) else ""
            if cell in ("", "-", "…", "...", "—"):
                empty.append(f"{first} {y} (line {i + 1})")
                continue
            try:
                v = float(cell.replace(",", ""))
            except ValueError:
                raise UserInputError(f"{name}, line {i + 1}, column {header[j]}: {cell!r} is not a number; expected "
                                     "a number (empty cells are skipped).") from None
            out.append({"province": prov, "year": y, "indicator": ind, "value": round(v * factor, 6),
                        "unit": indicators.unit(ind), "status": "observed", "source": source})
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        notes.append(f"{len(empty)} empty cell(s) skipped: {shown}")
    if not out:
        raise UserInputError(f"{name}: no values found below the 地区 header.")
    panel = validate_panel(pd.DataFrame(out), name)
    return ParseResult(panel=panel, notes=notes)


def read_tidy(path: str | Path) -> ParseResult:
    """Read a tidy panel CSV for import: validated, every row must be ``observed``; file name added to source."""
    path = Path(path)
    df = read_panel_csv(path)
    bad = np.flatnonzero((df["status"] != "observed").to_numpy())
    if len(bad):
        raise UserInputError(f"{path.name}, row {bad[0] + 1}, column 'status': found {df['status'].iloc[bad[0]]!r}; "
                             "expected 'observed' (only observed values are imported; the simulated panel is "
                             "made by scripts/simulate_panel.py).")
    df["source"] = [s if s.startswith(path.name) else f"{path.name}: {s}" for s in df["source"]]
    return ParseResult(panel=df, notes=[f"tidy panel file, {len(df)} row(s)"])


def parse_file(path: str | Path, indicator: str | None = None) -> ParseResult:
    """Parse either format, detected from the content (a 地区 column / 指标 line means NBS)."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"The file {path} does not exist.")
    if path.suffix.lower() in (".xls", ".xlsx"):
        return parse_nbs(path, indicator)
    rows = _rows_from_file(path)
    if not any(any(c for c in r) for r in rows):
        raise UserInputError(f"{path.name}: the file is empty; expected an NBS export or a tidy panel CSV.")
    if rows and {"province", "indicator"} <= set(rows[0]):
        return read_tidy(path)
    if looks_like_nbs(rows) or indicator is not None:
        return parse_nbs(path, indicator)
    raise UserInputError(f"{path.name}: neither a tidy panel CSV (header {', '.join(PANEL_COLUMNS)}) nor an NBS "
                         "export (指标： line and a 地区 column). Check the file or its header lines.")


def read_any(path: str | Path, indicator: str | None = None) -> pd.DataFrame:
    """A validated panel from a tidy CSV or an NBS export (for ``load_panel(panel_path=...)``)."""
    path = Path(path)
    rows = _rows_from_file(path) if path.exists() and path.suffix.lower() not in (".xls", ".xlsx") else []
    if rows and {"province", "indicator"} <= set(rows[0]):
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


def import_files(paths: list[str | Path], indicator: str | None = None, observed_path: str | Path | None = None,
                 dry_run: bool = False) -> ImportReport:
    """Parse ``paths`` and merge them into ``observed_path`` (default ``data/panel/observed.csv``).

    Writes atomically unless ``dry_run``. Files are merged in order, so a later file wins on a shared key.
    """
    from ..files import atomic_write

    target = Path(observed_path or OBSERVED_FILE)
    existing = None
    if target.exists() and target.read_text(encoding="utf-8").strip():
        existing = read_panel_csv(target)
    notes: list[str] = []
    new_frames = []
    for p in paths:
        res = parse_file(p, indicator)
        new_frames.append(res.panel)
        notes += [f"{Path(p).name}: {n}" for n in res.notes]
    new = pd.concat(new_frames, ignore_index=True).drop_duplicates(KEY, keep="last")
    merged, changes = merge(existing, new)
    if not dry_run:
        with atomic_write(target) as fh:
            merged.to_csv(fh, index=False, lineterminator="\n")
    return ImportReport(merged=merged, changes=changes, notes=notes, dry_run=dry_run, target=target)


def main(argv: list[str] | None = None) -> int:
    """``primarycare import FILE [FILE ...]``: import real data into data/panel/observed.csv."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="primarycare import",
        description="Import real data into data/panel/observed.csv (NBS provincial exports or tidy panel CSVs). "
                    "Observed values replace simulated ones for the same province, year and indicator in every "
                    "analysis. See data/README.md for where to download the real tables.")
    parser.add_argument("files", nargs="+", type=Path, help="NBS export (.csv/.xls/.xlsx) or tidy panel CSV")
    parser.add_argument("--indicator", help="indicator id (data/indicators.csv), overriding the 指标 mapping")
    parser.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    parser.add_argument("--observed", type=Path, default=OBSERVED_FILE,
                        help="target file (default data/panel/observed.csv)")
    args = parser.parse_args(argv)
    report = import_files(args.files, indicator=args.indicator, observed_path=args.observed, dry_run=args.dry_run)
    print(report.text())
    return 0

