"""Crash safety of the one-case workflow (primarycare.book.newcase) and of its building blocks (primarycare.files).

Three levels:

* the journaled :class:`~primarycare.files.Transaction` on a small tree of files and folders: a process
  running it is killed with SIGKILL at every step, and :func:`~primarycare.files.recover` must give back
  the tree exactly (sha256 of every file); the ``flock`` lock of the killed process must be free at once;
* the case commit in-process, with the notebook replaced by a fake that writes staged outputs: a full
  disk (ENOSPC) at every ``os.replace`` and every ``shutil.copy2`` of the commit, and a read-only
  ``data/cases.yml``, must leave every file as it was and give one readable paragraph;
* the real command line (``python scripts/run_case.py``) in a throwaway copy of the repository (fixtures
  of tests/test_bad_inputs.py), killed at named stages through ``PRIMARYCARE_TEST_PAUSE_AT``: after
  validation, mid-notebook, mid-commit and with everything placed; SIGTERM mid-commit; a second run at
  the same time. The next run (of run_case or of the build) must restore the previous book exactly:
  chapters, results, TOC, site and data/cases.yml hashed before and after.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from test_bad_inputs import assert_clean_error, env, make_repo, run_cli, state

from primarycare.book import build as bb
from primarycare.book import newcase
from primarycare.case import config as cases_mod
from primarycare.errors import UserInputError
from primarycare.files import (
    RollbackIncomplete,
    Transaction,
    exclusive_lock,
    read_holder,
    recover,
)

REPO = Path(__file__).resolve().parent.parent
JS = ["--province", "江苏", "--reform-year", "2019", "--reform-name", "Test reform", "--permutations", "5", "--no-site"]
ANHUI = ["--province", "Anhui", "--permutations", "5", "--no-site"]  # re-run of a case the book already has
BAD_YEAR = ["--province", "江苏", "--reform-year", "2030", "--reform-name", "x"]  # refused by validation


def tree_state(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------------
# 1. the journaled transaction, killed at every step

DRIVER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from primarycare.files import Transaction, atomic_write, exclusive_lock
    root, pause = Path(sys.argv[2]), sys.argv[3]
    def step(name):
        if name == pause:
            print("PAUSED at " + name, flush=True)
            time.sleep(600)
    out, stage = root / "out", root / "stage"
    with exclusive_lock(root / "lock", "driver"):
        tx = Transaction(root / "journal.json", stage / "backup", command="driver", on_step=step)
        tx.place(stage / "new_dir", out / "dir")          # 1: a folder over a folder
        tx.place(stage / "new_file.txt", out / "file.txt")  # 2: a file over a file
        tx.place(stage / "added.txt", out / "added.txt")    # 3: a file that did not exist
        tx.keep(out / "kept.txt")                           # 4: a file rewritten in place
        with atomic_write(out / "kept.txt") as fh:
            fh.write("rewritten")
        tx.keep(out / "created.txt")                        # 5: a file created in place
        with atomic_write(out / "created.txt") as fh:
            fh.write("created")
        tx.place(stage / "new_dir2", out / "dir2")          # 6: a folder that did not exist
        step("done")
        tx.commit()
    print("COMMITTED", flush=True)
""")
STEPS = ["1-", "1", "2-", "2", "3", "4", "5", "6", "done"]


def _small_tree(root: Path) -> None:
    out, stage = root / "out", root / "stage"
    (out / "dir" / "sub").mkdir(parents=True)
    (out / "dir" / "a.txt").write_text("old a")
    (out / "dir" / "sub" / "b.txt").write_text("old b")
    (out / "file.txt").write_text("old file")
    (out / "kept.txt").write_text("old kept")
    (out / "untouched.txt").write_text("never part of the transaction")
    (stage / "new_dir").mkdir(parents=True)
    (stage / "new_dir" / "a.txt").write_text("new a")
    (stage / "new_file.txt").write_text("new file")
    (stage / "added.txt").write_text("added")
    (stage / "new_dir2").mkdir()
    (stage / "new_dir2" / "c.txt").write_text("new c")


