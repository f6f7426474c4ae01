"""Benchmark: importing two million rows (issue "Real data in").

``python -m primarycare.bench.import_rows [N_ROWS]`` writes tidy panel CSVs of fake rows (``value = 1.0``,
every province, year 1990-2035 and indicator: FAKE NUMBERS, never data) into a temporary folder and times

1. an import of ``N_ROWS`` rows (default 2,000,000) spread over files of at most 250,000 distinct keys
   each (a panel can hold only 31 provinces x 46 years x the vocabulary's indicators distinct keys, so
   two million rows are necessarily several files, the later ones replacing the earlier), written to a
   temporary observed.csv; and
2. the validation of the same ``N_ROWS`` rows as ONE file, which must stop with one paragraph reporting
   the repeated (province, year, indicator) rows (the duplicate check is vectorised).

``rows()`` returns one dict per task (``task``, ``primarycare_s`` wall-clock, ``cpu_s`` CPU time of this
process, ``note``): on a shared machine the wall-clock time includes waiting for a core. No timing is asserted in
the tests; this script is where the speed target (under 30 s) is checked.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import indicators, provinces
from ..errors import UserInputError

PER_FILE = 250_000


def fake_rows(n: int, offset: int = 0) -> pd.DataFrame:
    """``n`` tidy rows cycling through every (province, year, indicator) key, starting at ``offset``."""
    provs = np.array(provinces.names())
    inds = np.array(indicators.ids())
    units = np.array([indicators.unit(i) for i in inds])
    years = np.arange(1990, 2036)
    k = (np.arange(n) + offset) % (len(provs) * len(years) * len(inds))
    p, rest = np.divmod(k, len(years) * len(inds))
    y, i = np.divmod(rest, len(inds))
    return pd.DataFrame({"province": provs[p], "year": years[y], "indicator": inds[i], "value": 1.0,
                         "unit": units[i], "status": "observed", "source": "FAKE NUMBERS FOR BENCHMARK"})


def rows(n_rows: int = 2_000_000) -> list[dict]:
    from ..data.importer import import_files, parse_file

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for j, start in enumerate(range(0, n_rows, PER_FILE)):
            f = Path(tmp) / f"part{j}.csv"
            fake_rows(min(PER_FILE, n_rows - start), offset=start).to_csv(f, index=False)
            files.append(f)
        t, c = time.perf_counter(), time.process_time()
        report = import_files(files, observed_path=Path(tmp) / "observed.csv")
        out.append({"task": f"import {n_rows:,} rows in {len(files)} files", "primarycare_s":
                    time.perf_counter() - t, "cpu_s": time.process_time() - c,
                    "note": f"{len(report.merged):,} distinct values written"})
        one = Path(tmp) / "one.csv"
        pd.concat([pd.read_csv(f) for f in files], ignore_index=True).to_csv(one, index=False)
        t, c = time.perf_counter(), time.process_time()
        try:
            parse_file(one)
            note = "no error (unexpected)"
        except UserInputError as e:
            note = str(e)[:90] + "..."
        out.append({"task": f"validate {n_rows:,} rows in one file (duplicates reported)",
                    "primarycare_s": time.perf_counter() - t, "cpu_s": time.process_time() - c, "note": note})
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    n = int(args[0]) if args else 2_000_000
    tab = pd.DataFrame(rows(n))
    with pd.option_context("display.max_colwidth", 100, "display.width", 250):
        print(tab.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    return 0


if __name__ == "__main__":
    from ..cli import run

    run(main)
