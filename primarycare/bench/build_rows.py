"""Benchmark: building the book, against the speed targets (``python -m primarycare bench --only book``).

Runs the build command itself (``scripts/build_book.py``, a separate process, as a user would) in a copy
of the repository made in a temporary folder from the files git tracks, so the first build is a clean
one: no executed notebook, no Sphinx work dir, no wheel. In that copy, one after another:

1. the clean full build, both editions (``python scripts/build_book.py``); target under 60 s on 2 cores;
2. a rebuild with nothing changed (nothing is executed, Sphinx is skipped);
3. one case chapter, ``--only anhui --force --no-site --lang en`` (the whole command, and the Anhui
   notebook alone as Papermill timed it: kernel reset, cells and saving); target at most 8 s.

Each row is one run: on a shared machine the wall-clock time includes waiting for a core, so run it on
an idle machine. The copy is deleted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..paths import ROOT

TARGETS = {"clean": 60.0, "chapter": 8.0}


def copy_repository(dest: Path) -> Path:
    """The repository's tracked files (``git ls-files``; without git, everything but build output) copied
    to ``dest/<name>`` (the builds there read the seeds and reference folders of this one: see :func:`_build`)."""
    target = dest / ROOT.name
    files = None
    if (ROOT / ".git").exists() and shutil.which("git"):
        proc = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
        if proc.returncode == 0:
            files = [f for f in proc.stdout.decode().split("\0") if f]
    if files is None:
        shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(".git", "_build", "_generated", "__pycache__"))
    else:
        for rel in files:
            src = ROOT / rel
            if src.is_file():
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target / rel)
    return target


def _build(repo: Path, *args: str) -> float:
    """Wall seconds of ``scripts/build_book.py args`` in ``repo``; raises with its output's tail on failure."""
    from .. import paths

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PRIMARYCARE_DATA")}
    env.update(PRIMARYCARE_SEEDS=str(paths.SEEDS), PRIMARYCARE_REFERENCE=str(paths.REFERENCE))
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "scripts/build_book.py", *args], cwd=repo, capture_output=True,
                          text=True, env=env)
    sec = time.perf_counter() - t
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"build_book.py {' '.join(args)} failed in {repo}:\n{tail}")
    return sec


def _papermill_seconds(notebook: Path) -> float:
    meta = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
    return float(meta.get("duration") or float("nan"))


def rows() -> list[dict]:
    """The three builds (see the module docstring) as table rows: task, seconds, target_s."""
    out = []
    with tempfile.TemporaryDirectory(prefix="primarycare-bench-build-") as tmp:
        repo = copy_repository(Path(tmp))
        print("clean full build (both editions) ...", file=sys.stderr, flush=True)
        clean = _build(repo)
        out.append({"task": "clean full build, both editions (28 notebooks, 2 Sphinx builds)", "seconds": clean,
                    "target_s": TARGETS["clean"]})
        print("rebuild with nothing changed ...", file=sys.stderr, flush=True)
        out.append({"task": "rebuild with nothing changed", "seconds": _build(repo), "target_s": float("nan")})
        print("one case chapter ...", file=sys.stderr, flush=True)
        chapter = _build(repo, "--only", "anhui", "--force", "--no-site", "--lang", "en")
        out.append({"task": "one case chapter: --only anhui --force --no-site --lang en (whole command)",
                    "seconds": chapter, "target_s": TARGETS["chapter"]})
        out.append({"task": "  the Anhui notebook alone (Papermill's duration)",
                    "seconds": _papermill_seconds(repo / "book" / "cases" / "anhui.ipynb"),
                    "target_s": TARGETS["chapter"]})
    return out
