"""``jupyter-book`` runs forked from one process that has imported Sphinx once.

A clean build runs ``jupyter-book`` three times: the Chinese edition's message extraction (the catalogue
check), then the two editions' sites, at once. Started as new Python processes, each imports Sphinx, the
book's extensions and the Chinese word splitter (jieba, whose dictionary takes most of a second to load)
again: about 2 s of a core per run, and the Chinese site build is the last thing the book waits for.

:func:`forkserver` starts a process that imports them once (at the start of the build, while the other
work starts) and forks every run from there, like :mod:`multiprocessing`'s forkserver: the same command,
in a process of its own (its own directory, environment, and output file), killed when the server dies,
which dies with the build. Without a server (or if it died), :func:`start` runs the command as a new
process, as before. The pages are the same either way, byte for byte (``tests/test_sphinx_runs.py``).
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from . import forked

# what every run imports: jupyter-book's command and its default extensions (jupyter_book.config), the
# book's own (book/_config.yml: sphinx.extra_extensions), the HTML and gettext builders, the themes and
# the Chinese search language. A module missing here is imported by the run itself.
WARM_MODULES = (
    "jupyter_book.cli.main", "jupyter_book.sphinx", "jupyter_book.config", "sphinx.application",
    "sphinx.builders.html", "sphinx.builders.gettext", "sphinx.search.zh", "sphinx_jupyterbook_latex",
    "sphinx_multitoc_numbering", "pydata_sphinx_theme", "myst_parser.mdit_to_docutils.base",
)


def _book_extensions() -> list[str]:
    """jupyter-book's default extensions and the book's extra ones (book/_config.yml)."""
    import yaml

    from ..paths import ROOT

    names: list[str] = []
    with contextlib.suppress(Exception):
        from jupyter_book.config import get_default_sphinx_config

        names += list(get_default_sphinx_config()["extensions"])
    with contextlib.suppress(Exception):
        cfg = yaml.safe_load((ROOT / "book" / "_config.yml").read_text(encoding="utf-8")) or {}
        names += list((cfg.get("sphinx") or {}).get("extra_extensions") or [])
    return names


def warm() -> None:
    """Import what every run imports, and load jieba's dictionary (what Sphinx's Chinese search uses)."""
    for name in (*WARM_MODULES, *_book_extensions()):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        import jieba

        jieba.setLogLevel(60)  # quiet: its "loading model" lines would go to the build's terminal
        jieba.initialize()


def _child(args: list[str], cwd: str, env: dict[str, str], log: str, server: int) -> NoReturn:
    """In the forked process: ``jupyter-book args`` in ``cwd`` with ``env``, its output to ``log``; exits."""

    def main() -> None:
        forked.as_new_process(server)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        forked.output_to(fd, fd)
        os.close(fd)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["jupyter-book", *args]
        from jupyter_book.cli.main import main as jupyter_book

        jupyter_book.main(args=list(args), prog_name="jupyter-book")

    forked.run_and_exit(main)


def _serve(conn: Any, parent: int) -> None:
    """The server: warm up, then fork a run per request and send back each run's exit code. Ctrl-C (sent
    to the terminal's whole process group) is the build's to handle: the build then stops the server."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    forked.exit_with(parent)
    warm()
    me = os.getpid()
    runs: dict[int, int] = {}  # pid -> request id
    while True:
        if conn.poll(0.05 if runs else None):
            try:
                msg = conn.recv()
            except EOFError:
                msg = None
            if msg is None:
                break
            rid, args, cwd, env, log = msg
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(args, cwd, env, log, me)
            runs[pid] = rid
        while runs:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            conn.send((runs.pop(pid), os.waitstatus_to_exitcode(status)))
    for pid in runs:  # asked to stop with runs going (the build failed): they stop with the server
        with contextlib.suppress(OSError):
            os.kill(pid, 9)


class _Server:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(theirs, os.getpid()), daemon=True, name="primarycare-jupyter-book-runs")
        self.proc.start()
        theirs.close()
        self._send, self._recv = threading.Lock(), threading.Lock()
        self._codes: dict[int, int] = {}
        self._next = 0
        self.owner = os.getpid()

    def submit(self, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> int | None:
        """The request's id, or None if the server is gone."""
        with self._send:
            rid, self._next = self._next, self._next + 1
            try:
                self.conn.send((rid, list(args), str(cwd), dict(env), str(log)))
            except OSError:
                return None
        return rid

    def wait(self, rid: int) -> int | None:
        """The exit code of request ``rid``; None if the server stopped first."""
        with self._recv:
            while rid not in self._codes:
                try:
                    got, code = self.conn.recv()
                except (EOFError, OSError):
                    return None
                self._codes[got] = code
            return self._codes.pop(rid)

    def close(self) -> None:
        def ask() -> None:
            with self._send:
                self.conn.send(None)

        forked.stop_server(self.proc, ask)
        self.conn.close()


_SERVER: dict[str, _Server] = {}


@contextlib.contextmanager
def forkserver() -> Iterator[None]:
    """Runs started within (by this process) are forked from one warmed process; stopped on leaving.

    Start it before any thread does (the server is forked from this process). Where processes cannot
    fork (Windows), nothing is started: the runs are new processes."""
    if not hasattr(os, "fork"):
        yield
        return
    server = _Server()
    _SERVER["server"] = server
    try:
        yield
    finally:
        _SERVER.pop("server", None)
        server.close()


class Run:
    """A started ``jupyter-book`` run; :meth:`wait` gives its exit code (its output is in its log file)."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        server = _SERVER.get("server")
        self._server = server if server is not None and server.owner == os.getpid() else None  # not a fork's
        self._rid = self._server.submit(args, cwd, env, log) if self._server is not None else None
        self._log = log
        self._proc = None
        if self._rid is None:
            from .build import die_with_parent

            with open(log, "w", encoding="utf-8") as out:
                self._proc = subprocess.Popen(["jupyter-book", *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                              env=env, preexec_fn=die_with_parent())

    @property
    def forked(self) -> bool:
        """Whether the run was forked from the server (else it is a new process)."""
        return self._rid is not None

    def wait(self) -> int:
        if self._proc is not None:
            return self._proc.wait()
        assert self._server is not None and self._rid is not None
        code = self._server.wait(self._rid)
        if code is None:
            with open(self._log, "a", encoding="utf-8") as out:
                out.write("\nThe process the run was forked from (primarycare.book.sphinx_runs) stopped before it.\n")
            return 1
        return code


def start(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> Run:
    """Start ``jupyter-book args`` in ``cwd`` with the environment ``env``, its output (stdout and stderr)
    to the file ``log``: forked from the server when one runs (:func:`forkserver`), else a new process."""
    return Run(args, cwd, env, log)


def run(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> int:
    """:func:`start` and wait: the exit code."""
    return start(args, cwd, env, log).wait()
