"""Kernels forked from the build's warmed process (primarycare.book.kernel_forks) behave as new processes.

Each test that starts kernels compares a forked kernel with one jupyter_client starts as a new process:
what the notebook sees of its process (folder, arguments, import path, environment, multiprocessing),
interrupts, shutdown, and what happens when the server or the process that asked for the kernel goes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from primarycare.book import build as bb
from primarycare.book import kernel_forks

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server runs on Linux only")

PROBE = (
    "import json, os, sys, multiprocessing, matplotlib, matplotlib.pyplot as plt\n"
    "from primarycare.report.i18n import language\n"
    "print(json.dumps({'cwd': os.getcwd(), 'argv0': os.path.basename(sys.argv[0]), 'argv': [a if not a.endswith('.json') else 'CONN' for a in sys.argv[1:]],\n"
    "  'path': sys.path, 'env': sorted(os.environ), 'probe': os.environ.get('PRIMARYCARE_PROBE'),\n"
    "  'process': multiprocessing.current_process().name, 'daemon': multiprocessing.current_process().daemon,\n"
    "  'session': os.getsid(0) == os.getpid(), 'main': type(sys.modules['__main__']).__name__,\n"
    "  'stdin': sys.stdin.read(), 'linewidth': matplotlib.rcParams['lines.linewidth'],\n"
    "  'figures': plt.get_fignums(), 'language': language()}))"
)


def _start(tmp_path: Path, forking: bool = True):
    """A started kernel manager (the forking one, or jupyter_client's own) and its client."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    cls = kernel_forks.manager_class() if forking else AsyncKernelManager
    km = cls(kernel_name="python3")
    env = {**os.environ, "PRIMARYCARE_PROBE": "yes", "PYTHONPATH": str(bb.ROOT)}
    run_sync(km.start_kernel)(cwd=str(tmp_path), env=env)
    kc = km.client()
    kc.start_channels()
    run_sync(kc.wait_for_ready)(timeout=60)
    return km, kc


def _stop(km, kc) -> None:
    from jupyter_core.utils import run_sync

    kc.stop_channels()
    if km.has_kernel:
        run_sync(km.shutdown_kernel)(now=True)


def _run(kc, code: str, timeout: float = 60) -> tuple[dict, str]:
    """Execute ``code``: the reply's content and what it printed."""
    printed: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])

    from jupyter_core.utils import run_sync

    reply = run_sync(kc.execute_interactive)(code, timeout=timeout, output_hook=hook)
    return reply["content"], "".join(printed)


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A server forked from this process after it changed what a new process would not have: an entry
    added to its import path, matplotlib's settings, a figure left open, the library's language."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    from primarycare.report import i18n

    monkeypatch.syspath_prepend(str(tmp_path / "added-by-the-build"))
    monkeypatch.setitem(mpl.rcParams, "lines.linewidth", 7.0)
    plt.figure()
    i18n.set_language("zh", font=False)
    try:
        with kernel_forks.server(("pandas", "matplotlib.pyplot", "primarycare.report.i18n"),
                                 bb._worker_env()) as address:
            assert address is not None and kernel_forks.address() == address
            yield address
    finally:
        i18n.set_language("en")
        plt.close("all")
    assert kernel_forks.address() is None


def test_kernel_path_puts_pythonpath_first(tmp_path):
    base = ["/usr/lib/python3.11", "/site-packages", "/usr/lib/python3.11"]
    env = {"PYTHONPATH": os.pathsep.join(["/lib/a", "rel", "", "/usr/lib/python3.11"])}
    assert kernel_forks.kernel_path(str(tmp_path), env, base) == [
        "/lib/a", str(tmp_path / "rel"), "/usr/lib/python3.11", "/site-packages"]


