"""Jupyter kernels forked from one process that has imported what the notebooks use.

Why. Every kernel is a new Python process that imports ipykernel, IPython, matplotlib and the library's
report layer before its first notebook: about 1.5 s of a core. One case chapter is two notebooks (the two
editions), run at once in two kernels on a 2-core machine while the chapter's analysis runs next to them,
so each second of a core spent importing twice is a second the chapter waits.

How. :func:`server` forks a process from the build (before its workers and threads exist) that imports
ipykernel and the notebooks' modules once, then forks a kernel for each request: the worker's
jupyter_client writes the connection file and builds the command it would have run
(``python -m ipykernel_launcher -f <file> ...``); :class:`ForkingKernelManager <manager_class>` sends that
command, its environment and folder to the server instead, with its standard output and error. The forked process then does what
``python -m ipykernel_launcher`` does in a new process (:func:`_kernel`): a session of its own (so
interrupts reach the kernel's process group alone), the request's environment, folder, ``sys.argv`` and
``sys.path``, standard input from ``/dev/null``, the requester's output and error, no exit handlers of the build, and
ipykernel's application. jupyter_client manages it as its own child through :class:`ForkedKernel` (poll,
wait, signals): the server tells it when the kernel exits. A kernel dies with the server (which dies with
the build) and with the connection of the process that asked for it (a worker that dies takes its kernel
along, as ipykernel's parent polling does for a kernel started by the worker).

What a notebook sees is what a warm kernel gives it (:mod:`primarycare.book.kernels`): the modules are
imported once, before its first cell, with the build's environment. ``tests/test_kernel_forks.py`` checks
that the book's notebooks give the same outputs in a forked kernel as in a new process.

A kernel command of another interpreter or another kernel, a build without a server (not on Linux,
``--fresh-kernels``), or a server that has stopped: the kernel is a new process, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import importlib.util
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from multiprocessing.reduction import recv_handle, send_handle
from typing import Any, NoReturn

from . import forked

#: What a kernel imports to start (``python -m ipykernel_launcher``): imported by the server once.
KERNEL_MODULES = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.iostream",
                  "matplotlib_inline.backend_inline")

_ADDRESS: dict[str, str] = {}  # the server's socket, for the build and the workers forked from it


def address() -> str | None:
    """The socket of the server this process (or the build it was forked from) started; None without one."""
    return _ADDRESS.get("address")


# --------------------------------------------------------------------------------------------------
# the server


def warm(modules: tuple[str, ...]) -> None:
    """Import what a kernel imports to start and ``modules`` (a module that fails is left to the kernel)."""
    for name in (*KERNEL_MODULES, *modules):
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def _serve(listener: socket.socket, control: Connection, parent: int, modules: tuple[str, ...],
           env: dict[str, str], niceness: int = 0) -> None:
    """The server: warm up, then fork a kernel for each request on a connection of ``listener`` and tell
    that connection when its kernel exits. Stops (killing its kernels) when ``control`` closes or says
    so. Ctrl-C is the build's to handle (it stops the server); each kernel handles it as a kernel does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    forked.exit_with(parent)
    if niceness:
        with contextlib.suppress(OSError):
            os.nice(niceness)
    os.environ.update(env)
    base = _interpreter_path()
    registered: list[tuple[Any, tuple, dict]] = []  # exit handlers the imports register: the kernels' too
    register = atexit.register

    def record(fn: Any, *args: Any, **kwargs: Any) -> Any:
        registered.append((fn, args, kwargs))
        return register(fn, *args, **kwargs)

    atexit.register = record  # type: ignore[assignment]
    try:
        warm(modules)
    finally:
        atexit.register = register  # type: ignore[assignment]
    _as_imported()
    gc.freeze()  # what the imports made is the kernels' for life: out of their garbage collector's passes
    me = os.getpid()
    clients: dict[Connection, int | None] = {}  # a requester's connection -> its kernel's pid
    kernels: dict[int, Connection] = {}
    while True:
        ready = wait_for([listener, control, *clients], timeout=0.05 if kernels else None)
        if control in ready:
            with contextlib.suppress(EOFError, OSError):
                control.recv()
            break
        for r in ready:
            if r is listener:
                with contextlib.suppress(OSError):
                    sock, _ = listener.accept()
                    clients[Connection(sock.detach())] = None
                continue
            conn: Connection = r  # type: ignore[assignment]
            try:
                request = conn.recv()
            except (EOFError, OSError):  # the requester is gone: so is its kernel
                pid = clients.pop(conn)
                conn.close()
                if pid is not None and pid in kernels:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                continue
            cmd, kenv, cwd = request
            try:  # the requester's standard output and error: the kernel's, as if it had started it
                fds = [recv_handle(conn), recv_handle(conn)]
            except (EOFError, OSError):
                clients.pop(conn)
                conn.close()
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _kernel(cmd, kenv, cwd, fds, me, [listener, control, *clients], registered, base)
            for fd in fds:
                os.close(fd)
            clients[conn] = pid
            kernels[pid] = conn
            with contextlib.suppress(OSError):
                conn.send(("started", pid))
        while kernels:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            conn = kernels.pop(pid, None)  # type: ignore[assignment]
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.send(("exited", os.waitstatus_to_exitcode(status)))
    for pid in kernels:  # the build is done with them (or failed): they stop with the server
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for conn in clients:
        conn.close()


