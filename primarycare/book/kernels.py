"""Warm Jupyter kernels for the book build: one kernel per worker process, reused notebook after notebook.

Why. Starting a kernel and importing numpy, pandas, scipy, statsmodels, matplotlib and the library costs
about 2.5 s per notebook on a 2-core machine: more than the work of most chapters. A build executes 28
notebooks (two editions), so the build starts one kernel per worker, imports those modules once
(:data:`WARM_MODULES`) and runs each of the worker's notebooks in it. The kernels themselves are forked from
one process that has imported them already (:mod:`primarycare.book.kernel_forks`), so even the import is
done once per build, not once per worker.

Each notebook still starts from what a new kernel would give it. Before its first cell, :func:`fresh_state`
runs in the kernel (silently, outside the notebook's history) and

- clears the user namespace and history (IPython's ``reset``: execution counts start at 1 again);
- closes every matplotlib figure and restores the rc settings, warnings filters, ``sys.path``, numpy's
  error settings and the environment variables to the snapshot :func:`prepare` took after the imports;
- clears the library's read-once caches (``functools.lru_cache`` in ``primarycare``) and sets its language
  back to English (a notebook sets its own with ``set_language``);
- moves to the notebook's folder (Papermill's ``cwd``).

Modules stay imported (that is the point): a notebook that imports a module gets the one already loaded,
as the second import in any kernel would. ``tests/test_kernels.py`` executes notebooks one after another in
one warm kernel and checks that their outputs equal those of a new kernel per notebook. A notebook that
fails, or a kernel that dies, discards the kernel: the worker's next notebook starts a new one. The build's
``--fresh-kernels`` option starts a new kernel for every notebook (slower; for debugging the reset).

This module is imported in two places: by the build's worker processes (:class:`WarmKernel`,
:func:`register_engine`) and inside the kernels themselves (:func:`prepare`, :func:`fresh_state`); the latter
import nothing heavy at module level.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import sys
import time
from typing import Any

#: What a notebook needs that renders saved numbers: a case chapter given ``results_dir`` (its analysis was
#: run ahead by the build: :func:`primarycare.book.build.estimate`) and the synthesis. No scipy, no
#: statsmodels: the report layer and :mod:`primarycare.case.run` import the estimators only when they run.
RENDER_MODULES = (
    "pandas", "numpy", "matplotlib.pyplot", "yaml", "IPython.display", "primarycare",
    "primarycare.case.run", "primarycare.case.result", "primarycare.case.teaching", "primarycare.report.fmt",
    "primarycare.report.plots", "primarycare.report.words", "primarycare.report.tables", "primarycare.report.html",
    "primarycare.report.boxes", "primarycare.report.glossary", "primarycare.report.synthesis",
    "primarycare.report.edition", "primarycare.report.real_record",
)

#: The estimators (imported once by every kernel of a build that estimates, and at once by the build's
#: analysis process: :func:`primarycare.book.build.estimate`).
ANALYSIS_MODULES = (
    "scipy.stats", "primarycare.methods.did", "primarycare.methods.inference", "primarycare.methods.pretrend",
    "primarycare.methods.sensitivity", "primarycare.methods.synth", "primarycare.methods.sdid",
    "primarycare.methods.conformal", "primarycare.methods.trends",
)

#: Modules every kernel imports once, before its first notebook: what the book's notebooks import
#: (directly or through the library; not ``statsmodels.api``, which nothing imports and which alone takes
#: over a second). Importing a module a notebook does not use changes nothing it computes. A build whose
#: notebooks only render (:data:`RENDER_MODULES`) warms with those alone; a notebook that needs more
#: imports it itself, once per kernel.
WARM_MODULES = RENDER_MODULES + ANALYSIS_MODULES

# --------------------------------------------------------------------------------------------------
# inside the kernel

_SNAPSHOT: dict[str, Any] = {}


def prepare(modules: tuple[str, ...] = WARM_MODULES) -> None:
    """Import ``modules`` and remember the state :func:`fresh_state` restores (runs once per kernel)."""
    import importlib
    import warnings

    for name in modules:
        importlib.import_module(name)
    import matplotlib as mpl
    import numpy as np

    from ..report.i18n import set_language

    set_language("en")
    _SNAPSHOT.update(rc=mpl.rcParams.copy(), warnings=list(warnings.filters), path=list(sys.path),
                     environ=dict(os.environ), numpy_err=np.geterr())
    # what the modules made lives as long as the kernel: the garbage collector leaves it out of its passes
    # (the full one at every notebook's reset, and those during a notebook), which then cover what the
    # notebooks make
    gc.freeze()


def _library_caches() -> list[Any]:
    """Every ``functools.lru_cache``-wrapped function defined in an imported ``primarycare`` module."""
    found = []
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "primarycare" or name.startswith("primarycare.")):
            continue
        for value in list(vars(module).values()):
            if callable(value) and hasattr(value, "cache_clear") and getattr(value, "__module__", None) == name:
                found.append(value)
    return found


def fresh_state(cwd: str) -> None:
    """Give the kernel the state a new kernel would have (after :func:`prepare`'s imports), in ``cwd``."""
    import warnings

    import matplotlib as mpl
    import matplotlib.pyplot as plt
    import numpy as np
    from IPython import get_ipython

    from ..report.i18n import set_language

    if not _SNAPSHOT:
        raise RuntimeError("fresh_state() before prepare(): this kernel was not warmed")
    shell = get_ipython()
    if shell is not None:
        shell.reset(new_session=True)
    plt.close("all")
    with warnings.catch_warnings():  # some rc keys are deprecated aliases: restoring them warns
        warnings.simplefilter("ignore")
        mpl.rcParams.clear()
        mpl.rcParams.update(_SNAPSHOT["rc"])
    warnings.filters[:] = _SNAPSHOT["warnings"]
    warnings._filters_mutated()  # type: ignore[attr-defined]  # the C module caches the filters
    sys.path[:] = _SNAPSHOT["path"]
    np.seterr(**_SNAPSHOT["numpy_err"])
    for key in set(os.environ) - set(_SNAPSHOT["environ"]):
        del os.environ[key]
    os.environ.update(_SNAPSHOT["environ"])
    for fn in _library_caches():
        fn.cache_clear()
    set_language("en")
    os.chdir(cwd)


# --------------------------------------------------------------------------------------------------
# in the build's worker process


class WarmKernel:
    """One kernel, started and warmed (:func:`prepare`) when made; :meth:`shutdown` stops it."""

    def __init__(self, extra_arguments: list[str] | None = None, cwd: str | None = None,
                 startup_timeout: float = 60.0, modules: tuple[str, ...] = WARM_MODULES, wait: bool = True) -> None:
        """Start the kernel and ask it to import ``modules``; with ``wait`` (the default) return once it has
        (else call :meth:`ready` before the first notebook: the caller works meanwhile)."""
        from jupyter_core.utils import run_sync

        from .kernel_forks import manager_class

        self.km = manager_class()(kernel_name="python3")  # forked from the build's warmed process if it runs
        run_sync(self.km.start_kernel)(extra_arguments=list(extra_arguments or []), cwd=cwd or os.getcwd())
        self.used = 0
        self.modules = tuple(modules)
        self._timeout = startup_timeout
        self._pending: str | None = None
        # one client for the kernel's life: a new client waits for the kernel and drains its output channel
        # (about 0.2 s) before every notebook
        self.kc = self.km.client()
        self.kc.allow_stdin = False
        try:
            self.kc.start_channels()
            self._pending = self.kc.execute(
                f"from primarycare.book.kernels import prepare as _p; _p({self.modules!r}); del _p",
                silent=True, store_history=False, allow_stdin=False)  # queued: runs once the kernel is up
            if wait:
                self.ready()
        except BaseException:
            self.shutdown()
            raise

    def ready(self) -> None:
        """Wait until the kernel has started and imported its modules (raise RuntimeError if it failed)."""
        if self._pending is not None:
            msg_id, self._pending = self._pending, None
            self._reply(msg_id, self._timeout)

    def _reply(self, msg_id: str, timeout: float) -> None:
        from jupyter_core.utils import run_sync

        async def go() -> dict[str, Any]:
            end = time.monotonic() + timeout
            while True:
                try:
                    reply = await self.kc.get_shell_msg(timeout=min(0.5, max(0.0, end - time.monotonic())))
                except queue.Empty:
                    if not await self.km.is_alive():  # a kernel that died does not answer: say so now
                        raise RuntimeError("the kernel died (its output is in the worker's kernel log)") from None
                    if time.monotonic() >= end:
                        raise RuntimeError(f"the kernel did not answer within {timeout:.0f} s") from None
                    continue
                if reply["parent_header"].get("msg_id") == msg_id:
                    return reply["content"]

        content = run_sync(go)()
        if content.get("status") != "ok":
            raise RuntimeError(f"{content.get('ename', 'error')}: {content.get('evalue', '')}")

    def run(self, code: str, timeout: float = 60.0) -> None:
        """Execute ``code`` silently (no output, no history); raise RuntimeError with the kernel's error."""
        self.ready()
        self._reply(self.kc.execute(code, silent=True, store_history=False, allow_stdin=False), timeout)

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        return bool(self.km.has_kernel and run_sync(self.km.is_alive)())

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        with contextlib.suppress(Exception):
            self.kc.stop_channels()
        try:
            if self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - already gone: nothing left to stop
            return


def register_engine() -> str:
    """Register :class:`WarmEngine <_engine_class>` with Papermill (once per process); its engine name.
    (Made here, not at import, so that a kernel importing this module does not import Papermill.)"""
    from papermill.engines import papermill_engines

    if ENGINE not in papermill_engines._engines:
        papermill_engines.register(ENGINE, _engine_class())
    return ENGINE


ENGINE = "primarycare-warm"


def _engine_class() -> type:
    """The Papermill engine that executes on a :class:`WarmKernel` passed as ``warm=`` (in the folder
    ``warm_cwd``): Papermill's own client on the running kernel, :func:`fresh_state` first."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, logger

    class WarmClient(PapermillNotebookClient):
        """Papermill's client on a running kernel: :func:`fresh_state` first, then the cells."""

        def __init__(self, nb_man: Any, reset_code: str = "", kc: Any = None, **kw: Any) -> None:
            super().__init__(nb_man, **kw)
            self.kc = kc  # the kernel's own client (nbclient makes one when None)
            self.reset_code = reset_code

        def papermill_execute_cells(self) -> None:
            if self.reset_code:
                msg_id = self.kc.execute(self.reset_code, silent=True, store_history=False, allow_stdin=False)
                reply = self.wait_for_reply(msg_id)
                content = (reply or {}).get("content", {})
                if content.get("status") != "ok":
                    raise RuntimeError(f"resetting the warm kernel failed: {content.get('ename')}: "
                                       f"{content.get('evalue')}")
            super().papermill_execute_cells()

    class WarmEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     execution_timeout: int | None = None, **kwargs: Any) -> Any:
            warm: WarmKernel = kwargs.pop("warm")
            cwd = kwargs.pop("warm_cwd", None) or os.getcwd()
            kwargs = {k: v for k, v in kwargs.items() if k not in ("input_path", "timeout", "startup_timeout")}
            client = WarmClient(nb_man, km=warm.km, kc=warm.kc, reset_code=(
                f"from primarycare.book.kernels import fresh_state as _f; _f({str(cwd)!r})"),
                timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file, **kwargs)
            try:
                return client.execute()
            finally:
                warm.used += 1

    return WarmEngine
