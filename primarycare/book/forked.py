"""What a process forked from one of the build's warmed servers does to behave as a new process.

Two servers fork work from a process that has imported it once: :mod:`primarycare.book.sphinx_runs`
(``jupyter-book`` runs) and :mod:`primarycare.book.kernel_forks` (Jupyter kernels). Each forked process
runs a program's entry point as that program would run in a new Python process: killed when its server
dies, Ctrl-C as Python's default, its output on the descriptors it was given, its exit code the program's
(an uncaught error printed to its standard error), and no return into the server's code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn


def exit_with(parent: int) -> None:
    """Have this (forked) process killed when the process ``parent`` dies (Linux; nothing elsewhere)."""
    from .build import die_with_parent

    preexec = die_with_parent(parent)
    if preexec is not None:
        preexec()


def as_new_process(server: int) -> None:
    """What a new Python process has that a fork of ``server`` has not, for signals: Python's Ctrl-C
    handler (a server ignores Ctrl-C, the build's to handle), and death with the server."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    exit_with(server)


def output_to(out: int, err: int, stdin: int | None = None) -> None:
    """Standard output and error on the descriptors ``out`` and ``err`` (and input on ``stdin``), with
    Python's streams on them (the inherited streams may write elsewhere: a test's capture)."""
    for fd, target in ((stdin, 0), (out, 1), (err, 2)):
        if fd is not None and fd != target:
            os.dup2(fd, target)
    if stdin is not None:
        sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115


def run_and_exit(main: Callable[[], object], at_exit: Callable[[], object] | None = None) -> NoReturn:
    """Run ``main`` and end the process with its exit code, as ``python -m program`` would: 0, the
    code of a ``SystemExit``, or 1 after printing an uncaught error. ``at_exit`` (the program's exit
    handlers) runs first; the server's are not run, nor its ``finally`` blocks (``os._exit``)."""
    code = 1
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported on the process's standard error, as a new process would
        import traceback

        traceback.print_exc()
    finally:
        if at_exit is not None:
            with contextlib.suppress(BaseException):
                at_exit()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def stop_server(proc: Any, ask: Callable[[], object]) -> None:
    """Stop the server process ``proc`` (a ``multiprocessing.Process``): ``ask`` it to (a message on its
    pipe), wait up to 10 s for it to end, then kill it."""
    with contextlib.suppress(OSError):
        ask()
    proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()
        proc.join()