def _as_imported() -> None:
    """Module state a new process would have after its imports, where the process the server was forked
    from may have changed it (a figure drawn before the build forked it): matplotlib's settings as its
    settings file gives them, no figure open, the library in English."""
    if "matplotlib" in sys.modules:
        import matplotlib

        with contextlib.suppress(Exception):
            matplotlib.rc_file_defaults()
        if "matplotlib.pyplot" in sys.modules:
            import matplotlib.pyplot as plt

            plt.close("all")
    if "primarycare.report.i18n" in sys.modules:
        from ..report.i18n import set_language

        with contextlib.suppress(Exception):
            set_language("en")


def _interpreter_path() -> list[str] | None:
    """This interpreter's own ``sys.path`` entries, as a new process has them (what a running process has
    may have been added to, as pytest does): asked of a new one, without ``PYTHONPATH``; None if that
    fails (:func:`kernel_path` then works from this process's)."""
    import json
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        out = subprocess.run([sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"], env=env,
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return [str(p) for p in json.loads(out)]
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def kernel_path(cwd: str, env: dict[str, str], base: list[str] | None = None) -> list[str]:
    """The ``sys.path`` that ``python -m ipykernel_launcher`` started in ``cwd`` with the environment
    ``env`` hands to ipykernel: ``PYTHONPATH``'s entries (absolute, as :mod:`site` makes them), then the
    interpreter's own (``base``: :func:`_interpreter_path`; without it, this process's path without its
    first entry and its own ``PYTHONPATH``). Not the folder: the launcher removes it, and IPython adds
    ``''`` later."""
    if base is None:
        own = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        base = [p for p in sys.path[1:] if os.path.abspath(p) not in own or not p]
    out: list[str] = []
    for p in [*(os.path.abspath(os.path.join(cwd, q)) for q in env.get("PYTHONPATH", "").split(os.pathsep) if q),
              *base]:
        if p not in out:
            out.append(p)
    return out


class _MainProcess(multiprocessing.process.BaseProcess):
    """What ``multiprocessing.current_process()`` is in a new process (the standard library's own class is
    not importable: it is deleted once made)."""

    def __init__(self) -> None:  # noqa: D107 - as multiprocessing.process._MainProcess
        from multiprocessing.process import AuthenticationString

        self._identity = ()
        self._name = "MainProcess"
        self._parent_pid = None
        self._popen = None
        self._closed = False
        self._config = {"authkey": AuthenticationString(os.urandom(32)), "semprefix": "/mp"}

    def close(self) -> None:
        """Nothing to release: this process was not started by ``multiprocessing``."""


def _new_process_state(registered: list[tuple[Any, tuple, dict]]) -> None:
    """What a new process has and a fork does not: no exit handlers or finalizers of the build (the ones
    its modules registered when imported: ``registered`` for the server's imports, and the standard
    library's for logging and multiprocessing, which the build imported), and multiprocessing's view of
    a main process (a notebook may start processes of its own), and no event loop: a loop made before
    the fork shares its selector and wake-up pipe with the process it came from (what Python 3.12 resets
    after a fork itself), and a kernel on it misses messages."""
    import asyncio
    import logging
    import weakref
    from multiprocessing import process, util

    atexit._clear()
    for fn, args, kwargs in [(util._exit_function, (), {}), (logging.shutdown, (), {}), *registered]:  # type: ignore[attr-defined]
        atexit.register(fn, *args, **kwargs)
    registry = getattr(weakref.finalize, "_registry", None)
    if isinstance(registry, dict):
        registry.clear()
        weakref.finalize._registered_with_atexit = False  # type: ignore[attr-defined]
    util._finalizer_registry.clear()  # type: ignore[attr-defined]
    process._children = set()  # type: ignore[attr-defined]
    process._current_process = _MainProcess()  # type: ignore[attr-defined]
    process._parent_process = None  # type: ignore[attr-defined]
    util._run_after_forkers()  # type: ignore[attr-defined]
    asyncio.set_event_loop_policy(None)
    asyncio.events._set_running_loop(None)
    signal.set_wakeup_fd(-1)


def _kernel(cmd: list[str], env: dict[str, str], cwd: str, out: list[int], server: int, inherited: list[Any],
            registered: list[tuple[Any, tuple, dict]], base: list[str] | None) -> NoReturn:
    """In the forked process: what ``python -m ipykernel_launcher ARGS`` does in a new one, its standard
    output and error on the descriptors ``out``; exits."""

    def main() -> None:
        for obj in inherited:  # the server's sockets are not the kernel's
            with contextlib.suppress(OSError):
                obj.close()
        os.setsid()
        forked.as_new_process(server)
        _new_process_state(registered)
        null = os.open(os.devnull, os.O_RDONLY)
        forked.output_to(out[0], out[1], stdin=null)
        for fd in (null, *out):
            os.close(fd)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        os.environ["JPY_PARENT_PID"] = str(server)  # what jupyter_client sets for a kernel it starts
        sys.path[:] = kernel_path(cwd, env, base)
        spec = importlib.util.find_spec("ipykernel_launcher")
        sys.argv = [str(spec.origin if spec else "ipykernel_launcher"), *cmd[3:]]
        from ipykernel import kernelapp

        # its parent is the server: ipykernel exits if that dies (the trait's default was read from the
        # environment when the server imported ipykernel)
        kernelapp.IPKernelApp.launch_instance(parent_handle=server)

    forked.run_and_exit(main, at_exit=atexit._run_exitfuncs)


class _Server:
    def __init__(self, modules: tuple[str, ...], env: dict[str, str], niceness: int = 0) -> None:
        self._dir = tempfile.mkdtemp(prefix="primarycare-kernels-")  # 0700: the socket is ours alone
        self.address = os.path.join(self._dir, "socket")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.address)
            listener.listen(16)
        except OSError:
            listener.close()
            self._remove_socket()
            raise
        ctx = multiprocessing.get_context("fork")
        self.control, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(listener, theirs, os.getpid(), tuple(modules), dict(env), niceness),
                                name="primarycare-kernels")
        self.proc.start()
        listener.close()
        theirs.close()

    def close(self) -> None:
        forked.stop_server(self.proc, lambda: self.control.send(None))
        self.control.close()
        self._remove_socket()

    def _remove_socket(self) -> None:
        """Remove the socket's file and its folder (made by ``__init__``)."""
        with contextlib.suppress(OSError):
            os.unlink(self.address)
        with contextlib.suppress(OSError):
            os.rmdir(self._dir)


