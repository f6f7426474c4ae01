"""jupyter-book runs forked from the build's server (primarycare.book.sphinx_runs) behave as new processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from primarycare.book import build as bb
from primarycare.book import sphinx_runs

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the server forks (POSIX only)")


def _tiny_book(root: Path) -> Path:
    """A two-page Jupyter Book with math, a note and a table of contents."""
    src = root / "src"
    src.mkdir()
    (src / "_config.yml").write_text("title: Tiny\nauthor: Tests\nexecute:\n  execute_notebooks: 'off'\n",
                                     encoding="utf-8")
    (src / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: page\n", encoding="utf-8")
    (src / "intro.md").write_text("# Intro\n\nSee [the page](page.md).\n", encoding="utf-8")
    (src / "page.md").write_text("# Page\n\n$$y_{it} = a_i + b_t$$\n\n```{note}\nA note.\n```\n", encoding="utf-8")
    return src


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_forked_run_builds_the_same_pages_as_a_new_process(tmp_path):
    src = _tiny_book(tmp_path)
    env = dict(os.environ)
    args = ["build", str(src), "--quiet", "--path-output"]
    alone = sphinx_runs.start([*args, str(tmp_path / "alone")], tmp_path, env, tmp_path / "alone.log")
    assert not alone.forked and alone.wait() == 0
    with sphinx_runs.forkserver():
        runs = [sphinx_runs.start([*args, str(tmp_path / f"forked{i}")], tmp_path, env, tmp_path / f"forked{i}.log")
                for i in range(2)]  # two at once, as the build runs the two editions
        assert all(r.forked for r in runs) and [r.wait() for r in runs] == [0, 0]
    want = _files(tmp_path / "alone" / "_build" / "html")
    assert "page.html" in want
    for i in range(2):
        assert _files(tmp_path / f"forked{i}" / "_build" / "html") == want


def test_a_failing_run_reports_its_exit_code_and_output(tmp_path):
    with sphinx_runs.forkserver():
        run = sphinx_runs.start(["build", str(tmp_path / "missing")], tmp_path, dict(os.environ), tmp_path / "out.log")
        assert run.forked and run.wait() == 2
    assert "does not exist" in (tmp_path / "out.log").read_text(encoding="utf-8")
    # the same as a new process says
    code = sphinx_runs.run(["build", str(tmp_path / "missing")], tmp_path, dict(os.environ), tmp_path / "new.log")
    assert code == 2 and "does not exist" in (tmp_path / "new.log").read_text(encoding="utf-8")


def test_each_run_has_its_own_directory_and_environment(tmp_path):
    """A run's working directory and environment are the ones asked for, not the server's."""
    (tmp_path / "a").mkdir()
    env = {**os.environ, "PC_MARK": "42"}
    with sphinx_runs.forkserver():
        run = sphinx_runs.start(["--version"], tmp_path / "a", env, tmp_path / "v.log")
        assert run.wait() == 0
    assert "Jupyter Book" in (tmp_path / "v.log").read_text(encoding="utf-8")
    assert "PC_MARK" not in os.environ and Path.cwd() != tmp_path / "a"  # this process is untouched


def _start_in_fork(queue, tmp: str) -> None:
    queue.put(sphinx_runs.start(["--version"], Path(tmp), dict(os.environ), Path(tmp) / "fork.log").forked)


def test_a_process_forked_from_the_build_starts_its_own_runs(tmp_path):
    """A worker forked from the build inherits the server's handle but must not use it (the pipe is the
    build's): its runs are new processes."""
    ctx = multiprocessing.get_context("fork")
    with sphinx_runs.forkserver():
        queue = ctx.Queue()
        proc = ctx.Process(target=_start_in_fork, args=(queue, str(tmp_path)))
        proc.start()
        forked = queue.get(timeout=60)
        proc.join(timeout=60)
    assert forked is False


def test_runs_of_a_stopped_server_fail_with_a_reason(tmp_path):
    with sphinx_runs.forkserver():
        server = sphinx_runs._SERVER["server"]
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.join(timeout=30)
        run = sphinx_runs.start(["--version"], tmp_path, dict(os.environ), tmp_path / "v.log")
        if run.forked:  # the request went into the pipe before the server's end was closed
            assert run.wait() == 1
            assert "stopped before it" in (tmp_path / "v.log").read_text(encoding="utf-8")
        else:  # or the pipe was already broken: a new process
            assert run.wait() == 0


def test_the_server_starts_only_when_jupyter_book_will_run(monkeypatch):
    monkeypatch.setattr(bb, "i18n_key", lambda lang="zh": "k")
    checked = {"_i18n_zh": "k"}
    assert bb.runs_jupyter_book(False, True, ("en", "zh"), checked)  # notebooks run, then the sites
    assert not bb.runs_jupyter_book(True, True, ("en", "zh"), checked)  # --no-site, the check's answer cached
    assert not bb.runs_jupyter_book(False, False, ("en", "zh"), checked)  # nothing executed (maybe no Sphinx)
    assert bb.runs_jupyter_book(True, True, ("en", "zh"), {})  # the catalogue check will run
    assert not bb.runs_jupyter_book(True, True, ("en",), {})  # no Chinese edition: no check


def test_ctrl_c_is_left_to_the_build(tmp_path):
    """The server ignores SIGINT (the build stops it); a run handles it as a new Python process would."""
    with sphinx_runs.forkserver():
        server = sphinx_runs._SERVER["server"]
        run = sphinx_runs.start(["--version"], tmp_path, dict(os.environ), tmp_path / "v.log")
        assert run.wait() == 0
        os.kill(server.proc.pid, signal.SIGINT)
        again = sphinx_runs.start(["--version"], tmp_path, dict(os.environ), tmp_path / "w.log")
        assert again.forked and again.wait() == 0 and server.proc.is_alive()
    assert not server.proc.is_alive()


def test_sphinx_warnings_are_picked_out_of_the_output():
    out = ("Running Jupyter-Book\n\x1b[91m/b/cases/data.ipynb:40002: WARNING: download file not readable: "
           "/b/_generated/data_downloads/panel.csv\x1b[39;49;00m\nbuild succeeded, 1 warning.\n")
    assert bb.sphinx_warnings(out) == [
        "/b/cases/data.ipynb:40002: WARNING: download file not readable: /b/_generated/data_downloads/panel.csv"]
    assert bb.sphinx_warnings("build succeeded.\n") == []
