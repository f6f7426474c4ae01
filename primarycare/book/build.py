"""Build the whole book: validate the cases, execute the notebooks, write the TOC, build the site.

    python scripts/build_book.py [--force] [--keep-going] [--permutations N] [--only CASE] [--jobs N]
    python -m primarycare build [the same options]

Steps: (1) every case in ``data/cases.yml`` is validated before anything runs; (2) the case notebooks,
the data chapter and the methods primer (``notebooks/primer/*.ipynb``, sorted by name) are executed with
Papermill in parallel (a worker per core, each with a warm kernel: :mod:`primarycare.book.kernels`), then
the synthesis, which reads the cases' saved results. Each case's analysis runs first, in a process of its
own while the kernels start (:func:`estimate`); its chapters in both editions render the saved result;
(3) ``book/_toc.yml`` is generated from the cases; (4) ``jupyter-book build`` runs with execution off
into a staging area that is swapped into ``book/_build/html`` only when it succeeds. The introduction's
figures are drawn by the analysis process once its analyses are done (:func:`figures_ahead`), and the
``jupyter-book`` runs (the Chinese catalogue check, both sites) are forked from one process that imports
Sphinx once (:mod:`primarycare.book.sphinx_runs`).

Each executed notebook is cached under a key made of the notebook's content, its parameters, the data
files and the library's source; a case's key uses its own validated settings (not the whole of
``data/cases.yml``), so adding or changing one case re-executes only that case and the synthesis. A
rebuild with nothing changed re-executes nothing and skips Sphinx. Notebooks are executed in a staging
folder under ``book/_generated/staging`` (outside the Sphinx sources: see exclude_patterns in
``book/_config.yml``), cleared at the start of every build.
A failing notebook is reported with its case, cell and error; the previous good chapter and site stay
in place and the script exits non-zero (``--keep-going`` builds the rest first).

The build and ``python -m primarycare case`` take the same lock (:func:`book_lock`, a ``flock`` on
``book/_generated/.book.lock``), so they never write the book at the same time; a second run is refused
with the first one's pid and command (``--wait`` waits instead). Before anything else, both finish
what a killed run left (:func:`recover_interrupted`): its journaled outputs are put back and its staging
folders removed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import hashlib
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..case import config as cases_mod
from ..errors import UserInputError
from ..files import (
    LockBusy,
    atomic_write,
    describe_os_error,
    exclusive_lock,
    recover,
    recover_replaced,
    replace_dir,
    stray_temporaries,
)
from ..paths import ROOT

BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
GENERATED = BOOK / "_generated"
RESULTS = GENERATED / "results"
CACHE_FILE = GENERATED / "build_cache.json"
SITE = BOOK / "_build" / "html"
SITE_WORK = GENERATED / "site"  # persistent Sphinx work dir (doctrees) so rebuilds are incremental
STAGING = GENERATED / "staging"  # notebooks being executed (book/_generated is excluded from the Sphinx sources)
LOCK_FILE = GENERATED / ".book.lock"  # held by a build or a case run while it writes the book
JOURNAL = GENERATED / ".transaction.json"  # a case run's write-ahead journal (primarycare.files.Transaction)
ZH_BOOK = GENERATED / "zh" / "book"  # the Chinese edition's source tree (pages copied, chapters executed in Chinese)
SITE_WORK_ZH = GENERATED / "site_zh"  # its persistent Sphinx work dir; its HTML goes to book/_build/html/zh
EDITIONS = ("en", "zh")
# the workers and their kernels yield the processor to the analyses run ahead and to the edition checks,
# which the chapters wait for (a kernel's start-up has time to spare while they run)
KERNEL_NICENESS = 4
# figures display inline whatever MPLBACKEND says (no magic in notebooks), uncropped: the book's figures fit
# their canvas (primarycare.report.plots lays them out; tests/test_case.py checks nothing overflows), so the
# inline backend draws each once instead of twice for a "tight" crop
KERNEL_ARGS = ["--matplotlib=inline", "--InlineBackend.print_figure_kwargs={'bbox_inches': None}"]


@dataclass
class Job:
    """One notebook to execute: where from, where to, with which parameters."""

    name: str  # "case anhui", "primer 01_did", ...
    kind: str  # case | data | primer | synthesis
    source: Path
    output: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    results_dir: Path | None = None
    title: str = ""
    key: str = ""
    lang: str = "en"  # the edition it belongs to
    # where the notebook reads its case result, when the build ran the analysis ahead (estimate): a staging
    # folder. The saved notebook names parameters["results_dir"], where that result is kept afterwards.
    read_from: str | None = None
    # executed but left in staging (execute returns where): another edition's case chapter, run at the same
    # time as its English chapter, is put in place only if that one succeeds (_run_jobs)
    hold: bool = False


def _hash_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _notebook_hash(path: Path) -> str:
    """Hash a notebook's cell sources and types only (outputs and metadata do not change results)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [(c.get("cell_type"), "".join(c.get("source", []))) for c in nb.get("cells", [])]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode()).hexdigest()


def environment_hash() -> str:
    """Data files (panel, registries, briefs) and the library source, hashed together.

    ``data/cases.yml`` is left out: each case's key carries its own settings (:func:`case_key`), so saving
    or editing one case does not re-execute the others. Hidden files (editors' and savers' temporaries)
    are left out too.
    """
    cases_file = ROOT / "data" / "cases.yml"
    data = [p for p in (ROOT / "data").rglob("*")
            if p.is_file() and p != cases_file and not p.name.startswith(".")]
    lib = list((ROOT / "primarycare").rglob("*.py"))
    return _hash_files(data + lib)


def case_key(config: cases_mod.CaseConfig, n_permutations: int, panel_source: str | None = None,
             reproduce_command: str | None = None, env_hash: str | None = None) -> str:
    """Cache key of one case chapter: the notebook, the case's validated settings, the data and library.

    Shared with scripts/run_case.py, so a case it ran with the settings the full build would use (for
    example one saved with ``--save``) is a cache hit for the next full build.
    """
    settings = {**config.to_dict(), "n_permutations": n_permutations}
    material = [_notebook_hash(NOTEBOOKS / "case_study.ipynb"), settings, panel_source, reproduce_command,
                env_hash or environment_hash()]
    return hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def plan(selected: dict[str, cases_mod.CaseConfig], permutations: int | None) -> list[Job]:
    """The jobs of a full build, in dependency order (synthesis last)."""
    raw = cases_mod.read_yaml()
    defaults = raw.get("defaults") or {}
    jobs: list[Job] = []
    for cid, case in selected.items():
        # the case's own donors_exclude (a list, "auto", or "auto" plus provinces), so the chapter gives the
        # same exclusions and reasons as the validated case
        own = {**defaults, **(raw["cases"].get(cid) or {})}.get("donors_exclude", "auto")
        params = {
            "case_id": cid, "province": case.province, "reform_id": case.reform, "reform_year": None,
            "outcomes": list(case.outcomes), "window": list(case.window), "donors_exclude": own,
            "n_permutations": permutations or case.n_permutations, "seed": case.seed, "panel_source": None,
        }
        jobs.append(Job(f"case {cid}", "case", NOTEBOOKS / "case_study.ipynb", BOOK / "cases" / f"{cid}.ipynb",
                        params, RESULTS / cid, title=case.title))
    data_nb = NOTEBOOKS / "data_chapter.ipynb"
    if data_nb.exists():
        jobs.append(Job("data chapter", "data", data_nb, BOOK / "cases" / "data.ipynb"))
    record_nb = NOTEBOOKS / "real_record.ipynb"  # observed figures only (data/real/, facts, policies, cases)
    if record_nb.exists():
        jobs.append(Job("real record", "data", record_nb, BOOK / "cases" / "real_record.ipynb"))
    for nb in sorted((NOTEBOOKS / "primer").glob("*.ipynb")):
        jobs.append(Job(f"primer {nb.stem}", "primer", nb, BOOK / "primer" / nb.name))
    jobs.append(synthesis_job(list(selected)))
    return jobs


def synthesis_job(case_ids: list[str]) -> Job:
    """The synthesis chapter over the saved results of ``case_ids`` (also run by scripts/run_case.py)."""
    return Job("synthesis", "synthesis", NOTEBOOKS / "synthesis.ipynb", BOOK / "cases" / "synthesis.ipynb",
               {"results_dir": str(RESULTS), "case_ids": list(case_ids)})


