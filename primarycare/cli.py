"""Shared behaviour of the command-line scripts: readable errors, clean interrupts, atomic writes.

Every script's ``main`` is wrapped by :func:`run`: a :class:`~primarycare.errors.UserInputError` is
printed as one paragraph on stderr with exit code 2 (no traceback); Ctrl-C prints one line and exits
130. Outputs are written to a temporary path and moved into place (:func:`atomic_write`), so an
interrupted run never leaves a half-written file where a good one was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import UserInputError


def run(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> None:
    """Run a script's ``main(argv)`` and turn user mistakes into a message and a non-zero exit."""
    try:
        code = main(argv)
    except UserInputError as err:
        print("Error: " + textwrap.fill(str(err), width=100, subsequent_indent="  "), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("Interrupted: nothing was changed in the outputs of this run.", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator:
    """Open a temporary file beside ``path``; on success move it over ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        kwargs = {} if "b" in mode else {"encoding": encoding}
        with open(tmp, mode, **kwargs) as fh:
            yield fh
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def replace_dir(staged: str | os.PathLike, target: str | os.PathLike) -> None:
    """Swap a fully written directory ``staged`` into ``target``, keeping the old one until the end."""
    staged, target = Path(staged), Path(target)
    backup = target.with_name(f".{target.name}.old")
    if backup.exists():
        shutil.rmtree(backup)
    if target.exists():
        os.replace(target, backup)
    os.replace(staged, target)
    if backup.exists():
        shutil.rmtree(backup)
