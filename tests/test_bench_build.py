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


def test_stolen_time_is_read_from_the_kernel_counters(monkeypatch, tmp_path):
    import os

    s = build_rows.stolen_seconds()
    assert s != s or s >= 0  # NaN where /proc/stat is missing
    fake = tmp_path / "stat"
    fake.write_text("cpu  10 0 5 100 0 0 0 250 0 0\ncpu0 1 2 3\n", encoding="ascii")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: real_open(fake if f == "/proc/stat" else f, *a, **k))
    assert build_rows.stolen_seconds() == 250 / os.sysconf("SC_CLK_TCK")
    counter = build_rows._Stolen()
    fake.write_text("cpu  10 0 5 100 0 0 0 400 0 0\n", encoding="ascii")
    assert counter.since() == 150 / os.sysconf("SC_CLK_TCK") and counter.since() == 0
