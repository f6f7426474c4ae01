"""The build benchmark (primarycare.bench.build_rows): what it copies and what it runs, without timing."""

from __future__ import annotations

import ast

from primarycare.bench import build_rows
from primarycare.paths import ROOT


def test_the_copy_is_a_clean_checkout(tmp_path):
    repo = build_rows.copy_repository(tmp_path)
    assert (repo / "scripts" / "build_book.py").exists() and (repo / "notebooks" / "case_study.ipynb").exists()
    # build output never travels with the copy, so its first build is a clean one
    for out in ("book/_build", "book/_generated", "book/cases", ".git"):
        assert not (repo / out).exists(), out
    assert (repo / "primarycare" / "book" / "kernels.py").read_bytes() == (
        ROOT / "primarycare" / "book" / "kernels.py").read_bytes()


def test_the_chapter_script_runs_the_builds_own_worker_steps():
    tree = ast.parse(build_rows._CHAPTER_SCRIPT)
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert {"start_warm_kernel", "execute", "keyed_plan"} <= calls
    assert build_rows.TARGETS == {"clean": 60.0, "chapter": 8.0}