def _driver(root: Path, pause: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(REPO), str(root), pause], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_transaction_without_kill_commits_the_new_tree(tmp_path):
    """The control: run to the end, the outputs are the new ones and no journal is left."""
    _small_tree(tmp_path)
    before = tree_state(tmp_path / "out")
    out, err = _driver(tmp_path, "none").communicate(timeout=60)
    assert "COMMITTED" in out, err
    after = tree_state(tmp_path / "out")
    assert after != before
    assert (tmp_path / "out" / "kept.txt").read_text() == "rewritten"
    assert (tmp_path / "out" / "dir" / "a.txt").read_text() == "new a"
    assert not (tmp_path / "out" / "dir" / "sub").exists()
    assert (tmp_path / "out" / "created.txt").read_text() == "created"
    assert not (tmp_path / "journal.json").exists()
    assert recover(tmp_path / "journal.json") is None  # nothing to recover after a commit


@pytest.mark.parametrize("pause", STEPS)
def test_transaction_killed_at_each_step_is_recovered_exactly(tmp_path, pause):
    _small_tree(tmp_path)
    before = tree_state(tmp_path / "out")
    proc = _driver(tmp_path, pause)
    line = proc.stdout.readline()
    assert line.startswith(f"PAUSED at {pause}"), line + proc.stderr.read()
    assert (tmp_path / "journal.json").exists()  # written before anything was moved
    if pause == "1-":  # the worst moment: the old folder moved aside, the new one not yet in
        assert not (tmp_path / "out" / "dir").exists()
    proc.kill()  # SIGKILL: no handler, no finally
    proc.wait()
    assert tree_state(tmp_path / "out") != before  # every step has changed something by now
    # flock is released by the kernel at death: the lock is free at once, whatever its file says
    assert read_holder(tmp_path / "lock")["command"] == "driver"
    with exclusive_lock(tmp_path / "lock", "next run"):
        assert read_holder(tmp_path / "lock")["pid"] == os.getpid()
        record = recover(tmp_path / "journal.json")
    assert record is not None and record["command"] == "driver" and record["restored"] >= 1
    assert tree_state(tmp_path / "out") == before
    assert not (tmp_path / "journal.json").exists()
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left beside the outputs
    assert read_holder(tmp_path / "lock") == {}  # emptied on release


def test_rollback_that_fails_keeps_the_journal_for_the_next_run(tmp_path, monkeypatch):
    """A read-only disk during the rollback: the journal stays, and recover() later restores everything."""
    _small_tree(tmp_path)
    out, stage = tmp_path / "out", tmp_path / "stage"
    before = tree_state(out)
    tx = Transaction(tmp_path / "journal.json", stage / "backup")
    tx.place(stage / "new_dir", out / "dir")
    tx.place(stage / "new_file.txt", out / "file.txt")
    real = os.replace

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system", str(dst))

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(RollbackIncomplete) as info:
        tx.rollback()
    assert "journal" in str(info.value) and info.value.errno == errno.EROFS
    assert (tmp_path / "journal.json").exists()
    monkeypatch.setattr(os, "replace", real)
    assert tree_state(out) != before
    assert recover(tmp_path / "journal.json")["restored"] == 2
    assert tree_state(out) == before