def keyed_plan(selected: dict[str, cases_mod.CaseConfig], permutations: int | None) -> list[Job]:
    """:func:`plan` with each job's cache key set (the synthesis's key covers the cases' keys)."""
    env_hash = environment_hash()
    jobs = plan(selected, permutations)
    for job in jobs:
        if job.kind == "case":
            cfg = selected[job.name.split(" ", 1)[1]]
            job.key = case_key(cfg, job.parameters["n_permutations"], env_hash=env_hash)
        else:
            src = _notebook_hash(job.source) if job.source.exists() else "missing"
            used = _cases_read_by(job.source, selected) if job.kind in ("primer", "data") else {}
            if job.name == "real record":  # its reform timeline reads every case's reform year
                used = {cid: cfg.to_dict() for cid, cfg in selected.items()}
            job.key = hashlib.sha256(json.dumps([src, job.parameters, env_hash, used], sort_keys=True,
                                                ensure_ascii=False).encode()).hexdigest()
    return _key_synthesis(jobs)


def _cases_read_by(source: Path, selected: dict[str, cases_mod.CaseConfig]) -> dict[str, Any]:
    """Settings of the cases a primer/data notebook may read (primarycare.teaching_data): those named in
    its source and teaching_data's default case. data/cases.yml is not in the environment hash, so a change
    to one of these cases must reach the notebook's key this way."""
    import inspect

    from ..case.teaching import teaching_data

    text = source.read_text(encoding="utf-8") if source.exists() else ""
    default = inspect.signature(teaching_data).parameters["case_id"].default
    return {cid: cfg.to_dict() for cid, cfg in selected.items() if cid == default or f'"{cid}"' in text
            or f"'{cid}'" in text}


def _key_synthesis(jobs: list[Job]) -> list[Job]:
    synth = next(j for j in jobs if j.kind == "synthesis")
    case_keys = [j.key for j in jobs if j.kind == "case"]
    synth.key = hashlib.sha256((synth.key + "".join(case_keys)).encode()).hexdigest()
    return jobs


def library_catalogue_hash(lang: str = "zh") -> str:
    """Hash of the library's message catalogue of ``lang`` (part of that edition's cache keys)."""
    from .i18n import library_po

    po = library_po(lang)
    return hashlib.sha256(po.read_bytes() if po.exists() else b"missing").hexdigest()


def zh_title(config: cases_mod.CaseConfig) -> str:
    """A case chapter's title in the Chinese edition (from the registries' Chinese names)."""
    from ..data import provinces
    from ..report import edition
    from ..report.i18n import language, set_language

    before = language()
    set_language("zh", font=False)
    try:
        short = str(provinces.table().set_index("province").loc[config.province, "short_zh"])
        return edition.case_title(config.province, short, config.reform_name, config.reform_name_zh, config.title)
    finally:
        set_language(before, font=False)


def edition_plan(jobs: list[Job], selected: dict[str, cases_mod.CaseConfig], lang: str = "zh") -> list[Job]:
    """The jobs of the ``lang`` edition, made from the English edition's keyed jobs: the same notebooks with
    ``lang`` set, written into that edition's source tree. No re-estimation: a case chapter reads the result
    its English run saved (``results_dir``); the synthesis reads saved results anyway; primer, data and
    real-record notebooks run again (cheap simulations with the same seed, so the same numbers). A key is the
    English job's key (which covers the saved result) plus the language and its catalogue."""
    cat = library_catalogue_hash(lang)
    out = []
    for j in jobs:
        params = {**j.parameters, "lang": lang}
        title = ""
        if j.kind == "case":
            cid = j.name.split(" ", 1)[1]
            params["results_dir"] = str(j.results_dir)
            title = zh_title(selected[cid])
        key = hashlib.sha256(json.dumps([j.key, lang, cat, title], ensure_ascii=False).encode()).hexdigest()
        out.append(Job(f"{lang} {j.name}", j.kind, j.source, ZH_BOOK / j.output.relative_to(BOOK), params,
                       None, title=title, key=key, lang=lang))
    return out


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"  # one worker per core: keep each kernel single-threaded
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


_WARM: dict[str, Any] = {}  # this worker process's warm kernel (primarycare.book.kernels), if it has one


def start_warm_kernel(modules: tuple[str, ...] | None = None) -> None:
    """Pool initializer: start this worker's kernel and import the notebooks' modules in it
    (:class:`primarycare.book.kernels.WarmKernel`; ``modules``: :data:`~primarycare.book.kernels.WARM_MODULES`
    unless given), while the parent goes on planning; this process imports Papermill meanwhile. Its chatter
    goes to ``book/_generated/logs/kernel-<pid>.log``, as does the reason when it cannot start (the worker's
    notebooks then start their own kernels, as with ``--fresh-kernels``)."""
    from .kernels import WARM_MODULES, WarmKernel, register_engine

    with contextlib.suppress(OSError):
        os.nice(KERNEL_NICENESS)
    os.environ.update(_worker_env())
    logs = GENERATED / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"kernel-{os.getpid()}.log", "w") as log:
        os.dup2(log.fileno(), 2)
    from multiprocessing.util import Finalize

    kernel = None
    try:
        kernel = WarmKernel(KERNEL_ARGS, cwd=str(NOTEBOOKS), modules=modules or WARM_MODULES, wait=False)
        Finalize(kernel, kernel.shutdown, exitpriority=10)  # workers exit without atexit
        register_engine()  # imports Papermill here while the kernel starts and imports
        kernel.ready()
    except Exception as e:  # noqa: BLE001 - not fatal: the worker's notebooks start their own kernels
        if kernel is not None:
            kernel.shutdown()
        print(f"The warm kernel did not start ({type(e).__name__}: {e}); each notebook of this worker starts "
              "its own kernel.", file=sys.stderr, flush=True)
        return
    _WARM["kernel"] = kernel


def _warm_kernel() -> Any:
    """This worker's warm kernel if it is alive (a dead one is dropped: the notebook starts its own)."""
    kernel = _WARM.get("kernel")
    if kernel is not None and not kernel.alive():
        _WARM.pop("kernel", None)
        kernel = None
    return kernel


def execute(job: Job) -> dict[str, Any]:
    """Run one notebook with Papermill into a staging file; move it (and its results) into place on success.

    Runs in a worker process and returns a plain dict (exceptions are not pickled across processes). In a
    worker started by :func:`start_warm_kernel` the notebook runs in the worker's warm kernel (reset to a
    new kernel's state first: :mod:`primarycare.book.kernels`); a notebook that fails discards it.
    """
    import papermill as pm

    os.environ.update(_worker_env())
    start = time.time()
    logs = GENERATED / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / f"{job.name.replace(' ', '_')}.log", "w")  # noqa: SIM115 - kernel chatter goes here
    os.dup2(log.fileno(), 2)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    STAGING.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{job.output.stem}.", dir=STAGING))
    params = dict(job.parameters)
    if job.read_from:
        params["results_dir"] = job.read_from
    if job.results_dir is not None:  # the chapter's result goes to the book (with read_from: copied there
        params["output_dir"] = str(stage / "results")  # below; the chapter links its downloads either way)
    warm = _warm_kernel()
    engine = {}
    if warm is not None:
        from .kernels import register_engine

        engine = {"engine_name": register_engine(), "warm": warm, "warm_cwd": str(job.source.parent)}
    try:
        try:
            pm.execute_notebook(str(job.source), str(stage / job.output.name), parameters=params,
                                kernel_name="python3", cwd=str(job.source.parent), progress_bar=False,
                                log_output=False, extra_arguments=KERNEL_ARGS,
                                request_save_on_cell_execute=False,  # written once at the end (or on error),
                                **engine)                            # not twice per cell
        except BaseException:
            if warm is not None:  # its state is unknown after a failure: the next notebook gets a new kernel
                _WARM.pop("kernel", None)
                warm.shutdown()
            raise
    except pm.PapermillExecutionError as e:
        cell = _source_cell_index(stage / job.output.name, e.cell_index)
        shutil.rmtree(stage, ignore_errors=True)
        first_line = (e.evalue or "").strip().splitlines()[0] if e.evalue else ""
        return {"ok": False, "name": job.name, "cell": cell, "exec_count": e.exec_count,
                "where": _first_code_line(e.source), "notebook": _rel(job.source),
                "error": f"{e.ename}: {first_line}", "seconds": time.time() - start}
    except Exception as e:  # noqa: BLE001 - a kernel that fails to start, a bad notebook file, ...
        shutil.rmtree(stage, ignore_errors=True)
        return {"ok": False, "name": job.name, "cell": None, "exec_count": None,
                "error": f"{type(e).__name__}: {e}", "seconds": time.time() - start}
    _finish_notebook(stage / job.output.name, job.title,
                     {job.read_from: job.parameters["results_dir"]} if job.read_from else None)
    if job.read_from and job.results_dir is not None:  # its analysis, run ahead, is this chapter's result
        shutil.copytree(job.read_from, stage / "results")  # (copied: the other edition may be reading it)
    if job.results_dir is not None and (stage / "results").exists():
        job.results_dir.parent.mkdir(parents=True, exist_ok=True)
        replace_dir(stage / "results", job.results_dir)
    if job.hold:  # the caller puts it in place (place_held) once the chapter it depends on has succeeded
        return {"ok": True, "name": job.name, "seconds": time.time() - start, "staged": str(stage)}
    os.replace(stage / job.output.name, job.output)
    shutil.rmtree(stage, ignore_errors=True)
    return {"ok": True, "name": job.name, "seconds": time.time() - start}


