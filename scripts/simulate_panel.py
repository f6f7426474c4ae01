"""Write the simulated teaching panel and its planted effects.

Reads ``data/simulation.yml`` and writes ``data/panel/simulated.csv`` and ``data/panel/truth.csv``
(atomically). Every value is simulated; see ``primarycare/simulate.py`` for the data-generating process.

Usage: ``python scripts/simulate_panel.py [--seed N] [--out-dir DIR]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from primarycare.cli import atomic_write, run  # noqa: E402
from primarycare.paths import PANEL_DIR  # noqa: E402
from primarycare.simulate import load_config, simulate_panel  # noqa: E402

FLOAT_FORMAT = "%.6f"


def write_outputs(out_dir: Path, seed: int) -> tuple[Path, Path]:
    """Simulate with ``seed`` and write simulated.csv and truth.csv into ``out_dir``."""
    cfg = load_config()
    years = range(int(cfg["years"][0]), int(cfg["years"][1]) + 1)
    sp = simulate_panel(seed=seed, years=years)
    out_dir.mkdir(parents=True, exist_ok=True)
    panel_path, truth_path = out_dir / "simulated.csv", out_dir / "truth.csv"
    with atomic_write(panel_path) as fh:
        sp.panel.to_csv(fh, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    with atomic_write(truth_path) as fh:
        sp.truth.to_csv(fh, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return panel_path, truth_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the one in data/simulation.yml)")
    parser.add_argument("--out-dir", type=Path, default=PANEL_DIR, help="output folder (default data/panel)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(load_config()["seed"])
    paths = write_outputs(args.out_dir, seed)
    for p in paths:
        print(f"wrote {p} (SIMULATED data, seed={seed})")
    return 0


if __name__ == "__main__":
    run(main)
