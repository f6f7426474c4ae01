"""Build hook: ship the registries in ``data/`` inside the wheel as ``primarycare/_data``.

Everything else about the package is declared in ``pyproject.toml``. An installed ``primarycare`` finds
its data there (``primarycare/paths.py``); a checkout keeps using the repository's ``data/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA_SUFFIXES = {".csv", ".yml", ".yaml", ".md"}


def data_files(src: Path) -> list[Path]:
    """The registry files under ``src`` (no hidden files, editors' temporaries or caches)."""
    return sorted(p for p in src.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(src).parts))


class BuildPyWithData(build_py):
    """``build_py`` that also copies ``data/`` to ``<build>/primarycare/_data``."""

    def run(self) -> None:
        super().run()
        src = HERE / "data"
        dst = Path(self.build_lib) / "primarycare" / "_data"
        if dst.exists():
            shutil.rmtree(dst)
        for f in data_files(src):
            target = dst / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)


setup(cmdclass={"build_py": BuildPyWithData})