def test_only_this_interpreters_ipykernel_is_forked():
    assert kernel_forks.forkable([sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"])
    assert not kernel_forks.forkable([sys.executable, "-m", "other_kernel", "-f", "c.json"])
    assert not kernel_forks.forkable(["/nonexistent/python", "-m", "ipykernel_launcher", "-f", "c.json"])
    assert not kernel_forks.forkable(["R", "--slave", "-e", "IRkernel::main()"])


def test_without_a_server_the_kernel_is_asked_of_no_one():
    assert kernel_forks.address() is None
    assert kernel_forks.fork_kernel([sys.executable, "-m", "ipykernel_launcher"], dict(os.environ), ".") is None


@pytest.mark.slow
def test_a_forked_kernel_looks_like_a_new_process_to_its_notebook(server, tmp_path):
    seen = {}
    for forking in (True, False):
        km, kc = _start(tmp_path, forking)
        try:
            assert getattr(km, "forked", False) is forking
            content, printed = _run(kc, PROBE)
            assert content["status"] == "ok", content
            seen[forking] = json.loads(printed)
        finally:
            _stop(km, kc)
    forked, new = seen[True], seen[False]
    assert forked["cwd"] == new["cwd"] == str(tmp_path)
    assert forked["argv0"] == new["argv0"] == "ipykernel_launcher.py" and forked["argv"] == new["argv"]
    assert forked["path"] == new["path"], (forked["path"], new["path"])
    assert forked["env"] == new["env"] and forked["probe"] == "yes"
    assert forked["process"] == new["process"] == "MainProcess" and not forked["daemon"]
    assert forked["session"] and new["session"]  # a process group of its own: interrupts reach it alone
    assert forked["main"] == new["main"]
    assert forked["stdin"] == ""
    assert forked["linewidth"] == new["linewidth"] and forked["figures"] == new["figures"] == []
    assert forked["language"] == new["language"] == "en"


@pytest.mark.slow
def test_a_forked_kernel_can_start_processes_and_be_interrupted(server, tmp_path):
    from jupyter_core.utils import run_sync

    km, kc = _start(tmp_path)
    try:
        assert km.forked
        content, printed = _run(kc, "from multiprocessing import get_context\n"
                                    "with get_context('fork').Pool(1) as p: print(p.map(abs, [-2, 3]))")
        assert content["status"] == "ok", content
        assert printed.strip() == "[2, 3]"
        msg_id = kc.execute("import time\ntime.sleep(60)")
        while True:  # interrupt once the cell runs (an idle kernel ignores Ctrl-C)
            msg = run_sync(kc.get_iopub_msg)(timeout=20)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
                break
        time.sleep(0.3)
        started = time.monotonic()
        run_sync(km.interrupt_kernel)()
        reply = run_sync(kc.get_shell_msg)(timeout=20)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - started < 20
        content, printed = _run(kc, "print(6 * 7)")
        assert printed.strip() == "42"  # still alive after the interrupt
    finally:
        _stop(km, kc)


@pytest.mark.slow
def test_a_forked_kernel_shuts_down_politely_and_runs_its_exit_handlers_not_the_builds(tmp_path):
    import asyncio
    import atexit
    import tempfile

    from jupyter_core.utils import run_sync

    run_sync(asyncio.sleep)(0)  # the build has an event loop before the server forks: the kernel must not use it
    builds = tmp_path / "build-handler-ran"
    kept = tempfile.TemporaryDirectory(dir=tmp_path)  # the build's: its finalizer must not run in a kernel
    atexit.register(builds.write_text, "ran")
    try:
        with kernel_forks.server((), bb._worker_env()):
            km, kc = _start(tmp_path)
            assert km.forked
            content, _ = _run(kc, f"import atexit, pathlib\natexit.register(pathlib.Path({str(tmp_path / 'own')!r}).write_text, 'ran')")
            assert content["status"] == "ok"
            process = km.provisioner.process
            kc.stop_channels()
            run_sync(km.shutdown_kernel)(now=False)  # asked politely: it exits by itself
            assert process.returncode == 0
            assert not run_sync(km.is_alive)()
    finally:
        atexit.unregister(builds.write_text)
    assert (tmp_path / "own").read_text() == "ran"  # the notebook's handler ran
    assert not builds.exists() and Path(kept.name).is_dir()  # the build's did not
    kept.cleanup()


@pytest.mark.slow
def test_a_killed_kernel_is_seen_dead(server, tmp_path):
    from jupyter_core.utils import run_sync

    km, kc = _start(tmp_path)
    try:
        os.kill(km.provisioner.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while run_sync(km.is_alive)() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not run_sync(km.is_alive)()
        assert km.provisioner.process.poll() == -signal.SIGKILL
    finally:
        _stop(km, kc)


def _gone(pid: int, seconds: float = 10) -> bool:
    """Whether ``pid`` exits (and is reaped by its parent) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_a_kernel_dies_with_the_server_and_with_its_requester(tmp_path):
    with kernel_forks.server((), bb._worker_env()):
        km, kc = _start(tmp_path)
        first = km.provisioner.pid
        kc.stop_channels()
        km.provisioner.process._conn.close()  # the process that asked for it is gone
        assert _gone(first)
        km2, kc2 = _start(tmp_path)
        second = km2.provisioner.pid
        kc2.stop_channels()
    assert _gone(second)  # the server stopped: its kernels stopped with it
    assert km2.provisioner.process.poll() is not None


@pytest.mark.slow
def test_a_stopped_server_leaves_kernels_to_new_processes(tmp_path):
    with kernel_forks.server((), bb._worker_env()) as address:
        os.kill(_server_pid(address), signal.SIGKILL)
        time.sleep(0.2)
        km, kc = _start(tmp_path)
        try:
            assert not km.forked  # nobody answered: jupyter_client started it as a new process
            content, printed = _run(kc, "print('ok')")
            assert printed.strip() == "ok"
        finally:
            _stop(km, kc)


def _server_pid(address: str) -> int:
    """The pid of the process listening on ``address`` (the server)."""
    import multiprocessing

    found = [p.pid for p in multiprocessing.active_children() if p.name == "primarycare-kernels"]
    assert len(found) == 1, found
    return found[0]


def test_a_server_that_cannot_listen_leaves_kernels_to_new_processes(monkeypatch, tmp_path, capsys):
    deep = tmp_path / ("d" * 120) / ("e" * 120)  # longer than a local socket's address may be
    deep.mkdir(parents=True)
    monkeypatch.setattr("tempfile.tempdir", str(deep))
    with kernel_forks.server(()) as address:
        assert address is None and kernel_forks.address() is None
    assert "new processes" in capsys.readouterr().err
    assert list(deep.iterdir()) == []  # nothing left behind
