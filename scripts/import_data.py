"""Import real data into data/panel/observed.csv (NBS provincial exports or tidy panel CSVs).

Observed values replace simulated ones for the same province, year and indicator in every analysis.
See data/README.md for where to download the real tables.

Usage: ``python scripts/import_data.py FILE [FILE ...] [--indicator ID] [--dry-run] [--observed PATH]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from primarycare.cli import run  # noqa: E402
from primarycare.importer import OBSERVED_FILE, import_files  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="NBS export (.csv/.xls/.xlsx) or tidy panel CSV")
    parser.add_argument("--indicator", help="indicator id (data/indicators.csv), overriding the 指标 mapping")
    parser.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    parser.add_argument("--observed", type=Path, default=OBSERVED_FILE, help="target file (default data/panel/observed.csv)")
    args = parser.parse_args(argv)
    report = import_files(args.files, indicator=args.indicator, observed_path=args.observed, dry_run=args.dry_run)
    print(report.text())
    return 0


if __name__ == "__main__":
    run(main)
