"""Safe writes: a file or a folder is replaced in one step, never left half-written; crash-safe multi-file commits.

Outputs go to a temporary path beside the target and are moved into place only when complete, so an
interrupted run never leaves a half-written file where a good one was.

For a run that replaces several outputs together (a case chapter, its results, the table of contents,
the site), :class:`Transaction` keeps a write-ahead journal: before anything is moved, the target and the
path its current content is moved (or copied) to are written to a JSON journal, atomically and fsync'd.
A failure or an interrupt rolls back from memory; a run killed outright (SIGKILL, power loss of the
process) leaves the journal, and :func:`recover` puts every target back from it at the start of the next
run. :func:`exclusive_lock` keeps two such runs from interleaving (``fcntl.flock``: the kernel releases
the lock when its holder dies, so a lock file left by a dead process never blocks).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import filecmp
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                 durable: bool = False) -> Iterator:
    """Open a temporary file beside ``path``; on success move it over ``path`` in one step.

    The temporary file is named ``.<name>.<random>.tmp`` (:func:`stray_temporaries` finds those left by a
    killed process). ``durable`` fsyncs the file before the move and the folder after it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        kwargs = {} if "b" in mode else {"encoding": encoding}
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        if durable:
            _fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def stray_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files :func:`atomic_write` left beside ``path`` when its process was killed."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []


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


def recover_replaced(folder: str | os.PathLike) -> list[Path]:
    """Finish :func:`replace_dir` swaps in ``folder`` that a killed process left half done.

    ``.<name>.old`` with no ``<name>`` beside it: the old folder had been moved aside but the new one not
    yet moved in, so the old one is put back. With ``<name>`` present the swap was complete and the
    leftover is deleted. Returns the folders put back.
    """
    folder = Path(folder)
    restored = []
    if not folder.is_dir():
        return restored
    for old in sorted(folder.glob(".*.old")):
        target = folder / old.name[1:-len(".old")]
        if not old.is_dir():
            continue
        if target.exists():
            shutil.rmtree(old)
        else:
            os.replace(old, target)
            restored.append(target)
    return restored


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _lexists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


@contextlib.contextmanager
def signals_ignored(*signums: int) -> Iterator[None]:
    """Ignore ``signums`` (default SIGINT, SIGTERM) for the block: a restore must not be cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = signums or (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, signal.SIG_IGN) for s in signums}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


# --------------------------------------------------------------------------------------------------
# lock


class LockBusy(Exception):
    """The lock is held by another process; ``holder`` is what it wrote in the lock file (may be empty)."""

    def __init__(self, path: Path, holder: dict[str, Any]):
        super().__init__(f"{path} is held by {holder or 'another process'}")
        self.path = path
        self.holder = holder


def read_holder(path: str | os.PathLike) -> dict[str, Any]:
    """What the process holding (or last holding) the lock wrote in it: pid, command, started."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace").strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, command: str, wait: bool = False,
                   on_wait: Callable[[dict[str, Any]], None] | None = None) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``path`` for the block, with our pid and ``command`` written in it.

    If another process holds it: raise :class:`LockBusy` at once, or with ``wait`` call ``on_wait`` with
    the holder's details and block until it is released. The kernel releases a flock when the process
    holding it exits in any way (including SIGKILL), so a lock file left by a dead process does not
    block: only a live holder does. The file itself is never deleted (deleting a lock file races with a
    process that has just opened it); it is emptied when the lock is released.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    acquired = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = {}
            for _ in range(10):  # the holder writes its details right after taking the lock
                holder = read_holder(path)
                if holder:
                    break
                time.sleep(0.05)
            if not wait:
                raise LockBusy(path, holder) from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        acquired = True
        info = {"pid": os.getpid(), "command": command,
                "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace"), 0)
        os.fsync(fd)
        yield
    finally:
        if acquired:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # while still holding it: nobody reads a stale holder afterwards
        os.close(fd)  # releases the lock


