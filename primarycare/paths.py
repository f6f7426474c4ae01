"""Where the project's files live. One place, so scripts, notebooks and tests agree.

The registries (``data/``) are found, in order: the ``PRIMARYCARE_DATA`` environment variable; the
repository's own ``data/`` folder when the library runs from a checkout (a ``pyproject.toml`` and
``data/provinces.csv`` next to the package); otherwise the copy shipped inside the installed package
(``primarycare/_data``, put there by the wheel build: see ``setup.py``); failing that, ``data/`` next to
the package folder.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _in_checkout(root: Path) -> bool:
    """True when ``root`` is a checkout of the repository (not, say, a site-packages folder)."""
    return (root / "pyproject.toml").is_file() and (root / "data" / "provinces.csv").is_file()


def _default_data() -> Path:
    if _in_checkout(ROOT):
        return ROOT / "data"
    shipped = Path(str(resources.files("primarycare") / "_data"))
    return shipped if shipped.is_dir() else ROOT / "data"  # a bare copy of the sources keeps using ../data


DATA = Path(os.environ.get("PRIMARYCARE_DATA", _default_data()))
PANEL_DIR = DATA / "panel"
SEEDS = Path(os.environ.get("PRIMARYCARE_SEEDS", ROOT.parent / "shared" / "seeds"))
REFERENCE = Path(os.environ.get("PRIMARYCARE_REFERENCE", ROOT.parent / "shared" / "reference"))