def test_lock_refuses_a_second_holder_and_is_free_after_sigkill(tmp_path, monkeypatch):
    """A live holder refuses the book lock with its pid and command; killed with SIGKILL, it blocks nothing."""
    monkeypatch.setattr(bb, "LOCK_FILE", tmp_path / "_generated" / ".book.lock")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        sys.path.insert(0, sys.argv[1])
        from primarycare.files import exclusive_lock
        with exclusive_lock(sys.argv[2], "python scripts/run_case.py --province Hebei"):
            print("HELD", flush=True)
            time.sleep(600)
    """), str(REPO), str(bb.LOCK_FILE)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "HELD"
        with pytest.raises(UserInputError) as info, bb.book_lock():
            pass
        msg = str(info.value)
        assert f"pid {holder.pid}" in msg and "run_case.py --province Hebei" in msg and "--wait" in msg
        assert "\n" not in msg
    finally:
        holder.kill()
        holder.wait()
    assert read_holder(bb.LOCK_FILE)["pid"] == holder.pid  # a stale lock file from a dead process ...
    with bb.book_lock(command="the next run"):  # ... does not block
        assert read_holder(bb.LOCK_FILE)["command"] == "the next run"


def test_stale_lock_file_from_a_dead_process_does_not_block(tmp_path):
    """A lock file naming a process that no longer exists (no flock held): the next run goes ahead."""
    repo = make_repo(tmp_path / "repo")
    lock = repo / "book" / "_generated" / ".book.lock"
    lock.write_text(json.dumps({"pid": 2 ** 22 + 7, "command": "python scripts/run_case.py --province Hebei"}))
    proc = run_cli(repo, *BAD_YEAR)
    assert_clean_error(proc, "2030", "after the panel")  # validation ran: the lock was taken
    assert "Another run" not in proc.stderr


# --------------------------------------------------------------------------------------------------
# 2. the case commit in-process: full disk, read-only data/cases.yml


@pytest.fixture()
def book(tmp_path, monkeypatch) -> Path:
    """A previous build in tmp_path (chapters and results of anhui, zhejiang and an unsaved jiangsu run, a TOC,
    a site page, a build cache and a copy of data/cases.yml), the book paths pointed at it, and a fake
    notebook run (the real one is covered by the command-line tests below)."""
    b = tmp_path / "book"
    gen = b / "_generated"
    for name, value in {"BOOK": b, "GENERATED": gen, "RESULTS": gen / "results", "CACHE_FILE": gen / "build_cache.json",
                        "SITE": b / "_build" / "html", "SITE_WORK": gen / "site", "STAGING": gen / "staging",
                        "LOCK_FILE": gen / ".book.lock", "JOURNAL": gen / ".transaction.json"}.items():
        monkeypatch.setattr(bb, name, value)
    cases_file = tmp_path / "data" / "cases.yml"
    cases_file.parent.mkdir()
    shutil.copy2(REPO / "data" / "cases.yml", cases_file)
    monkeypatch.setattr(cases_mod, "CASES_FILE", cases_file)
    for cid in ("anhui", "zhejiang", "jiangsu"):
        (b / "cases").mkdir(parents=True, exist_ok=True)
        (b / "cases" / f"{cid}.ipynb").write_text(f'{{"previous": "{cid}"}}\n')
        (gen / "results" / cid).mkdir(parents=True)
        (gen / "results" / cid / "results.json").write_text('{"previous": true}\n')
    (b / "cases" / "synthesis.ipynb").write_text('{"previous": "synthesis"}\n')
    (b / "_toc.yml").write_text("# previous TOC\n")
    (b / "_build" / "html").mkdir(parents=True)
    (b / "_build" / "html" / "index.html").write_text("<html>previous site</html>\n")
    (gen / "build_cache.json").write_text('{"case anhui": "previous key"}\n')

    def fake_execute(plan, stage):
        cid = plan.config.case_id
        (stage / "cases").mkdir(parents=True)
        (stage / "cases" / f"{cid}.ipynb").write_text('{"new": true}\n')
        (stage / "results" / cid).mkdir(parents=True)
        (stage / "results" / cid / "results.json").write_text('{"new": true}\n')

    def fake_synthesis(stage, case_ids):
        (stage / "synthesis").mkdir()
        (stage / "synthesis" / "synthesis.ipynb").write_text(json.dumps({"new": case_ids}))
        return stage / "synthesis" / "synthesis.ipynb"

    monkeypatch.setattr(newcase, "execute", fake_execute)
    monkeypatch.setattr(newcase, "run_synthesis", fake_synthesis)
    monkeypatch.setattr(newcase, "synthesis_ids", lambda cid: [cid])
    return tmp_path


def _everything(root: Path) -> dict[str, str]:
    """Every file of the fake previous build and data/cases.yml (lock file aside: it is emptied, not restored)."""
    return {k: v for k, v in tree_state(root).items() if not k.endswith(".book.lock")}


def _failing(real, n: int, code: int, name: str):
    """``real`` that fails once, on its n-th call, with OSError ``code`` (the later calls succeed)."""
    calls = {"n": 0}

    def wrapped(src, dst, *a, **k):
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError(code, os.strerror(code), str(dst))
        return real(src, dst, *a, **k)

    wrapped.calls = calls
    return wrapped


@pytest.mark.parametrize("function", ["replace", "copy2"])
def test_disk_full_at_every_write_of_the_commit_changes_nothing(book, monkeypatch, function):
    """ENOSPC at the 1st, 2nd, ... os.replace (or shutil.copy2) of the commit, until the commit gets through."""
    args = newcase.parser().parse_args([*JS, "--save"])
    args.argv = [*JS, "--save"]
    plan = newcase.validate(args)
    assert not plan.existing  # jiangsu is not in data/cases.yml: --save appends it
    before = _everything(book)
    module = os if function == "replace" else shutil
    real = getattr(module, function)
    failures = 0
    for n in range(1, 60):
        stage = bb.GENERATED / f".run_case.test{n}"
        newcase.execute(plan, stage)
        fake = _failing(real, n, errno.ENOSPC, function)
        monkeypatch.setattr(module, function, fake)
        try:
            newcase.commit(plan, stage, build_site=False, save=True)
        except OSError as e:
            assert e.errno == errno.ENOSPC
            failures += 1
        else:
            break
        finally:
            monkeypatch.setattr(module, function, real)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            shutil.rmtree(stage, ignore_errors=True)
        assert _everything(book) == before, f"changed after ENOSPC at {function} call {n}"
        assert not bb.JOURNAL.exists()
    # the commit went through once the n-th call was past every write: the book is the new one
    assert failures >= (8 if function == "replace" else 3), failures
    after = _everything(book)
    assert after != before
    assert json.loads((bb.BOOK / "cases" / "jiangsu.ipynb").read_text()) == {"new": True}
    assert "jiangsu:  # added by scripts/run_case.py" in cases_mod.CASES_FILE.read_text()
    assert "case jiangsu" in json.loads(bb.CACHE_FILE.read_text())


def test_disk_full_message_through_main(book, monkeypatch, capsys):
    """The command's own error: one paragraph naming the problem and the file; every file as it was."""
    before = _everything(book)
    monkeypatch.setattr(os, "replace", _failing(os.replace, 6, errno.ENOSPC, "replace"))
    with pytest.raises(UserInputError) as info:
        newcase.main([*JS, "--save"])
    msg = str(info.value)
    assert "disk is full" in msg and "Free some disk space" in msg and "Nothing was changed" in msg, msg
    assert "\n" not in msg
    assert _everything(book) == before
    assert not list(bb.GENERATED.glob(".run_case.*")) and not bb.JOURNAL.exists()


