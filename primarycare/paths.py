"""Where the project's files live. One place, so scripts, notebooks and tests agree."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PRIMARYCARE_DATA", ROOT / "data"))
PANEL_DIR = DATA / "panel"
SEEDS = Path(os.environ.get("PRIMARYCARE_SEEDS", ROOT.parent / "shared" / "seeds"))
REFERENCE = Path(os.environ.get("PRIMARYCARE_REFERENCE", ROOT.parent / "shared" / "reference"))