def place_held(job: Job, res: dict[str, Any], keep: bool) -> None:
    """Put a chapter executed with ``hold`` in place (``keep``) or drop it; its staging folder goes."""
    stage = Path(res["staged"])
    if keep:
        os.replace(stage / job.output.name, job.output)
    shutil.rmtree(stage, ignore_errors=True)


def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _source_cell_index(saved: Path, index: int) -> int:
    """The failing cell's index in the source notebook, from Papermill's index in the executed one.

    Papermill's ``cell_index`` counts the executed notebook, which has the injected-parameters cell that
    the source notebook does not; the notebook it saves before raising also has two error-marker cells
    (one at the top, one before the failing cell), so it cannot be indexed with ``cell_index`` directly.
    """
    try:
        cells = json.loads(saved.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return index
    tags = [c.get("metadata", {}).get("tags", []) for c in cells]
    executed = [t for t in tags if "papermill-error-cell-tag" not in t]
    injected = next((i for i, t in enumerate(executed) if "injected-parameters" in t), None)
    return index - 1 if injected is not None and injected < index else index


def _first_code_line(source: str) -> str:
    """First non-comment line of the failing cell, to name it in the message."""
    lines = [ln.strip() for ln in (source or "").splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return lines[0][:80] if lines else ""


def _finish_notebook(path: Path, title: str, moved: dict[str, str] | None = None) -> None:
    """Give a case chapter its own title and hide Papermill's injected-parameters cell on the page.
    ``moved``: {staging folder read: where its content is kept}, written into the recorded parameters so
    the saved notebook names a folder that exists after the build."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for old, new in (moved or {}).items():
        params = nb.metadata.get("papermill", {}).get("parameters", {})
        for k, v in params.items():
            if v == old:
                params[k] = new
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags:
            for old, new in (moved or {}).items():
                cell.source = cell.source.replace(repr(old), repr(new)).replace(f'"{old}"', f'"{new}"')
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    if title:
        first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
        if first is not None and first.source.lstrip().startswith("# "):
            first.source = f"# {title}"
    nbformat.write(nb, path)


def write_status(out: Path | None = None) -> None:
    """``book/_generated/status.md`` (the landing page's data-status paragraph) and ``footer.html`` beside it
    (read by :mod:`primarycare.book.sphinx_ext` for every page's footer), both following the panel's status
    and written in the language in use; ``out``: another edition's ``status.md``."""
    from primarycare import data

    from ..report import edition

    panel = data.load_panel()
    counts = panel["status"].value_counts()
    n_sim, n_obs = int(counts.get("simulated", 0)), int(counts.get("observed", 0))
    status = out or GENERATED / "status.md"
    for path, text in ((status, edition.status_text(n_sim, n_obs)),
                       (status.with_name("footer.html"), edition.footer_text(n_sim, n_obs))):
        if not path.exists() or path.read_text(encoding="utf-8") != text + "\n":
            with atomic_write(path) as fh:
                fh.write(text + "\n")


def failure_message(res: dict[str, Any]) -> str:
    """One line naming the notebook run, the failing cell (its index in the source notebook) and the error."""
    where = f"cell {res['cell']}" if res.get("cell") is not None else "before any cell ran"
    if res.get("cell") is not None and res.get("notebook"):
        where += f" of {res['notebook']} (cells counted from 0)"
    if res.get("exec_count"):
        where += f" (execution count {res['exec_count']})"
    if res.get("where"):
        where += f", which starts `{res['where']}`"
    return f"{res['name']} failed in {where}: {res['error']}"


def clean_staging() -> None:
    """Remove staging folders left by an interrupted or failed run (they must never reach Sphinx)."""
    shutil.rmtree(STAGING, ignore_errors=True)
    for d in (BOOK / "cases", BOOK / "primer"):  # where older versions of this script staged
        for stale in d.glob(".*"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)


def write_toc(case_ids: list[str], book: Path | None = None) -> None:
    """Generate ``<book>/_toc.yml`` from the chapters that exist (cases in the order of data/cases.yml).

    ``book`` is another source tree with the same layout (the Chinese edition's, the message templates');
    default: the book's own sources (read when called, so tests can point the module at a copy).
    """
    book = BOOK if book is None else book
    lines = ["# Generated by scripts/build_book.py from data/cases.yml: do not edit.", "format: jb-book",
             "root: intro", "parts:"]

    def part(caption: str, files: list[str]) -> None:
        if files:
            lines.extend([f"  - caption: {caption}", "    chapters:"])
            lines.extend(f"      - file: {f}" for f in files)

    about = ["background", "reading_a_case"] + [f"cases/{c}" for c in ("real_record", "data")
                                                if (book / "cases" / f"{c}.ipynb").exists()]
    part("Background", [f for f in about if (book / f).with_suffix(".md").exists() or f.startswith("cases/")])
    part("Provincial cases", [f"cases/{c}" for c in case_ids if (book / "cases" / f"{c}.ipynb").exists()])
    part("Across provinces", ["cases/synthesis"] if (book / "cases" / "synthesis.ipynb").exists() else [])
    part("Methods primer", [f"primer/{p.stem}" for p in sorted((book / "primer").glob("*.ipynb"))
                            if (NOTEBOOKS / "primer" / p.name).exists()])
    # For teachers: the part's index page first, then its pages in name order (book/teachers/*.md)
    teachers = sorted((book / "teachers").glob("*.md"), key=lambda p: (p.stem != "index", p.stem))
    part("For teachers", [f"teachers/{p.stem}" for p in teachers])
    part("Reference", [f for f in ("glossary", "references", "sources", "download") if (book / f"{f}.md").exists()])
    text = "\n".join(lines) + "\n"
    toc = book / "_toc.yml"
    if not toc.exists() or toc.read_text(encoding="utf-8") != text:
        with atomic_write(toc) as fh:
            fh.write(text)


def book_sources(pattern: str = "*") -> list[Path]:
    """The paths under book/ matching ``pattern`` (as :meth:`Path.rglob`), outside the built site and the
    generated folders (book/_build, book/_generated: thousands of files a walk of book/ would go through)."""
    out: list[Path] = []
    for top in sorted(BOOK.iterdir()):
        if top.name in ("_build", "_generated"):
            continue
        if top.is_dir():
            out += top.rglob(pattern)
        elif top.match(pattern):
            out.append(top)
    return out


def site_hash() -> str:
    files = [p for p in book_sources() if p.is_file() and "_build" not in p.parts and "_generated" not in p.parts
             and ".ipynb_checkpoints" not in p.parts and not p.name.startswith(".") and "locale" not in p.parts]
    status = [GENERATED / n for n in ("status.md", "footer.html") if (GENERATED / n).exists()]
    return _hash_files(files + status)


def zh_site_hash() -> str:
    """What the Chinese pages are built from: its source tree and the static catalogues (.po)."""
    files = [p for p in ZH_BOOK.rglob("*") if p.is_file() and "_build" not in p.parts
             and ".ipynb_checkpoints" not in p.parts and not p.name.startswith(".")]
    files += sorted((BOOK / "locale").rglob("*.po"))
    return _hash_files(files)


def theme_hash() -> str:
    """Hash of what every page depends on (config, static assets, the footer): a change re-writes all pages."""
    footer = [GENERATED / "footer.html"] if (GENERATED / "footer.html").exists() else []
    return _hash_files([BOOK / "_config.yml", *sorted(p for p in (BOOK / "_static").rglob("*") if p.is_file()),
                        *footer])


def edition_config(lang: str) -> str:
    """``_config.yml`` of the ``lang`` edition's source tree: book/_config.yml with the title and footer in
    that language and Sphinx's internationalisation on (catalogues in book/locale, Chinese search with
    jieba, the language switch's target)."""
    import re

    from ..report import edition
    from ..report.i18n import language, set_language
    from .i18n import LOCALE, locale_of, relocated_config

    extra = (f"    language: {locale_of(lang)}\n"
             f"    locale_dirs: [{json.dumps(str(LOCALE))}]\n"
             "    gettext_compact: true\n"
             f"    html_search_language: {lang}\n"
             f"    html_search_options: {{dict: {json.dumps(str(ZH_BOOK / '_generated' / JIEBA_DICT))}}}\n"
             f"    pc_edition: {lang}\n")
    text = relocated_config(extra)
    before = language()
    set_language(lang, font=False)
    try:
        title, footer = edition.book_title(), edition.footer()
    finally:
        set_language(before, font=False)
    text = re.sub(r"^title: .*$", lambda m: "title: " + json.dumps(title, ensure_ascii=False), text, count=1,
                  flags=re.M)
    text = re.sub(r"(  extra_footer: \|\n)((?:    .*\n)+)", lambda m: m.group(1) + f"    <p>{footer}</p>\n", text,
                  count=1)
    return text


JIEBA_DICT = "search_words.txt"  # the glossary's Chinese headwords as jieba words (zh search finds 县聘乡用)


def search_words() -> list[str]:
    """Words the Chinese search must keep whole: the glossary's Chinese headwords (book/glossary.md) and the
    terms the chapters link to it (report/glossary.py). jieba would otherwise split 县聘乡用 into pieces."""
    import re

    from ..report.glossary import _CJK_TERMS

    heads = re.findall(r"^([\u3400-\u9fff]{2,})\s*$", (BOOK / "glossary.md").read_text(encoding="utf-8"), flags=re.M)
    return sorted(set(heads) | set(_CJK_TERMS))


def _copy_if_changed(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` unless the bytes are already there (an unchanged file keeps its time
    stamp, so Sphinx does not rebuild its page)."""
    if not target.exists() or target.read_bytes() != source.read_bytes():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def prepare_zh_tree(case_ids: list[str]) -> None:
    """The Chinese edition's source tree (:data:`ZH_BOOK`): the pages and assets of book/ copied (unchanged
    files keep their time stamps, so Sphinx stays incremental), its own _config.yml, TOC and generated
    includes in Chinese. Its chapters are the notebooks the zh jobs executed into it."""
    from ..report.i18n import language, set_language
    from . import readers

    ZH_BOOK.mkdir(parents=True, exist_ok=True)
    skip_top = {"_build", "_generated", "locale", "_toc.yml", "_config.yml"}
    tops = sorted(t for t in BOOK.iterdir() if t.name not in skip_top)  # not the built site: thousands of files
    for p in sorted(p for t in tops for p in (t.rglob("*") if t.is_dir() else [t])):
        rel = p.relative_to(BOOK)
        if (not p.is_file() or p.suffix == ".ipynb" or p.name.startswith(".")
                or ".ipynb_checkpoints" in rel.parts):
            continue
        _copy_if_changed(p, ZH_BOOK / rel)
    cfg = edition_config("zh")
    if not (ZH_BOOK / "_config.yml").exists() or (ZH_BOOK / "_config.yml").read_text(encoding="utf-8") != cfg:
        with atomic_write(ZH_BOOK / "_config.yml") as fh:
            fh.write(cfg)
    write_toc(case_ids, book=ZH_BOOK)
    before = language()
    set_language("zh")
    try:
        write_status(ZH_BOOK / "_generated" / "status.md")
    finally:
        set_language(before)
    readers.write_edition_pages(ZH_BOOK / "_generated", "zh")
    # the data chapter's downloads (the panel, the planted effects, the facts register: the same files in
    # both editions), which its notebook writes beside the English sources and links relative to its page
    downloads = GENERATED / "data_downloads"
    for p in sorted(downloads.glob("*")) if downloads.is_dir() else []:
        if p.is_file():
            _copy_if_changed(p, ZH_BOOK / "_generated" / "data_downloads" / p.name)
    words = "".join(f"{w} 100000 n\n" for w in search_words())
    target = ZH_BOOK / "_generated" / JIEBA_DICT
    if not target.exists() or target.read_text(encoding="utf-8") != words:
        with atomic_write(target) as fh:
            fh.write(words)


def build_edition(lang: str = "en", quiet: bool = True, all_pages: bool = False) -> Path:
    """``jupyter-book build`` (execution off) of one edition into its persistent work dir; its HTML folder.

    Sphinx rebuilds only changed pages; ``all_pages`` re-writes every page (needed when the config or a
    static asset such as the reader CSS changed, so no page keeps a stale asset reference).
    """
    return build_editions({lang: all_pages}, quiet=quiet)[lang]


def build_editions(editions: dict[str, bool], quiet: bool = True) -> dict[str, Path]:
    """:func:`build_edition` of several editions (``{lang: all_pages}``) at once, one ``jupyter-book``
    process each (Sphinx uses one core; the editions have separate sources and work dirs); their HTML
    folders. The first failure is raised after every process has finished."""
    from . import readers, sphinx_runs

    readers.ensure_pages()  # figures, sources table and downloads the pages include (made once if missing)
    runs: dict[str, tuple[sphinx_runs.Run, Path]] = {}
    with tempfile.TemporaryDirectory(prefix="primarycare-site-") as logs:
        for lang, all_pages in editions.items():
            source, work = (BOOK, SITE_WORK) if lang == "en" else (ZH_BOOK, _zh_work())
            work.mkdir(parents=True, exist_ok=True)
            args = ["build", str(source), "--path-output", str(work)]
            if all_pages:
                args.append("--all")
            if quiet:
                args.append("--quiet")
            runs[lang] = (sphinx_runs.start(args, ROOT, _worker_env(), Path(logs) / f"{lang}.log"), work)
        codes = {lang: run.wait() for lang, (run, _work) in runs.items()}
        texts = {lang: (Path(logs) / f"{lang}.log").read_text(encoding="utf-8", errors="replace") for lang in runs}
    errors, html = [], {}
    for lang, (_run, work) in runs.items():
        code, text = codes[lang], texts[lang]
        html[lang] = work / "_build" / "html"
        warned = sphinx_warnings(text)
        if code == 0 and warned:  # built, but a warning is often a broken link or a file the page cannot find
            print(f"Sphinx reported {len(warned)} warning{'s' if len(warned) > 1 else ''} in the {lang} edition "
                  "(the site was built; look at each):\n  " + "\n  ".join(warned[:12])
                  + ("\n  ..." if len(warned) > 12 else ""), file=sys.stderr)
        if code != 0 or not (html[lang] / "index.html").exists():
            tail = "\n".join(text.strip().splitlines()[-25:])
            errors.append(f"jupyter-book build of the {lang} edition failed (the previous site in {SITE} is "
                          f"unchanged). Last lines of its output: {tail}")
    if errors:
        raise UserInputError(errors[0])
    return html


def sphinx_warnings(output: str) -> list[str]:
    """The warning lines of a ``jupyter-book`` run's output, without terminal colours."""
    import re

    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return [line.strip() for line in plain.splitlines() if "WARNING:" in line]


def _zh_work() -> Path:
    """The Chinese edition's work dir, beside the English one's (also when a test points SITE_WORK elsewhere)."""
    return SITE_WORK.with_name(SITE_WORK_ZH.name)


def assemble_site(place: Callable[[Path, Path], None] = replace_dir) -> None:
    """One site: the English edition at book/_build/html and, when it has been built, the Chinese edition at
    book/_build/html/zh (each from its work dir's last successful build); swapped into place at once."""
    from . import readers

    html = SITE_WORK / "_build" / "html"
    zh_html = _zh_work() / "_build" / "html"
    SITE.parent.mkdir(parents=True, exist_ok=True)
    staged = SITE.parent / ".html.new"
    if staged.exists():
        shutil.rmtree(staged)
    shutil.copytree(html, staged)
    if (zh_html / "index.html").exists():
        shutil.rmtree(staged / "zh", ignore_errors=True)
        shutil.copytree(zh_html, staged / "zh")
    place(staged, SITE)
    readers.publish_downloads(SITE)  # the swap replaced _downloads: the wheel and the primer zip go back in


def build_site(quiet: bool = True, all_pages: bool = False,
               place: Callable[[Path, Path], None] = replace_dir, langs: tuple[str, ...] = ("en",)) -> None:
    """Build the editions ``langs`` (:func:`build_edition`), then swap the site into place
    (:func:`assemble_site`; an edition not rebuilt keeps its last build). ``place`` moves the staged HTML
    folder over the site (a case run passes its journaled transaction's)."""
    build_editions(dict.fromkeys(langs, all_pages), quiet=quiet)
    assemble_site(place)


# --------------------------------------------------------------------------------------------------
# one writer at a time, and recovery from a killed run


def die_with_parent(parent: int | None = None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child killed when this process (or the process ``parent``, for a call
    made in the child after a fork) dies (Linux ``PR_SET_PDEATHSIG``).

    A run killed with SIGKILL cannot stop its children; without this a notebook or jupyter-book child
    would go on writing into the staging and work folders after the next run had cleaned them. (A
    notebook's kernel exits by itself when its parent dies: ipykernel polls its parent.) None elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid() if parent is None else parent

    def preexec() -> None:
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def command_line() -> str:
    """This process's command line as typed (for the lock file and the journal)."""
    try:
        raw = Path("/proc/self/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        args = [a.decode("utf-8", "backslashreplace") for a in raw]
        args[0] = Path(args[0]).name
    except (OSError, IndexError):
        args = [Path(sys.executable).name, *sys.argv]
    text = shlex.join(args)
    return text if len(text) <= 300 else text[:297] + "..."


def _rel_or_abs(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


@contextlib.contextmanager
def book_lock(wait: bool = False, command: str | None = None) -> Iterator[None]:
    """Hold the book's lock (:data:`LOCK_FILE`) for the block; refuse at once (or wait) if another run has it.

    Taken by the full build and by a case run: the two must not interleave. The lock is a ``flock``,
    which the kernel releases when its holder dies, so a lock file left by a killed run never blocks.
    """
    lock = _rel_or_abs(LOCK_FILE)

    def waiting(holder: dict[str, Any]) -> None:
        print(f"Waiting for {_holder_text(holder)} to finish (it holds {lock}) ...", flush=True)

    try:
        with exclusive_lock(LOCK_FILE, command or command_line(), wait=wait, on_wait=waiting):
            yield
    except LockBusy as busy:
        raise UserInputError(
            f"Another run is writing the book: {_holder_text(busy.holder)} holds the lock {lock}. This run "
            "stopped before reading or changing anything. Wait for that run to finish and start this one "
            "again, or add --wait to start as soon as it has finished (a run that is killed releases the "
            "lock at once).") from None
    except OSError as e:
        if e.filename is not None and Path(str(e.filename)) in (LOCK_FILE, LOCK_FILE.parent):
            raise UserInputError(f"Cannot take the book's lock {lock}: {describe_os_error(e)}. Nothing was run "
                                 "or changed.") from None
        raise


def _holder_text(holder: dict[str, Any]) -> str:
    if not holder.get("pid"):
        return "another process (its details are not written yet)"
    since = f", started {holder['started']}" if holder.get("started") else ""
    return f"pid {holder['pid']} (`{holder.get('command') or 'unknown command'}`{since})"


def recover_interrupted(say: Callable[[str], None] = print) -> bool:
    """Undo what a killed build or case run left half done; say so in one line. True if there was anything.

    Call it holding :func:`book_lock`, before reading the book or ``data/cases.yml``. A case run's
    journal (:data:`JOURNAL`) is rolled back: every output it had replaced is put back and every one
    it had placed is removed, ``data/cases.yml`` included. Half-finished folder swaps of the full build
    are finished or undone (:func:`primarycare.files.recover_replaced`); staging folders
    (``book/_generated/.run_case.*``, ``book/_generated/staging``, ``book/_build/.html.new``) and
    temporary files are deleted.
    """
    try:
        record = recover(JOURNAL)
        put_back = recover_replaced(RESULTS) + recover_replaced(SITE.parent)
    except OSError as e:
        raise UserInputError(
            f"An interrupted run left its journal {_rel_or_abs(JOURNAL)}, but the outputs it had replaced could "
            f"not be put back: {describe_os_error(e)}. Nothing else was done and the journal is kept, so the next "
            "run tries again.") from None
    stale = [*sorted(GENERATED.glob(".run_case.*")), STAGING, SITE.parent / ".html.new"]
    for target in (BOOK / "_toc.yml", GENERATED / "status.md", CACHE_FILE, cases_mod.CASES_FILE):
        stale += stray_temporaries(target)
    stale = [p for p in stale if p.exists()]
    if STAGING.is_dir() and not any(STAGING.iterdir()):  # an empty one is left by every successful run
        STAGING.rmdir()
        stale.remove(STAGING)
    for p in stale:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    if record is not None:
        say(f"Recovered an interrupted run (pid {record.get('pid')}: {record.get('command') or 'unknown command'}): "
            f"put back or removed the {record['restored']} output(s) it had changed and deleted its staging "
            "folders; the book and data/cases.yml are as they were before it.")
    elif stale or put_back:
        say("Cleaned up after an interrupted run: deleted its staging folders"
            + (f" and put back {', '.join(_rel_or_abs(p) for p in put_back)}" if put_back else "")
            + "; it had not changed the book.")
    return bool(record is not None or stale or put_back)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="primarycare build", description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="re-execute every notebook and rebuild the site")
    ap.add_argument("--keep-going", action="store_true", help="build what can be built, then list the failures")
    ap.add_argument("--permutations", type=int, default=None,
                    help="randomization-test permutations for every case (env PRIMARYCARE_PERMUTATIONS); "
                         "small values make fast test builds")
    ap.add_argument("--only", action="append", metavar="CASE", help="execute only this case (repeatable) and the "
                    "synthesis that reads it (with --no-site, left to the next build that makes the site); other "
                    "chapters are kept as built before")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel workers (default: cores)")
    ap.add_argument("--no-site", action="store_true", help="execute the notebooks only: the site, and the pages, TOC and "
                    "Chinese source tree it is built from, are left to the next build that makes it")
    ap.add_argument("--fresh-kernels", action="store_true",
                    help="start a new kernel for every notebook, which runs its case's analysis itself (default: "
                         "the analyses run ahead in a process of their own, and each worker reuses one warm kernel, "
                         "reset to a new kernel's state before every notebook; see primarycare.book.kernels)")
    ap.add_argument("--lang", choices=["en", "zh", "all"], default="all",
                    help="which edition to build: English (book/_build/html), Chinese (book/_build/html/zh) or "
                         "both (default). The Chinese edition reads the English run's saved case results.")
    ap.add_argument("--allow-untranslated", action="store_true",
                    help="for translators: build the Chinese edition even when the catalogue check fails "
                         "(untranslated messages stay in English); the default stops the build")
    ap.add_argument("--wait", action="store_true", help="if another build or case run is writing the book, wait "
                    "for it to finish (default: stop at once)")
    args = ap.parse_args(argv)
    with book_lock(wait=args.wait), contextlib.ExitStack() as scope:
        recover_interrupted()
        return _build(args, scope)


def i18n_key(lang: str = "zh") -> str:
    """What the catalogue check of ``lang`` depends on: the templates' sources, the catalogues, the report
    layer's source and the case ids (docnames)."""
    files = [*NOTEBOOKS.rglob("*.ipynb"), *(p for p in book_sources("*.md") if "_build" not in p.parts
                                             and "_generated" not in p.parts),
             *(BOOK / "locale").rglob("*.po*"), *(ROOT / "primarycare" / "report").rglob("*.po"),
             *(ROOT / "primarycare" / "report").glob("*.py"),
             *(p for p in (ROOT / "data" / "README.md", ROOT / "data" / "reform_briefs.yml") if p.exists())]
    ids = list(cases_mod.read_yaml().get("cases") or {})
    return hashlib.sha256((_hash_files(files) + lang + json.dumps(ids)).encode()).hexdigest()


def check_edition(lang: str, cache: dict[str, str], allow_untranslated: bool, key: str | None = None) -> None:
    """Before a ``lang`` edition runs anything: its font is installed and every message is translated
    (:func:`primarycare.book.i18n.require_complete`; cached while its inputs, ``key``, are unchanged:
    :func:`i18n_key` unless the caller has it)."""
    from ..report import plots
    from . import i18n

    plots.font_family(lang)  # raises with the install command when the CJK font is missing
    key = key or i18n_key(lang)
    if cache.get(f"_i18n_{lang}") == key:
        return
    failed = cache.get(f"_i18n_{lang}_failed")
    try:
        if isinstance(failed, list) and failed[0] == key:  # same inputs as a failed check: same answer
            raise UserInputError(failed[1])
        try:
            i18n.require_complete(lang)
        except UserInputError as e:
            cache[f"_i18n_{lang}_failed"] = [key, str(e)]
            raise
    except UserInputError as e:
        if not allow_untranslated:
            raise
        print(f"Warning (--allow-untranslated): {e}", file=sys.stderr)
        return
    cache.pop(f"_i18n_{lang}_failed", None)
    cache[f"_i18n_{lang}"] = key


def _noop() -> None:
    """Submitted once per worker so the pool starts (and warms) its workers at once."""


def _analysis_process() -> None:
    """Initializer of the process that runs the analyses ahead (:func:`estimate`): the kernels' environment
    and the estimators imported at once. (It is forked from the build, whose numerics
    :func:`primarycare.cli.command` keeps single-threaded as in the kernels, so the results are the ones a
    kernel computes.)"""
    import importlib

    from .kernels import ANALYSIS_MODULES

    os.environ.update(_worker_env())
    for name in ("primarycare.case.run", *ANALYSIS_MODULES):
        importlib.import_module(name)
    gc.freeze()  # the modules live as long as the process: out of the garbage collector's passes


@contextlib.contextmanager
def execution_pool(workers: int, warm: bool = True, modules: tuple[str, ...] | None = None
                   ) -> Iterator[ProcessPoolExecutor]:
    """``workers`` worker processes; with ``warm`` each starts a kernel and imports the notebooks' modules
    (``modules``, default all: :func:`warm_modules`) at once (:func:`start_warm_kernel`), so this overlaps
    with whatever the caller does next."""
    pool = ProcessPoolExecutor(max_workers=max(1, workers), initializer=start_warm_kernel if warm else None,
                               initargs=(modules,) if warm else ())
    try:
        for _ in range(max(1, workers)):
            pool.submit(_noop)
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def analysis_name(job: Job) -> str:
    """The name of a case chapter's analysis step: "case anhui" and "zh case anhui" -> "analysis anhui"."""
    return "analysis " + job.name.rsplit(" ", 1)[-1]


def runs_ahead(job: Job) -> bool:
    """Whether the build runs ``job``'s analysis ahead of it (:func:`estimate`): an English case chapter that
    saves its result."""
    return job.kind == "case" and job.lang == "en" and job.results_dir is not None and not job.read_from


def _dependencies(todo: list[Job], ahead: bool = False) -> dict[str, set[str]]:
    """What each job waits for, among ``todo``: a synthesis (either edition) reads every case's saved result,
    so it waits for the English case runs; a Chinese case chapter reads its English run's result. With
    ``ahead`` the English case analyses run first (:func:`estimate`, steps named by :func:`analysis_name`):
    a case chapter of either edition waits for its analysis alone."""
    names = {j.name for j in todo}
    en_cases = {j.name for j in todo if j.kind == "case" and j.lang == "en"}
    analysed = {analysis_name(j) for j in todo if ahead and runs_ahead(j)}
    deps: dict[str, set[str]] = {}
    for j in todo:
        if j.kind == "synthesis":
            deps[j.name] = set(en_cases)
        elif j.kind == "case" and analysis_name(j) in analysed:
            deps[j.name] = {analysis_name(j)}
        elif j.kind == "case" and j.lang != "en":  # another edition's chapter: "zh case anhui"
            english = j.name.split(" ", 1)[1]
            deps[j.name] = {english} & names
        else:
            deps[j.name] = set()
    return deps


def parallel_width(todo: list[Job], ahead: bool = False) -> int:
    """How many of ``todo`` can run at once at most: the largest number of jobs at the same depth of the
    dependency graph (:func:`_dependencies`; the analyses run ahead are not notebooks and take no worker).
    One case chapter and the synthesis that reads it: 1, so the build starts one worker (and warms one
    kernel) instead of two."""
    deps = _dependencies(todo, ahead)
    jobs = {j.name for j in todo}
    depth: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((level(d) for d in deps[name] if d in jobs), default=-1)
        return depth[name]

    counts: dict[int, int] = {}
    for j in todo:
        counts[level(j.name)] = counts.get(level(j.name), 0) + 1
    return max(counts.values(), default=0)


def warm_modules(todo: list[Job]) -> tuple[str, ...]:
    """What the workers' kernels import before their first notebook: only what rendering needs
    (:data:`~primarycare.book.kernels.RENDER_MODULES`) when every notebook renders saved results (case
    chapters whose analysis runs ahead, syntheses); else everything (:data:`~primarycare.book.kernels.WARM_MODULES`)."""
    from .kernels import RENDER_MODULES, WARM_MODULES

    render = all(j.kind == "synthesis" or (j.kind == "case" and (j.lang != "en" or runs_ahead(j))) for j in todo)
    return RENDER_MODULES if render else WARM_MODULES


def figures_ahead(langs: tuple[str, ...]) -> None:
    """Draw the introduction's figures of the editions ``langs`` where the build puts them before Sphinx
    runs (:func:`primarycare.book.readers.write_figures`, which keeps figures drawn from the same inputs:
    those later calls then draw nothing). Runs in the analysis process, after the analyses; a failure is
    left for those calls to report."""
    from ..report.i18n import language, set_language
    from . import readers

    before = language()
    for lang, folder in (("en", readers.FIGURES), ("zh", ZH_BOOK / "_generated" / "figures")):
        if lang not in langs:
            continue
        set_language(lang)
        try:  # a failure: write_pages and prepare_zh_tree draw the figures again and report it
            with contextlib.suppress(Exception):
                readers.write_figures(folder)
        finally:
            set_language(before)


def drop_analyses() -> None:
    """Remove the analyses' staging folders (:func:`estimate`); a chapter keeps its copy of the result."""
    for d in STAGING.glob("analysis-*"):
        shutil.rmtree(d, ignore_errors=True)


def estimate(job: Job) -> dict[str, Any]:
    """Run an English case chapter's analysis in this process, ahead of its notebook, and save the result
    in the staging folder ``analysis-<case>``: the same calls, with the same parameters, as the notebook's
    first code cell (:func:`primarycare.cases.from_parameters`, :func:`primarycare.case.run.run_case`).

    Why: the chapter's kernel starts and imports meanwhile (it then only renders, as the Chinese edition's
    chapters always did), and both editions' chapters of the case can run at once. Runs in the build's
    analysis process (forked from the build, single-threaded numerics as in the kernels:
    :func:`primarycare.cli.command`). A failure returns ``ok: False`` and is not reported here: the chapter
    then runs its own analysis and reports the error with its cell, as it would without this step."""
    start = time.time()
    cid = job.name.rsplit(" ", 1)[-1]
    out = {"name": analysis_name(job), "job": job.name}
    try:
        from .. import cases as pcases
        from ..case.run import run_case

        p = job.parameters
        cfg = pcases.from_parameters(p["case_id"], p["province"], p["reform_id"], reform_year=p.get("reform_year"),
                                     outcomes=p.get("outcomes"), window=p.get("window"),
                                     donors_exclude=p.get("donors_exclude", "auto"),
                                     n_permutations=p.get("n_permutations"), seed=p.get("seed"),
                                     **(p.get("case_spec") or {}))
        result = run_case(cfg, panel_source=p.get("panel_source"), n_permutations=p.get("n_permutations"))
        where = STAGING / f"analysis-{cid}"
        shutil.rmtree(where, ignore_errors=True)
        where.mkdir(parents=True)
        result.save(where / "results")
    except Exception as e:  # noqa: BLE001 - the chapter runs the analysis itself and reports this with its cell
        return {**out, "ok": False, "error": f"{type(e).__name__}: {e}", "seconds": time.time() - start}
    return {**out, "ok": True, "results_dir": str(where / "results"), "seconds": time.time() - start}


def save_cache(cache: dict[str, Any]) -> None:
    """Write the build cache (keys of executed notebooks and built sites, checks' answers, timings)."""
    GENERATED.mkdir(parents=True, exist_ok=True)
    with atomic_write(CACHE_FILE) as fh:
        json.dump(cache, fh, indent=1, sort_keys=True)


def _priorities(todo: list[Job], deps: dict[str, set[str]], seconds: dict[str, float]) -> dict[str, float]:
    """Each job's expected seconds (last build's, else a guess by kind) plus the longest chain of jobs that
    wait for it: the build starts the job with the most work behind it first, so the last notebook running
    alone is a short one and the synthesis is not left waiting for a case chapter started late."""
    guess = {"case": 8.0, "primer": 4.0, "synthesis": 3.0, "data": 3.0}
    own = {j.name: float(seconds.get(j.name, guess.get(j.kind, 4.0))) for j in todo}
    waiting_for: dict[str, set[str]] = {n: set() for n in own}
    for name, needs in deps.items():
        for d in needs & set(own):
            waiting_for[d].add(name)
    rank: dict[str, float] = {}

    def chain(name: str) -> float:
        if name not in rank:
            rank[name] = own[name] + max((chain(w) for w in waiting_for[name]), default=0.0)
        return rank[name]

    return {n: chain(n) for n in own}


def _run_jobs(todo: list[Job], pool: ProcessPoolExecutor, keep_going: bool, cache: dict[str, str],
              gates: dict[str, Future] | None = None, ahead: Any = None, slots: int | None = None,
              after: tuple[Callable[[], Any], ...] = ()) -> list[dict[str, Any]]:
    """Execute ``todo`` on ``pool``, each job once the jobs it reads have finished (:func:`_dependencies`);
    record the keys of the successful ones. Without ``keep_going`` the first failure stops what has not
    started; with it, a job whose English run failed is skipped and the rest run. ``gates``: an edition's
    jobs start only once its future (the edition's check, running meanwhile) has returned; when it raised
    they are dropped (the caller reports why). ``ahead``: an executor that runs the English case chapters'
    analyses first (:func:`estimate`); a chapter whose analysis failed runs it itself. ``slots``: how many
    notebooks the pool runs at once (the pool is given no more, so the next one is chosen when a worker
    is free). ``after``: work for ``ahead`` once the analyses are done (not waited for here: shutting the
    executor down waits for it)."""
    from tqdm import tqdm

    gates = dict(gates or {})
    deps = _dependencies(todo, ahead is not None)
    waiting = {j.name: j for j in todo}
    finished: set[str] = set()
    failed: set[str] = set()
    failures: list[dict[str, Any]] = []
    bar = tqdm(total=len(todo), unit="notebook", file=sys.stderr)
    running: dict[Any, Job] = {}
    analyses: dict[Any, Job] = {}
    held: dict[str, tuple[Job, dict[str, Any]]] = {}  # English chapter's name -> its other edition's, held
    names = {j.name for j in todo}

    seconds = cache.get("_seconds") if isinstance(cache.get("_seconds"), dict) else {}
    priority = _priorities(todo, deps, seconds)
    if ahead is not None:
        for job in sorted((j for j in todo if runs_ahead(j)), key=lambda j: -priority[j.name]):
            analyses[ahead.submit(estimate, job)] = job
        for fn in after:
            ahead.submit(fn)

    def open_gates() -> None:
        for lang, gate in list(gates.items()):
            if not gate.done():
                continue
            del gates[lang]
            if gate.exception() is None:
                continue
            dropped = [n for n, j in waiting.items() if j.lang == lang]
            for n in dropped:
                del waiting[n]
            bar.total -= len(dropped)
            bar.refresh()

    def analysed(res: dict[str, Any]) -> None:
        """An analysis run ahead has returned: its case's chapters read its result, or (when it failed) the
        English chapter runs the analysis itself and the other editions' chapters wait for it."""
        finished.add(res["name"])
        for name, job in list(waiting.items()):
            if job.kind != "case" or analysis_name(job) != res["name"]:
                continue
            if res["ok"]:  # its notebook records the folder the result is kept in (job.results_dir for
                kept = str(job.results_dir or job.parameters["results_dir"])  # the English chapter)
                waiting[name] = Job(**{**job.__dict__, "read_from": res["results_dir"], "hold": job.lang != "en",
                                       "parameters": {**job.parameters, "results_dir": kept}})
            elif job.lang != "en":
                deps[name] = {res["job"]} & set(waiting)

    def submit_ready() -> None:
        open_gates()
        ready = sorted(((n, j) for n, j in waiting.items() if j.lang not in gates), key=lambda kv: -priority[kv[0]])
        for name, job in ready:
            if slots is not None and len(running) >= slots:
                break
            if deps[name] <= finished:
                del waiting[name]
                if job.kind == "case" and job.lang != "en" and deps[name] & failed:
                    finished.add(name)  # its English run failed (--keep-going): nothing to translate
                    bar.update(1)
                    continue
                running[pool.submit(execute, job)] = job

    submit_ready()
    while running or analyses or (waiting and gates):
        done, _ = wait(set(running) | set(analyses) | set(gates.values()), return_when=FIRST_COMPLETED)
        for fut in done:
            if fut in analyses:
                analyses.pop(fut)
                res = fut.result()
                analysed(res)
                bar.set_postfix_str(f"{res['name']} {res['seconds']:.0f}s")
                continue
            if fut not in running:  # a gate: submit_ready below opens it
                continue
            job = running.pop(fut)
            res = fut.result()
            bar.update(1)
            bar.set_postfix_str(f"{res['name']} {res['seconds']:.0f}s")
            finished.add(job.name)
            seconds[job.name] = round(float(res["seconds"]), 2)
            if res["ok"] and res.get("staged"):  # another edition's chapter: in place once its English one is
                held[job.name.split(" ", 1)[1]] = (job, res)
            elif res["ok"]:
                cache[res["name"]] = job.key
            else:
                failed.add(job.name)
                failures.append(res)
                tqdm.write("FAILED: " + failure_message(res), file=sys.stderr)
            for english in [e for e in held if e in finished or e not in names]:
                other, other_res = held.pop(english)
                keep = english not in failed
                place_held(other, other_res, keep)
                if keep:
                    cache[other.name] = other.key
        if failures and not keep_going:  # start nothing new; the notebooks already running finish
            waiting.clear()
            for f in [f for f in running if f.cancel()]:
                running.pop(f)
            for f in [f for f in analyses if f.cancel()]:
                analyses.pop(f)
        submit_ready()
    for other, other_res in held.values():  # their English chapters never ran (the build stopped first)
        place_held(other, other_res, keep=False)
    bar.close()
    cache["_seconds"] = seconds
    save_cache(cache)
    return failures


def runs_jupyter_book(no_site: bool, executes: bool, langs: tuple[str, ...], cache: dict[str, Any],
                      zh_key: str | None = None) -> bool:
    """Whether a build will run ``jupyter-book``: the sites after executing notebooks (unless ``no_site``),
    or the Chinese edition's catalogue check, unless the cache holds its answer for the same inputs
    (``zh_key``: :func:`i18n_key` unless the caller has it). (Not sure either way, as when only a page
    changed: no, and the runs are new processes, as without a server.)"""
    return (not no_site and executes) or ("zh" in langs and cache.get("_i18n_zh") != (zh_key or i18n_key("zh")))


def _build(args: argparse.Namespace, scope: contextlib.ExitStack | None = None) -> int:
    """The build itself (holding the lock, after recovery). ``scope`` holds what lasts until the build ends
    (the jupyter-book runs' server, :mod:`primarycare.book.sphinx_runs`; none without it)."""
    t0 = time.time()
    perms = args.permutations or (int(os.environ["PRIMARYCARE_PERMUTATIONS"])
                                  if os.environ.get("PRIMARYCARE_PERMUTATIONS") else None)
    if perms is not None and perms < 1:
        raise UserInputError(f"--permutations must be a positive number, got {perms}.")
    langs = EDITIONS if getattr(args, "lang", "all") == "all" else (args.lang,)

    all_cases = cases_mod.load_cases()  # validates every case before anything runs
    print(f"Validated {len(all_cases)} cases: {', '.join(all_cases)}")
    only = set(args.only or [])
    unknown = sorted(only - set(all_cases))
    if unknown:
        raise UserInputError(f"--only {unknown[0]!r} is not a case in data/cases.yml. Known cases: "
                             + ", ".join(all_cases) + ".")

    clean_staging()
    cache: dict[str, str] = json.loads(CACHE_FILE.read_text()) if CACHE_FILE.exists() else {}
    jobs = keyed_plan(all_cases, perms)
    zh_jobs = edition_plan(jobs, all_cases, "zh") if "zh" in langs else []

    def selected(job: Job) -> bool:
        if only and job.kind == "case" and job.name.rsplit(" ", 1)[-1] not in only:
            return False
        if only and args.no_site and job.kind == "synthesis":
            return False  # no page is published: the next build that makes the site runs it (see below)
        return not (only and job.kind in ("primer", "data"))

    def needed(job: Job) -> bool:
        if not selected(job):
            return False
        if job.kind == "case" and job.results_dir and not (job.results_dir / "results.json").exists():
            return True
        return args.force or not job.output.exists() or cache.get(job.name) != job.key

    todo = [j for j in jobs if needed(j)] if "en" in langs else []
    if "en" not in langs:  # a Chinese case chapter needs the English run's saved result
        missing = [j.name.split(" ", 1)[1] for j in jobs if j.kind == "case" and selected(j)
                   and not (j.results_dir and (j.results_dir / "results.json").exists())]
        if missing:
            raise UserInputError("--lang zh reads the saved results of the English case runs, and there are none "
                                 f"for {', '.join(missing)}: build the English edition first (--lang en or all).")
    zh_todo = [z for z in zh_jobs if needed(z)]
    failures: list[dict[str, Any]] = []
    n_total = (len(jobs) if "en" in langs else 0) + len(zh_jobs)
    ahead = not getattr(args, "fresh_kernels", False)  # analyses run ahead of their chapters (estimate)
    workers = max(1, min(args.jobs, parallel_width(todo + zh_todo, ahead)))
    zh_key = i18n_key("zh") if "zh" in langs else None  # the Chinese catalogue check's inputs, hashed once
    if scope is not None and runs_jupyter_book(args.no_site, bool(todo or zh_todo), langs, cache, zh_key):
        # its runs are forked from one process that imports Sphinx meanwhile: started now, before any thread
        # or worker (a fork of a process with threads may inherit a lock that is never released)
        from . import sphinx_runs

        scope.enter_context(sphinx_runs.forkserver())
    zh_refused = None  # the Chinese edition's font or catalogue check failed: build English, then report it
    from . import readers  # introduction figures, sources table, wheel and primer zip (book/_generated)

    with contextlib.ExitStack() as stack, contextlib.ExitStack() as workers_stack:
        wheel = None  # the download page's wheel, built in the background while the notebooks run
        if "en" in langs and not args.no_site and readers.current_wheel() is None:
            wheel = readers.WheelBuild()
            stack.callback(wheel.close)
        warm = not getattr(args, "fresh_kernels", False)
        modules = warm_modules(todo + zh_todo)  # what the kernels import before their first notebook
        if warm and (todo or zh_todo):  # the workers' kernels are forked from one process that imports what
            from . import kernel_forks  # they use once (started now: before any thread or worker)

            workers_stack.enter_context(kernel_forks.server(modules, _worker_env(),
                                                            niceness=KERNEL_NICENESS))
        # the English case chapters' analyses, one after another in a process of their own, while the
        # workers' kernels start (each chapter then renders its saved result)
        analyses = None
        if ahead and any(runs_ahead(j) for j in todo):
            workers_stack.callback(drop_analyses)  # once every chapter that reads them has run
            analyses = workers_stack.enter_context(ProcessPoolExecutor(max_workers=1, initializer=_analysis_process))
            analyses.submit(_noop)  # forked now, before the threads below start, and importing the estimators
        if todo or zh_todo:  # once here, not in every worker forked below: Papermill, and the notebook
            import nbformat  # format's validator (compiled the first time a notebook is read)
            import papermill  # noqa: F401

            nbformat.validator.get_validator(version=nbformat.v4.nbformat, version_minor=nbformat.v4.nbformat_minor)
        # the workers start and warm their kernels now, while the Chinese edition's checks run
        pool = (workers_stack.enter_context(execution_pool(workers, warm=warm, modules=modules))
                if todo or zh_todo else None)
        gates: dict[str, Future] = {}
        if "zh" in langs and langs != ("zh",) and zh_todo:
            # the Chinese edition's check (a Sphinx message extraction: seconds) runs while the English
            # notebooks do; its notebooks start once it has passed
            checker = stack.enter_context(ThreadPoolExecutor(max_workers=1))
            gates["zh"] = checker.submit(check_edition, "zh", cache, getattr(args, "allow_untranslated", False), zh_key)
        elif "zh" in langs:
            try:
                try:
                    check_edition("zh", cache, getattr(args, "allow_untranslated", False), zh_key)
                finally:  # the check's answer is cached with its inputs (a rebuild does not extract again)
                    save_cache(cache)
            except UserInputError as e:
                if langs == ("zh",):
                    raise
                zh_refused, langs, zh_todo = str(e), ("en",), []
                print("The Chinese edition will not be built (the check failed; reason at the end). Building the "
                      "English edition.", file=sys.stderr)
        if todo:
            print(f"Executing {len(todo)} notebook(s) of the English edition with {workers} worker(s).")
        if zh_todo:
            print(f"Executing {len(zh_todo)} notebook(s) of the Chinese edition"
                  + (" alongside" if todo else f" with {workers} worker(s)")
                  + (" once its catalogue check has passed" if gates else "")
                  + " (case chapters from their saved results: nothing is re-estimated).")
        if pool is not None and (todo or zh_todo):
            # the introduction's figures (drawn before Sphinx runs) are drawn by the analysis process once
            # its analyses are done, while the last notebooks run
            failures = _run_jobs(todo + zh_todo, pool, args.keep_going, cache, gates, ahead=analyses, slots=workers,
                                 after=(functools.partial(figures_ahead, langs),) if analyses and not args.no_site else ())
        deferred = [j for j in jobs + zh_jobs if j.kind == "synthesis" and only and args.no_site
                    and any(t.kind == "case" and t.lang == j.lang and cache.get(t.name) == t.key
                            for t in todo + zh_todo)]
        for j in deferred:  # it reads the cases just run: marked for the next build that makes the site
            cache.pop(j.name, None)
        if deferred:
            save_cache(cache)
            print(f"Not run with --only and --no-site: the synthesis chapter{'s' if len(deferred) > 1 else ''} "
                  "(which read every case's result); the next build that makes the site runs "
                  f"{'them' if len(deferred) > 1 else 'it'}.")
        if "zh" in gates:
            try:
                gates["zh"].result()
            except UserInputError as e:
                zh_refused, langs, zh_todo = str(e), ("en",), []
                print("The Chinese edition was not built (its check failed; reason at the end).", file=sys.stderr)
            finally:  # the check's answer is cached with its inputs (a rebuild does not extract again)
                save_cache(cache)
        workers_stack.close()  # the workers and their kernels stop (the wheel build goes on)
        if failures and not args.keep_going:
            print("\n".join(["Build stopped: the previous chapters and site are unchanged."]
                            + ["  " + failure_message(f) for f in failures]), file=sys.stderr)
            return 1
        if not todo and not zh_todo:
            print(f"All {n_total} notebooks unchanged: nothing to execute.")

        if not args.no_site:  # the site's sources: the TOC, the status and readers' pages, the wheel
            write_toc(list(all_cases))
            write_status()
            if "en" in langs or not any(readers.DOWNLOADS.glob("primarycare-*.whl")):
                readers.write_pages(wheel)
    if "zh" in langs and not args.no_site:  # its source tree (with --no-site: the next build that makes it)
        prepare_zh_tree(list(all_cases))
    if not args.no_site:
        th = theme_hash()
        hashes = {"en": lambda: site_hash() + readers.generated_hash(), "zh": zh_site_hash}
        todo_site: dict[str, bool] = {}  # edition -> rewrite every page
        keys: dict[str, tuple[str, str]] = {}  # edition -> (cache entry, its sources' hash)
        for lang in langs:
            tag = "_site" if lang == "en" else f"_site_{lang}"
            work = SITE_WORK if lang == "en" else _zh_work()
            keys[lang] = (tag, hashes[lang]())
            if (not args.force and cache.get(tag) == keys[lang][1] and (work / "_build" / "html" / "index.html").exists()
                    and (SITE / "index.html").exists() and (lang == "en" or (SITE / lang / "index.html").exists())):
                continue
            todo_site[lang] = args.force or cache.get(f"_theme_{lang}") != th
        if todo_site:
            print(f"Building the {' and '.join(todo_site)} edition{'s' if len(todo_site) > 1 else ''} with "
                  "jupyter-book (execution off) ...")
            build_editions(todo_site)
            for lang in todo_site:
                tag, h = keys[lang]
                cache[tag], cache[f"_theme_{lang}"] = h, th
            assemble_site()
            save_cache(cache)
        else:
            print("Site sources unchanged: Sphinx build skipped.")
        readers.publish_downloads(SITE)  # also when Sphinx was skipped: the wheel may be newer than the pages
    where = SITE / "index.html"
    print(f"Done in {time.time() - t0:.1f} s. Open {where}" + (f" (Chinese: {SITE / 'zh' / 'index.html'})"
                                                             if "zh" in langs else ""))
    if failures:
        print("Failures (their previous chapters, if any, were kept):", file=sys.stderr)
        for f in failures:
            print("  " + failure_message(f), file=sys.stderr)
        return 1
    if zh_refused:
        print(f"Error: {zh_refused}", file=sys.stderr)
        return 2
    return 0
