"""One command line for the project: ``python -m primarycare <command>`` (or ``primarycare <command>``).

Commands: ``build`` (the whole book), ``case`` (one provincial case, added to the book), ``import``
(real data into the panel), ``simulate`` (the teaching panel), ``bench`` (speed against the peers).
Each has ``--help``. The scripts in ``scripts/`` call the same functions.

Every command runs through :func:`run`: a :class:`~primarycare.errors.UserInputError` is printed as
one paragraph on stderr with exit code 2 (no traceback); Ctrl-C prints one line and exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
from collections.abc import Callable

from .errors import UserInputError

# command -> (module with main(argv), one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("primarycare.book.build", "build the whole book: run the chapters, write the TOC, build the site"),
    "case": ("primarycare.book.newcase", "run one provincial case (new province, settings or data) into the book"),
    "import": ("primarycare.data.importer", "import real data (NBS exports, yearbook tables, tidy CSVs)"),
    "simulate": ("primarycare.data.simulate", "write the simulated teaching panel and its planted effects"),
    "bench": ("primarycare.bench.suite", "time the estimators against the peer packages and print a table"),
}


def run(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> None:
    """Run a command's ``main(argv)`` and turn user mistakes into a message and a non-zero exit."""
    try:
        code = main(argv)
    except UserInputError as err:
        print("Error: " + textwrap.fill(str(err), width=100, subsequent_indent="  "), file=sys.stderr)
        _quick_exit(2)
    except KeyboardInterrupt:
        print("Interrupted: nothing was changed in the outputs of this run.", file=sys.stderr)
        sys.exit(130)
    _quick_exit(code or 0)


def _quick_exit(code: int) -> None:
    """``sys.exit(code)`` without Python's last garbage collections over every object the command made
    (pandas, Papermill and the rest: 0.2 s of a build's one-chapter run, freed by the system anyway).
    Exit handlers still run and streams are still flushed; the commands close the files they write."""
    import gc

    gc.freeze()
    sys.exit(code)


#: Commands that compute estimates in this process or in processes forked from it: numpy's BLAS is kept to
#: one thread there, as in the notebooks' kernels (primarycare.book.build), so both compute the same bits.
SINGLE_THREADED = ("build", "case")


def command(name: str) -> Callable[[list[str] | None], int | None]:
    """The ``main`` function of command ``name`` (imported on demand, so ``--help`` stays fast)."""
    if name in SINGLE_THREADED and "numpy" not in sys.modules:  # read once, when numpy loads its BLAS
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"
    return importlib.import_module(COMMANDS[name][0]).main


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="primarycare",
        description="Primary health care reform in China: build the book, run a case, import data.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Commands:\n" + "\n".join(f"  {k:<10} {v[1]}" for k, v in COMMANDS.items())
        + "\n\nRun 'primarycare COMMAND --help' for a command's options.")
    ap.add_argument("command", choices=list(COMMANDS), metavar="COMMAND", help="one of: " + ", ".join(COMMANDS))
    ap.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return ap


def main(argv: list[str] | None = None) -> int | None:
    """Dispatch ``argv`` (default: the process's arguments) to the named command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        _parser().print_help()
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        close = [k for k in COMMANDS if k.startswith(argv[0][:2])]
        raise UserInputError(f"Unknown command {argv[0]!r}. Expected one of: {', '.join(COMMANDS)}"
                             + (f" (did you mean {close[0]}?)" if close else "") + ". Run 'primarycare --help'.")
    return command(argv[0])(argv[1:])


def entry() -> None:
    """Console-script entry point (``primarycare``)."""
    run(main)
