"""Benchmark: building the book, against the speed targets (``python -m primarycare bench --only book``).

Runs the build command itself (``scripts/build_book.py``, a separate process, as a user would) in a copy
of the repository made in a temporary folder from the files git tracks, so the first build is a clean
one: no executed notebook, no Sphinx work dir, no wheel. In that copy, one after another:

1. the clean full build, both editions (``python scripts/build_book.py``); target under 60 s on 2 cores;
2. a rebuild with nothing changed (nothing is executed, Sphinx is skipped);
3. one case chapter, ``--only anhui --force --no-site``: the whole command (Python's start, planning, the
   case's analysis run ahead while the kernel starts, the chapter rendering it, the exit), for the English
   edition (``--lang en``) and for both editions (the English and Chinese chapters of the case, at once);
   target at most 8 s. With ``--no-site`` the synthesis, which reads every case, is left to the next build
   that makes the site. Also the Anhui notebook as Papermill timed it (kernel reset, cells and saving);
4. the Anhui notebook running its own analysis, as a build worker runs a notebook (and as Papermill users
   run the template), timed inside that process: its kernel's start, the imports, and the notebook.

Each row is one run: on a shared machine the wall-clock time includes waiting for a core, so run it on
an idle machine. On a virtual machine the hypervisor may also take the cores away for a while: the
``stolen_s`` column is the processor time it took from this machine's cores during the row (Linux's
``steal`` count, /proc/stat; empty elsewhere). It shows whether a slow run was the hypervisor's doing; on
the machine these were first measured on, many slow runs were not (its speed also changes with nothing
stolen), so compare runs made back to back. The copy is deleted afterwards.
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


def stolen_seconds() -> float:
    """Processor seconds the hypervisor has taken from this machine's cores since boot (NaN if unknown)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, AttributeError):
        return float("nan")


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


_CHAPTER_SCRIPT = """
import json, os, sys, time
from primarycare.book import build as bb
from primarycare.case import config
job = next(j for j in bb.keyed_plan(config.load_cases(), None) if j.name == "case anhui")
err = os.dup(2)
t0 = time.perf_counter()
bb.start_warm_kernel()  # what a build worker does first: start its kernel, import the libraries in it
t1 = time.perf_counter()
res = bb.execute(job)
t2 = time.perf_counter()
os.dup2(err, 2)
kernel = bb._WARM.pop("kernel", None)
if kernel is not None:
    kernel.shutdown()
print(json.dumps({"ok": res["ok"], "error": res.get("error"), "kernel": t1 - t0, "notebook": t2 - t1}))
"""


def _chapter_alone(repo: Path) -> dict[str, float]:
    """The Anhui chapter as one build worker runs it, timed inside that process: the kernel's start and
    imports (:func:`primarycare.book.build.start_warm_kernel`) and the notebook
    (:func:`primarycare.book.build.execute`)."""
    from .. import paths

    env = {k: v for k, v in os.environ.items() if k != "PRIMARYCARE_DATA"}
    env.update(PYTHONPATH=str(repo), PRIMARYCARE_SEEDS=str(paths.SEEDS), PRIMARYCARE_REFERENCE=str(paths.REFERENCE))
    proc = subprocess.run([sys.executable, "-c", _CHAPTER_SCRIPT], cwd=repo, capture_output=True, text=True,
                          env=env)
    out = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else {}
    if not out.get("ok"):
        raise RuntimeError(f"the Anhui chapter failed in {repo}: {out.get('error') or proc.stderr[-2000:]}")
    return out


class _Stolen:
    """The stolen seconds between successive calls of :meth:`since` (the first from when it was made)."""

    def __init__(self) -> None:
        self.last = stolen_seconds()

    def since(self) -> float:
        now = stolen_seconds()
        out, self.last = now - self.last, now
        return out


def rows() -> list[dict]:
    """The builds (see the module docstring) as table rows: task, seconds, target_s, stolen_s."""
    out = []
    stolen = _Stolen()
    with tempfile.TemporaryDirectory(prefix="primarycare-bench-build-") as tmp:
        repo = copy_repository(Path(tmp))
        nan = float("nan")
        print("clean full build (both editions) ...", file=sys.stderr, flush=True)
        stolen.since()
        out.append({"task": "clean full build, both editions (28 notebooks, 2 Sphinx builds)", "seconds": _build(repo),
                    "target_s": TARGETS["clean"], "stolen_s": stolen.since()})
        print("rebuild with nothing changed ...", file=sys.stderr, flush=True)
        out.append({"task": "rebuild with nothing changed", "seconds": _build(repo), "target_s": nan,
                    "stolen_s": stolen.since()})
        print("one case chapter ...", file=sys.stderr, flush=True)
        chapter = _build(repo, "--only", "anhui", "--force", "--no-site", "--lang", "en")
        out.append({"task": "one case chapter: --only anhui --force --no-site --lang en (whole command)",
                    "seconds": chapter, "target_s": TARGETS["chapter"], "stolen_s": stolen.since()})
        out.append({"task": "  of which the Anhui notebook (Papermill's duration)",
                    "seconds": _papermill_seconds(repo / "book" / "cases" / "anhui.ipynb"), "target_s": nan,
                    "stolen_s": nan})
        both = _build(repo, "--only", "anhui", "--force", "--no-site")
        out.append({"task": "one case, both editions: --only anhui --force --no-site (whole command)",
                    "seconds": both, "target_s": TARGETS["chapter"], "stolen_s": stolen.since()})
        alone = _chapter_alone(repo)
        out.append({"task": "the Anhui notebook with its own analysis in a build worker: kernel, imports, notebook",
                    "seconds": alone["kernel"] + alone["notebook"], "target_s": TARGETS["chapter"],
                    "stolen_s": stolen.since()})
        out.append({"task": "  of which kernel start and imports", "seconds": alone["kernel"], "target_s": nan,
                    "stolen_s": nan})
    return out