# --------------------------------------------------------------------------------------------------
# journaled transaction


class RollbackIncomplete(OSError):
    """A rollback could not put everything back; the journal is kept for the next run's :func:`recover`."""


def _move_back(backup: Path, target: Path) -> None:
    try:
        os.replace(backup, target)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        with atomic_write(target, "wb") as fh, open(backup, "rb") as src:  # another file system
            shutil.copyfileobj(src, fh)
        shutil.copystat(backup, target)


def _undo(entries: list[dict[str, Any]]) -> int:
    """Put back what the journal ``entries`` replaced, newest first; the number of targets restored.

    For each entry: a backup that exists means the target had been moved (or copied) aside, so whatever
    is at the target now (a new or half-placed output) is removed and the backup moved back. No backup
    file means the target was never touched (the move had not happened) and is left alone, and so is a
    kept file whose content still equals its backup (nothing to write: this also works on a disk that
    has become read-only). An entry without a backup is a target that did not exist before: anything
    there now is removed.
    """
    restored = 0
    for entry in reversed(entries):
        target = Path(entry["target"])
        backup = Path(entry["backup"]) if entry.get("backup") else None
        if backup is None:
            if _lexists(target):
                _remove(target)
                restored += 1
        elif _lexists(backup):
            # a kept file never rewritten (or rewritten identically) needs nothing put back, even on a
            # read-only disk
            unchanged = (entry.get("kind") == "keep" and target.is_file() and not target.is_symlink()
                         and filecmp.cmp(backup, target, shallow=False))
            if not unchanged:
                if _lexists(target) and (target.is_dir() or backup.is_dir()):
                    _remove(target)  # a file is replaced in one step by the move; a folder is not
                _move_back(backup, target)
                restored += 1
        if entry.get("kind") == "keep":
            for tmp in stray_temporaries(target):  # a rewrite of the target cut short
                tmp.unlink()
    return restored


class Transaction:
    """Move staged outputs into place with a write-ahead journal, so a failure, an interrupt or a kill is undone.

    ``place(staged, target)`` moves a finished file or folder over ``target``; ``keep(target)`` copies a
    file that is then rewritten in place. Before either touches anything, the journal (``journal``, JSON,
    written atomically and fsync'd) lists every target so far with the path its current content goes to
    (under ``backup_dir``, which must be on the targets' file system). ``rollback()`` puts everything
    back; ``commit()`` deletes the journal (from then on the new outputs stand). If the process is killed
    in between, :func:`recover` does the rollback at the start of the next run.

    ``on_step(name)`` is called after each step (``"1"``, ``"2"``, ...) and between moving a target aside
    and moving its replacement in (``"1-"``): a testing hook.
    """

    def __init__(self, journal: str | os.PathLike, backup_dir: str | os.PathLike, command: str = "",
                 on_step: Callable[[str], None] | None = None) -> None:
        self.journal = Path(journal)
        self.backup_dir = Path(backup_dir)
        self.command = command
        self.on_step = on_step or (lambda name: None)
        self.entries: list[dict[str, Any]] = []
        if self.journal.exists():
            raise FileExistsError(errno.EEXIST, "an earlier run's journal has not been recovered", str(self.journal))

    def _log(self, kind: str, target: Path) -> Path | None:
        """Journal the next step (target and where its current content goes); return that backup path."""
        backup = self.backup_dir / f"{len(self.entries) + 1}_{target.name}" if _lexists(target) else None
        self.entries.append({"kind": kind, "target": str(target), "backup": None if backup is None else str(backup)})
        record = {"version": 1, "pid": os.getpid(), "command": self.command, "backup_dir": str(self.backup_dir),
                  "entries": self.entries}
        with atomic_write(self.journal, durable=True) as fh:
            json.dump(record, fh, indent=1)
        if backup is not None:
            backup.parent.mkdir(parents=True, exist_ok=True)
        return backup

    def place(self, staged: str | os.PathLike, target: str | os.PathLike) -> None:
        """Move the finished ``staged`` file or folder over ``target`` (the old one is kept as the backup)."""
        staged, target = Path(staged), Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        backup = self._log("place", target)
        n = len(self.entries)
        if backup is not None:
            os.replace(target, backup)
            self.on_step(f"{n}-")
        os.replace(staged, target)
        self.on_step(str(n))

    def keep(self, target: str | os.PathLike) -> None:
        """Copy ``target`` aside before it is rewritten in place (e.g. with :func:`atomic_write`)."""
        target = Path(target)
        backup = self._log("keep", target)
        if backup is not None:
            part = backup.with_name(backup.name + ".part")  # the backup exists only once complete
            shutil.copy2(target, part)
            os.replace(part, backup)
        self.on_step(str(len(self.entries)))

    def rollback(self) -> None:
        """Put every target back; the journal is deleted only if everything was restored."""
        with signals_ignored():
            try:
                _undo(self.entries)
            except OSError as e:
                raise RollbackIncomplete(e.errno, f"{e.strerror}; the journal {self.journal} is kept and the next "
                                         "run restores the previous outputs from it", e.filename) from e
            if self.journal.exists():
                self.journal.unlink()
                _fsync_dir(self.journal.parent)

    def commit(self) -> None:
        """The new outputs stand: delete the journal (the backups can then be deleted)."""
        with signals_ignored():
            if self.journal.exists():
                self.journal.unlink()
                _fsync_dir(self.journal.parent)


