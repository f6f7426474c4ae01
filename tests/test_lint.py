"""The project's lint rules (pyproject.toml) hold for the library, scripts, tests and notebooks."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (pip install -r requirements-dev.txt)")
def test_ruff_clean():
    out = subprocess.run(["ruff", "check", ".", "--output-format", "concise"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