@contextlib.contextmanager
def server(modules: tuple[str, ...] = (), env: dict[str, str] | None = None, niceness: int = 0) -> Iterator[str | None]:
    """Kernels started within, by this process or its forked workers (:func:`manager_class`), are forked
    from one process that has imported ``modules`` (and ipykernel) with ``env`` added to this process's
    environment, at ``niceness`` (added to this process's: the kernels have it too); stopped on leaving.
    Yields the server's address, or None where it does not run (the kernels are then new processes): off
    Linux (macOS has ``fork``, but its system libraries, which numpy may use, are not safe to use in a
    forked process), or when no local socket could be made.

    Start it before any thread does (the server is forked from this process)."""
    if not sys.platform.startswith("linux"):
        yield None
        return
    try:
        srv = _Server(modules, env or {}, niceness)
    except OSError as e:  # e.g. a temporary folder whose path is too long for a socket's address
        print(f"Kernels start as new processes (their server could not start: {e}).", file=sys.stderr)
        yield None
        return
    _ADDRESS["address"] = srv.address
    try:
        yield srv.address
    finally:
        _ADDRESS.pop("address", None)
        srv.close()


# --------------------------------------------------------------------------------------------------
# in the process that asks for a kernel


class ForkedKernel:
    """A kernel forked by the server, handled as jupyter_client handles its ``subprocess.Popen``."""

    stdin = stdout = stderr = None

    def __init__(self, conn: Connection, pid: int) -> None:
        self._conn = conn
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the kernel has exited (the server's notice), else None."""
        if self.returncode is None:
            try:
                while self._conn.poll():
                    kind, value = self._conn.recv()
                    if kind == "exited":
                        self.returncode = int(value)
            except (EOFError, OSError):  # the server stopped: its kernels were killed with it
                self.returncode = -signal.SIGKILL
            if self.returncode is not None:
                self._conn.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                import subprocess

                raise subprocess.TimeoutExpired(["kernel", str(self.pid)], timeout or 0)
            with contextlib.suppress(EOFError, OSError):
                self._conn.poll(0.05)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _same_interpreter(program: str) -> bool:
    import shutil

    found = shutil.which(program)
    if not found:
        return False
    try:
        return os.path.samefile(found, sys.executable)
    except OSError:
        return False


def forkable(cmd: list[str]) -> bool:
    """Whether ``cmd`` is a command the server can fork: this interpreter running ``-m ipykernel_launcher``."""
    return len(cmd) >= 3 and cmd[1:3] == ["-m", "ipykernel_launcher"] and _same_interpreter(cmd[0])


def fork_kernel(cmd: list[str], env: dict[str, str], cwd: str) -> ForkedKernel | None:
    """Ask the server for a kernel running ``cmd`` in ``cwd`` with the environment ``env``, writing where
    this process's standard output and error go (None without a server, for a command it cannot fork, or
    if it does not answer: the caller starts a new process)."""
    where = address()
    if where is None or not forkable(cmd):
        return None
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(where)
    except OSError:
        return None
    conn = Connection(sock.detach())
    try:
        conn.send((list(cmd), dict(env), str(cwd)))
        send_handle(conn, 1, 0)
        send_handle(conn, 2, 0)
        if not conn.poll(30):
            raise OSError("no answer")
        kind, pid = conn.recv()
    except (EOFError, OSError):
        conn.close()
        return None
    return ForkedKernel(conn, int(pid))


def manager_class() -> type:
    """jupyter_client's ``AsyncKernelManager`` that has the server fork its kernel (:func:`fork_kernel`),
    or starts a new process as jupyter_client does when it cannot. (Made here, not at import, so that
    the build does not import jupyter_client until a worker needs it.)"""
    from jupyter_client.manager import AsyncKernelManager

    class ForkingKernelManager(AsyncKernelManager):
        """A kernel manager whose kernel is forked from the build's warmed process when one runs."""

        forked = False

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            env = kw.get("env") or dict(os.environ)
            cwd = kw.get("cwd") or os.getcwd()
            kernel = fork_kernel(kernel_cmd, env, str(cwd))
            if kernel is None:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            p = self.provisioner
            assert p is not None
            p.process = kernel  # type: ignore[attr-defined]
            p.pid = p.pgid = kernel.pid  # type: ignore[attr-defined]  # a session of its own: its group
            p.cwd = cwd  # type: ignore[attr-defined]
            self.forked = True
            self._reconcile_connection_info(p.connection_info)
            return None

        async def _async_wait(self, pollinterval: float = 0.1) -> None:
            # a forked kernel's exit is known as soon as the server reaps it: look every 10 ms, not 100 ms
            # (a build waits here for each worker's kernel at its end)
            await super()._async_wait(pollinterval=0.01 if self.forked else pollinterval)

    return ForkingKernelManager