def test_read_only_cases_file_message(book, monkeypatch):
    """--save on a read-only data/cases.yml: refused in one paragraph naming the file, nothing changed."""
    before = _everything(book)
    real = os.replace

    def replace(src, dst):
        if Path(dst) == cases_mod.CASES_FILE:
            raise OSError(errno.EROFS, "Read-only file system", str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(UserInputError) as info:
        newcase.main([*JS, "--save"])
    msg = str(info.value)
    assert "cases.yml is on a read-only file system" in msg and "Nothing was changed" in msg, msg
    assert _everything(book) == before


def test_in_process_run_without_failure_is_committed(book, capsys):
    """The control for the two tests above: the same run with no failure changes the book and saves the case."""
    before = _everything(book)
    assert newcase.main([*JS, "--save"]) == 0
    out = capsys.readouterr().out
    assert "Saved: added jiangsu" in out
    assert _everything(book) != before
    assert not bb.JOURNAL.exists() and not list(bb.GENERATED.glob(".run_case.*"))


# --------------------------------------------------------------------------------------------------
# 3. the real command line, killed at named stages


class Run:
    """``python scripts/run_case.py`` in the background, its output read by a thread (so waits can time out)."""

    def __init__(self, repo: Path, *args: str, pause: str | None = None, env_extra: dict[str, str] | None = None):
        e = {**env(), **(env_extra or {})}
        if pause:
            e["PRIMARYCARE_TEST_PAUSE_AT"] = pause
        self.repo = repo
        self.proc = subprocess.Popen([sys.executable, "scripts/run_case.py", *args], cwd=repo, env=e,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        self.err = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line)
        self.lines.put("")

    def wait_for(self, text: str, timeout: float = 300) -> str:
        end = time.time() + timeout
        while time.time() < end:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            self.out.append(line)
            if text in line:
                return line
            if line == "":
                break
        raise AssertionError(f"{text!r} never printed; output: {''.join(self.out)} {self.proc.stderr.read()}")

    def finish(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout=timeout)
        self.err = self.proc.stderr.read()  # type: ignore[union-attr]
        while not self.lines.empty():
            self.out.append(self.lines.get())
        return code


def _processes_in(repo: Path) -> list[int]:
    """Processes whose working folder is inside ``repo`` (the run's notebook child and its kernel)."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.readlink(d / "cwd").startswith(str(repo)):
                    found.append(int(d.name))
            except OSError:
                continue
    return found


def _sigkill(run: Run) -> None:
    """``kill -9`` of the run's own process only (as a user would), then wait for its children to go."""
    os.kill(run.proc.pid, signal.SIGKILL)
    run.finish()
    end = time.time() + 20
    while _processes_in(run.repo) and time.time() < end:
        time.sleep(0.5)
    assert not _processes_in(run.repo), "the killed run left processes behind"


def _next_run_recovers(repo: Path, before: dict[str, str], *words: str) -> subprocess.CompletedProcess:
    """The next run (refused by validation, after recovery) restores the previous book exactly."""
    nxt = run_cli(repo, *BAD_YEAR)
    assert_clean_error(nxt, "2030", "after the panel")
    assert all(w in nxt.stdout for w in words), nxt.stdout
    assert state(repo) == before
    gen = repo / "book" / "_generated"
    assert not (gen / ".transaction.json").exists() and not list(gen.glob(".run_case.*"))
    assert not (gen / "staging").exists()
    return nxt


@pytest.mark.slow
def test_second_run_refused_then_sigkill_after_validation(tmp_path):
    """A run holding the lock (paused after validation) refuses a second case run and the build; killed, it
    leaves only a staging folder, which the next run removes."""
    repo = make_repo(tmp_path / "repo")
    before = state(repo)
    first = Run(repo, *JS, pause="validated")
    first.wait_for("PAUSED at validated")
    second = run_cli(repo, *JS)
    flat = assert_clean_error(second, "another run is writing the book", f"pid {first.proc.pid}",
                              "run_case.py --province", "--wait")
    assert "Test reform" in flat  # the holder's command, as typed
    build = subprocess.run([sys.executable, "-m", "primarycare", "build", "--no-site"], cwd=repo, env=env(),
                           capture_output=True, text=True, timeout=120)
    assert_clean_error(build, "another run is writing the book", f"pid {first.proc.pid}")
    assert list((repo / "book" / "_generated").glob(".run_case.*"))
    _sigkill(first)
    _next_run_recovers(repo, before, "Cleaned up after an interrupted run")


@pytest.mark.slow
def test_sigkill_mid_notebook(tmp_path):
    """Killed while the notebook runs: its child and kernel die with it; the next run cleans up."""
    repo = make_repo(tmp_path / "repo")
    before = state(repo)
    run = Run(repo, *JS, pause="notebook:4")
    run.wait_for("[2/5] Executing")
    gen = repo / "book" / "_generated"
    end = time.time() + 240
    while not list(gen.glob(".run_case.*/nb/PAUSED")) and time.time() < end and run.proc.poll() is None:
        time.sleep(0.5)
    assert list(gen.glob(".run_case.*/nb/PAUSED")), "the notebook never reached the pausing cell"
    assert len(_processes_in(repo)) >= 2  # the run and its notebook kernel are alive
    _sigkill(run)
    _next_run_recovers(repo, before, "Cleaned up after an interrupted run")


@pytest.mark.slow
def test_sigkill_mid_commit_is_undone_by_the_next_build(tmp_path):
    """Killed with the previous anhui chapter moved aside and the new one not yet in: the next *build*
    puts it back before doing anything else."""
    repo = make_repo(tmp_path / "repo")
    before = state(repo)
    run = Run(repo, *ANHUI, pause="commit:2-")
    run.wait_for("PAUSED at commit:2-")
    assert not (repo / "book" / "cases" / "anhui.ipynb").exists()  # the half state the journal must undo
    assert state(repo) != before
    _sigkill(run)
    build = subprocess.run([sys.executable, "-m", "primarycare", "build", "--only", "nosuch", "--no-site"], cwd=repo,
                           env=env(), capture_output=True, text=True, timeout=120)
    assert_clean_error(build, "--only 'nosuch'")
    assert "Recovered an interrupted run" in build.stdout and "--province Anhui" in build.stdout, build.stdout
    assert state(repo) == before
    assert not (repo / "book" / "_generated" / ".transaction.json").exists()
    assert not list((repo / "book" / "_generated").glob(".run_case.*"))


@pytest.mark.slow
def test_sigkill_with_everything_placed_is_undone_by_a_waiting_run(tmp_path):
    """Killed after the chapter, results, synthesis, TOC, data/cases.yml (--save) and cache were all in place
    but before the journal was deleted: a second run waiting for the lock (--wait) gets it at once and
    restores every file, data/cases.yml included."""
    repo = make_repo(tmp_path / "repo")
    before = state(repo)
    run = Run(repo, *JS, "--save", pause="commit:done")
    run.wait_for("PAUSED at commit:done")
    assert "jiangsu" in (repo / "data" / "cases.yml").read_text(encoding="utf-8")
    assert (repo / "book" / "cases" / "synthesis.ipynb").exists()
    waiting = subprocess.Popen([sys.executable, "scripts/run_case.py", *BAD_YEAR, "--wait"], cwd=repo, env=env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = waiting.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith(f"Waiting for pid {run.proc.pid}"), line
    _sigkill(run)
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 2 and "after the panel" in err, out + err
    assert "Recovered an interrupted run" in out, out
    assert state(repo) == before


@pytest.mark.slow
def test_sigterm_mid_commit_rolls_back(tmp_path):
    """SIGTERM is handled like Ctrl-C: everything put back, one line, exit 143, nothing left to recover."""
    repo = make_repo(tmp_path / "repo")
    before = state(repo)
    run = Run(repo, *ANHUI, pause="commit:3")
    run.wait_for("PAUSED at commit:3")
    assert state(repo) != before  # chapter and results had been replaced
    os.kill(run.proc.pid, signal.SIGTERM)
    code = run.finish()
    assert code == 143, run.err
    assert "Traceback" not in run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Terminated (SIGTERM)") and "rolled back" in lines[0], run.err
    assert state(repo) == before
    gen = repo / "book" / "_generated"
    assert not (gen / ".transaction.json").exists() and not list(gen.glob(".run_case.*"))
    nxt = run_cli(repo, *BAD_YEAR)
    assert "interrupted run" not in nxt.stdout  # nothing was left for the next run to recover