def recover(journal: str | os.PathLike) -> dict[str, Any] | None:
    """Roll back the transaction a killed process left in ``journal``; None if there is none.

    Returns the journal's record (pid, command, entries) with ``restored``, the number of targets put
    back or removed. The journal is deleted only after every target was restored, so a recovery that
    fails (a read-only disk, say) can be run again. The caller deletes the backup folder afterwards.
    """
    journal = Path(journal)
    for tmp in stray_temporaries(journal):  # a journal update cut short: the previous journal stands
        tmp.unlink()
    if not journal.exists():
        return None
    try:
        record = json.loads(journal.read_text(encoding="utf-8"))
        entries = list(record["entries"])
    except (ValueError, KeyError, TypeError):
        # written atomically, so a broken journal was not written by Transaction: leave it for a person
        raise OSError(errno.EINVAL, "the journal of an interrupted run cannot be read", str(journal)) from None
    with signals_ignored():
        record["restored"] = _undo(entries)
        journal.unlink()
        _fsync_dir(journal.parent)
    return record


# --------------------------------------------------------------------------------------------------
# readable file-system errors


def versions(*paths: str | os.PathLike) -> tuple:
    """Each file's path, modification time (ns) and size (just the path when it is missing): a key for a
    cache that must be recomputed when one of the files changes."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            out.append((str(p),))
        else:
            out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


def describe_os_error(e: OSError) -> str:
    """One sentence saying what went wrong with which file, and what to do (for a user-facing message)."""
    name = e.filename if e.filename is not None else "a file"
    if isinstance(name, bytes):
        name = name.decode("utf-8", "backslashreplace")
    name = str(name).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    code = e.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (f"the disk is full (no space left on the device) while writing {name}. Free some disk space "
                "and run again")
    if code == errno.EROFS:
        return f"{name} is on a read-only file system. Run from a writable copy of the repository"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied for {name}. Make it (and its folder) writable by you and run again"
    if code == errno.ENAMETOOLONG:
        return f"the file name is too long for the file system: {name}. Use a shorter name"
    if code == errno.EISDIR:
        return f"{name} is a folder where a file was expected"
    if code == errno.ENOTDIR:
        return f"a file is in the way where a folder was expected: {name}"
    return f"{e.strerror or type(e).__name__}: {name}"
