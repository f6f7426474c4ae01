"""Warm kernels (primarycare.book.kernels): a notebook run in a reused kernel sees what a new kernel gives it.

The fast tests exercise :func:`prepare` / :func:`fresh_state` in this process; the slow ones execute
notebooks one after another in one warm kernel through the build's own ``execute`` and compare them with
the same notebooks run in a new kernel each.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import warnings
from pathlib import Path

import nbformat
import pytest

from primarycare.book import build as bb
from primarycare.book import kernels
from primarycare.report import i18n


@pytest.fixture
def prepared(monkeypatch):
    monkeypatch.setattr(kernels, "_SNAPSHOT", {})
    kernels.prepare(("pandas", "primarycare.data.provinces"))
    yield
    kernels._SNAPSHOT.clear()


def test_fresh_state_restores_what_a_notebook_changed(prepared, tmp_path):
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    import numpy as np

    from primarycare.data import provinces

    before_rc = mpl.rcParams["lines.linewidth"]
    before_filters = list(warnings.filters)
    before_path = list(sys.path)
    before_err = np.geterr()
    provinces.table()  # fill a read-once cache
    assert provinces.table.cache_info().currsize == 1
    cwd = os.getcwd()
    try:
        # what a notebook might leave behind
        mpl.rcParams["lines.linewidth"] = before_rc + 3
        warnings.simplefilter("error")
        sys.path.insert(0, "/nowhere")
        np.seterr(all="raise")
        os.environ["PRIMARYCARE_TEST_LEAK"] = "1"
        i18n.set_language("zh", font=False)
        plt.figure()
        kernels.fresh_state(str(tmp_path))
        assert mpl.rcParams["lines.linewidth"] == before_rc
        assert warnings.filters == before_filters
        assert sys.path == before_path
        assert np.geterr() == before_err
        assert "PRIMARYCARE_TEST_LEAK" not in os.environ
        assert i18n.language() == "en"
        assert plt.get_fignums() == []
        assert provinces.table.cache_info().currsize == 0
        assert Path(os.getcwd()) == tmp_path
    finally:
        os.chdir(cwd)
        os.environ.pop("PRIMARYCARE_TEST_LEAK", None)
        i18n.set_language("en")


def test_fresh_state_refuses_an_unwarmed_kernel(monkeypatch, tmp_path):
    monkeypatch.setattr(kernels, "_SNAPSHOT", {})
    with pytest.raises(RuntimeError, match="not warmed"):
        kernels.fresh_state(str(tmp_path))


def test_warm_modules_exist_and_skip_statsmodels_api():
    import importlib.util

    for name in kernels.WARM_MODULES:
        assert importlib.util.find_spec(name) is not None, name
    assert "statsmodels.api" not in kernels.WARM_MODULES


def test_jobs_wait_for_what_they_read(tmp_path):
    case = bb.Job("case anhui", "case", tmp_path / "a.ipynb", tmp_path / "o.ipynb", results_dir=tmp_path / "r")
    case2 = bb.Job("case guizhou", "case", tmp_path / "a.ipynb", tmp_path / "g.ipynb", results_dir=tmp_path / "g")
    primer = bb.Job("primer 01", "primer", tmp_path / "p.ipynb", tmp_path / "p.ipynb")
    synth = bb.Job("synthesis", "synthesis", tmp_path / "s.ipynb", tmp_path / "s.ipynb")
    zh_case = bb.Job("zh case anhui", "case", tmp_path / "a.ipynb", tmp_path / "za.ipynb", lang="zh")
    zh_synth = bb.Job("zh synthesis", "synthesis", tmp_path / "s.ipynb", tmp_path / "zs.ipynb", lang="zh")
    zh_primer = bb.Job("zh primer 01", "primer", tmp_path / "p.ipynb", tmp_path / "zp.ipynb", lang="zh")
    deps = bb._dependencies([case, case2, primer, synth, zh_case, zh_synth, zh_primer])
    assert deps["case anhui"] == set() and deps["primer 01"] == set() and deps["zh primer 01"] == set()
    assert deps["synthesis"] == deps["zh synthesis"] == {"case anhui", "case guizhou"}
    assert deps["zh case anhui"] == {"case anhui"}
    # a Chinese chapter whose English run is not in this build reads the result saved earlier
    assert bb._dependencies([zh_case])["zh case anhui"] == set()


# --------------------------------------------------------------------------------------------------
# slow: real kernels


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    return path


def _outputs(path: Path) -> list[tuple]:
    """Every output of every code cell, with pandas Styler's random table ids made equal."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        for o in c.get("outputs", []):
            data = o.get("data") or {"text": o.get("text")}
            norm = {k: re.sub(r"T_[0-9a-f_]+", "T_", "".join(v) if isinstance(v, list) else json.dumps(v))
                    for k, v in sorted(data.items())}
            out.append((o["output_type"], c.get("execution_count"), tuple(norm.items())))
    return out


@pytest.fixture(params=["new"])
def worker(request, monkeypatch, tmp_path):
    """The build's worker state in this process: a warm kernel, logs and staging under tmp_path. The
    kernel is a new process, or with the parameter "forked" forked from a server as in the build
    (:mod:`primarycare.book.kernel_forks`)."""
    monkeypatch.setattr(bb, "GENERATED", tmp_path / "gen")
    monkeypatch.setattr(bb, "STAGING", tmp_path / "gen" / "staging")
    with contextlib.ExitStack() as stack:
        if request.param == "forked":
            from primarycare.book import kernel_forks

            stack.enter_context(kernel_forks.server(kernels.WARM_MODULES, bb._worker_env()))
        stderr = os.dup(2)
        bb.start_warm_kernel()
        os.dup2(stderr, 2)
        assert "kernel" in bb._WARM, (tmp_path / "gen" / "logs").glob("kernel-*.log")
        assert getattr(bb._WARM["kernel"].km, "forked", False) is (request.param == "forked")
        yield bb._WARM["kernel"]
        kernel = bb._WARM.pop("kernel", None)
        if kernel is not None:
            kernel.shutdown()
        os.dup2(stderr, 2)
        os.close(stderr)


def _run(job: bb.Job) -> dict:
    stderr = os.dup(2)
    try:
        return bb.execute(job)
    finally:
        os.dup2(stderr, 2)
        os.close(stderr)


@pytest.mark.slow
def test_a_notebook_in_a_reused_kernel_starts_clean(worker, tmp_path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    a = _notebook(a_dir / "a.ipynb", [
        "x = 1",
        "import os, sys, warnings\nimport matplotlib as mpl, numpy as np\nleak = 42\nmpl.rcParams['lines.linewidth'] = 9\n"
        "np.seterr(all='raise')\nwarnings.simplefilter('error')\nsys.path.insert(0, '/nowhere')\n"
        "os.environ['PRIMARYCARE_TEST_LEAK'] = '1'\nfrom primarycare.report.i18n import set_language\n"
        "set_language('zh', font=False)",
    ])
    b = _notebook(b_dir / "b.ipynb", [
        "x = 1",
        "import os, sys, warnings\nimport matplotlib as mpl, numpy as np\nfrom primarycare.report.i18n import language\n"
        "print(sorted(k for k in globals() if k == 'leak'), mpl.rcParams['lines.linewidth'], np.geterr()['all' if 0 else 'divide'],\n"
        "      '/nowhere' in sys.path, 'PRIMARYCARE_TEST_LEAK' in os.environ, language(), os.path.basename(os.getcwd()),\n"
        "      any(f[0] == 'error' and f[2] is Warning for f in warnings.filters))",
    ])
    first = _run(bb.Job("a", "primer", a, tmp_path / "out" / "a.ipynb"))
    assert first["ok"], first
    second = _run(bb.Job("b", "primer", b, tmp_path / "out" / "b.ipynb"))
    assert second["ok"], second
    assert worker.used == 2 and bb._WARM.get("kernel") is worker  # the same kernel ran both
    nb = json.loads((tmp_path / "out" / "b.ipynb").read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == [1, 2]  # counted from 1 again (no parameters injected)
    printed = "".join(code[-1]["outputs"][0]["text"]).strip()
    import matplotlib as mpl

    assert printed == f"[] {mpl.rcParamsDefault['lines.linewidth']} warn False False en b False"


@pytest.mark.slow
def test_a_failing_notebook_discards_the_warm_kernel(worker, tmp_path):
    bad = _notebook(tmp_path / "bad.ipynb", ["x = 1", "raise ValueError('boom')"])
    res = _run(bb.Job("bad", "primer", bad, tmp_path / "out" / "bad.ipynb"))
    assert not res["ok"] and "boom" in res["error"]
    assert "kernel" not in bb._WARM and not worker.alive()
    good = _notebook(tmp_path / "good.ipynb", ["x = 1", "print(x + 1)"])
    assert _run(bb.Job("good", "primer", good, tmp_path / "out" / "good.ipynb"))["ok"]  # a new kernel


@pytest.mark.slow
@pytest.mark.parametrize("worker", ["new", "forked"], indirect=True)
def test_book_notebooks_give_the_same_outputs_in_a_reused_kernel(worker, tmp_path, monkeypatch):
    """Two primer notebooks and the data chapter, each run after others in one warm kernel (the second in
    Chinese first), equal the same notebooks run in a new kernel each: text, tables and figure bytes. The
    warm kernel is a new process, or forked from the server as in the build (the kernels started for
    the comparison are new processes either way: papermill's own manager)."""
    primer = sorted((bb.NOTEBOOKS / "primer").glob("*.ipynb"))
    first, second = primer[0], primer[-2]
    data = bb.NOTEBOOKS / "data_chapter.ipynb"
    warm_out, fresh_out = tmp_path / "warm", tmp_path / "fresh"
    runs = [(first, {}), (second, {"lang": "zh"}), (data, {}), (second, {})]
    for i, (nb, params) in enumerate(runs):
        res = _run(bb.Job(f"w{i}", "primer", nb, warm_out / f"{i}_{nb.name}", dict(params)))
        assert res["ok"], res
    assert worker.used == len(runs)
    kernel = bb._WARM.pop("kernel")  # now without a warm kernel: each notebook starts its own
    try:
        for i, nb in ((2, data), (3, second)):
            res = _run(bb.Job(f"f{i}", "primer", nb, fresh_out / f"{i}_{nb.name}", {}))
            assert res["ok"], res
    finally:
        bb._WARM["kernel"] = kernel
    for i, nb in ((2, data), (3, second)):
        warm, fresh = _outputs(warm_out / f"{i}_{nb.name}"), _outputs(fresh_out / f"{i}_{nb.name}")
        assert len(warm) == len(fresh) and len(warm) > 0
        for w, f in zip(warm, fresh, strict=True):
            assert w == f, (nb.name, w[:2])


def test_the_build_starts_only_as_many_workers_as_can_run_at_once(tmp_path):
    def job(name, kind, results=True):
        return bb.Job(name, kind, tmp_path / "s.ipynb", tmp_path / f"{name}.ipynb",
                      results_dir=tmp_path / name if results else None, lang=name[:2] if name[:3] == "zh " else "en")

    one_case = [job("case anhui", "case"), job("synthesis", "synthesis", False)]
    assert bb.parallel_width(one_case) == 1  # the synthesis waits for the case: one warm kernel is enough
    both = [*one_case, job("zh case anhui", "case", False), job("zh synthesis", "synthesis", False)]
    assert bb.parallel_width(both) == 3
    full = [job("case anhui", "case"), job("case guizhou", "case"), job("primer 01", "primer", False),
            job("synthesis", "synthesis", False)]
    assert bb.parallel_width(full) == 3
    assert bb.parallel_width([]) == 0


# --------------------------------------------------------------------------------------------------
# analyses run ahead of their chapters (build.estimate)


def _jobs(tmp_path):
    def job(name, kind, results=None, lang="en", params=None):
        return bb.Job(name, kind, tmp_path / "s.ipynb", tmp_path / f"{name}.ipynb", dict(params or {}),
                      results_dir=results, lang=lang)

    return {"case": job("case anhui", "case", tmp_path / "results" / "anhui"),
            "zh_case": job("zh case anhui", "case", lang="zh", params={"results_dir": str(tmp_path / "kept")}),
            "synth": job("synthesis", "synthesis"), "zh_synth": job("zh synthesis", "synthesis", lang="zh"),
            "primer": job("primer 01", "primer")}


def test_case_chapters_of_both_editions_wait_for_the_analysis_run_ahead(tmp_path):
    j = _jobs(tmp_path)
    deps = bb._dependencies(list(j.values()), ahead=True)
    assert deps["case anhui"] == deps["zh case anhui"] == {"analysis anhui"}
    assert deps["synthesis"] == deps["zh synthesis"] == {"case anhui"}
    assert deps["primer 01"] == set()
    # without it, the Chinese chapter reads the English run's saved result
    assert bb._dependencies(list(j.values()))["zh case anhui"] == {"case anhui"}
    # the analysis takes no worker: one chapter and its synthesis need one kernel, both editions two
    assert bb.parallel_width([j["case"], j["synth"]], ahead=True) == 1
    assert bb.parallel_width([j["case"], j["synth"], j["zh_case"], j["zh_synth"]], ahead=True) == 2


def test_kernels_import_only_what_rendering_needs_when_nothing_else_runs(tmp_path):
    j = _jobs(tmp_path)
    assert bb.warm_modules([j["case"], j["zh_case"], j["synth"], j["zh_synth"]]) == kernels.RENDER_MODULES
    assert bb.warm_modules([j["case"], j["primer"]]) == kernels.WARM_MODULES
    assert set(kernels.RENDER_MODULES) < set(kernels.WARM_MODULES)
    # rendering imports neither scipy nor statsmodels (that is what makes such a kernel quick to start)
    code = (f"import importlib, sys\nfor m in {kernels.RENDER_MODULES!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in ('scipy', 'statsmodels') if m in sys.modules))")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=bb.ROOT,
                         env={**os.environ, "PYTHONPATH": str(bb.ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _fake_run(monkeypatch, tmp_path, ok: bool, failing: tuple[str, ...] = ()):
    """build.estimate, build.execute and build.place_held replaced by recorders (threads stand in for the
    processes); the chapters named in ``failing`` fail."""
    import threading
    import time

    log: list[tuple] = []
    lock = threading.Lock()

    def place_held(job, res, keep):
        with lock:
            log.append(("placed" if keep else "dropped", job.name, res["staged"]))

    def estimate(job):
        time.sleep(0.05)
        with lock:
            log.append(("analysis", job.name))
        return {"name": bb.analysis_name(job), "job": job.name, "ok": ok, "seconds": 0.05,
                **({"results_dir": str(tmp_path / "ahead")} if ok else {"error": "ValueError: planted"})}

    def execute(job):
        with lock:
            log.append(("start", job.name, job.read_from, job.parameters.get("results_dir")))
        time.sleep(0.05 if job.lang != "en" else 0.15)  # the Chinese chapter ends first
        with lock:
            log.append(("end", job.name))
        if job.name in failing:
            return {"ok": False, "name": job.name, "seconds": 0.05, "cell": 3, "error": "ValueError: planted"}
        return {"ok": True, "name": job.name, "seconds": 0.05, **({"staged": f"stage/{job.name}"} if job.hold else {})}

    monkeypatch.setattr(bb, "estimate", estimate)
    monkeypatch.setattr(bb, "execute", execute)
    monkeypatch.setattr(bb, "place_held", place_held)
    monkeypatch.setattr(bb, "save_cache", lambda cache: None)
    return log


def test_both_editions_render_the_analysis_run_ahead(monkeypatch, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    j = _jobs(tmp_path)
    log = _fake_run(monkeypatch, tmp_path, ok=True)
    cache: dict = {}
    with ThreadPoolExecutor(2) as pool, ThreadPoolExecutor(1) as ahead:
        failures = bb._run_jobs([j["case"], j["zh_case"], j["synth"]], pool, False, cache, ahead=ahead, slots=2)
    assert failures == []
    starts = {e[1]: e for e in log if e[0] == "start"}
    # each chapter reads the staged result; its notebook records where the result is kept afterwards
    assert starts["case anhui"][2:] == (str(tmp_path / "ahead"), str(tmp_path / "results" / "anhui"))
    assert starts["zh case anhui"][2:] == (str(tmp_path / "ahead"), str(tmp_path / "kept"))
    order = [e[:2] for e in log]
    assert order.index(("analysis", "case anhui")) < order.index(("start", "case anhui"))
    assert order.index(("analysis", "case anhui")) < order.index(("start", "zh case anhui"))
    assert order.index(("end", "case anhui")) < order.index(("start", "synthesis"))
    assert cache["case anhui"] == j["case"].key and "_seconds" in cache
    # the Chinese chapter, done first, went into place only once the English one had succeeded
    assert order.index(("end", "case anhui")) < order.index(("placed", "zh case anhui"))
    assert cache["zh case anhui"] == j["zh_case"].key


def test_work_after_the_analyses_runs_once_they_are_done(monkeypatch, tmp_path):
    """``after`` (the introduction's figures) goes to the analysis process behind every analysis."""
    from concurrent.futures import ThreadPoolExecutor

    j = _jobs(tmp_path)
    log = _fake_run(monkeypatch, tmp_path, ok=True)
    with ThreadPoolExecutor(2) as pool, ThreadPoolExecutor(1) as ahead:
        failures = bb._run_jobs([j["case"], j["zh_case"]], pool, False, {}, ahead=ahead, slots=2,
                                after=(lambda: log.append(("after", "figures")),))
    assert failures == []
    assert [e[0] for e in log if e[0] in ("analysis", "after")] == ["analysis", "after"]


def test_figures_drawn_ahead_are_the_ones_the_pages_use(monkeypatch, tmp_path):
    """figures_ahead draws each edition's introduction figures where the build later asks for them; those
    later calls then draw nothing (same inputs), in either language."""
    from primarycare.book import readers
    from primarycare.report import plots

    monkeypatch.setattr(readers, "FIGURES", tmp_path / "en")
    monkeypatch.setattr(bb, "ZH_BOOK", tmp_path / "zh" / "book")
    bb.figures_ahead(("en", "zh"))
    zh = tmp_path / "zh" / "book" / "_generated" / "figures"
    for folder in (tmp_path / "en", zh):
        assert (folder / "tile_map.svg").exists() and (folder / "reform_timeline.svg").exists()
    assert "安徽" in (zh / "tile_map.svg").read_text(encoding="utf-8")
    assert i18n.language() == "en"  # the process's language is left as it was

    def no_drawing():
        raise AssertionError("drawn again")

    monkeypatch.setattr(plots, "tile_map", no_drawing)
    monkeypatch.setattr(plots, "reform_timeline", no_drawing)
    readers.write_figures(tmp_path / "en")
    i18n.set_language("zh")  # as prepare_zh_tree asks (write_edition_pages)
    try:
        readers.write_figures(zh)
    finally:
        i18n.set_language("en")


def test_a_chinese_chapter_is_dropped_when_its_english_chapter_fails(monkeypatch, tmp_path):
    """Run at the same time from the same analysis, the Chinese chapter must not show a result whose
    English chapter failed: it is dropped (the previous one stays) and runs again at the next build."""
    from concurrent.futures import ThreadPoolExecutor

    j = _jobs(tmp_path)
    log = _fake_run(monkeypatch, tmp_path, ok=True, failing=("case anhui",))
    cache: dict = {}
    for keep_going in (True, False):
        with ThreadPoolExecutor(2) as pool, ThreadPoolExecutor(1) as ahead:
            failures = bb._run_jobs([j["case"], j["zh_case"]], pool, keep_going, cache, ahead=ahead, slots=2)
        assert [f["name"] for f in failures] == ["case anhui"]
        assert ("dropped", "zh case anhui", "stage/zh case anhui") in log
        assert not any(e[0] == "placed" for e in log)
        assert "zh case anhui" not in cache and "case anhui" not in cache
        log.clear()


def test_a_failed_analysis_is_left_to_the_chapter(monkeypatch, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    j = _jobs(tmp_path)
    log = _fake_run(monkeypatch, tmp_path, ok=False)
    with ThreadPoolExecutor(2) as pool, ThreadPoolExecutor(1) as ahead:
        failures = bb._run_jobs([j["case"], j["zh_case"]], pool, False, {}, ahead=ahead, slots=2)
    assert failures == []
    starts = {e[1]: e for e in log if e[0] == "start"}
    assert starts["case anhui"][2:] == (None, None)  # it runs the analysis itself (and reports its error)
    assert starts["zh case anhui"][2] is None  # and the Chinese chapter reads what the English run saves
    order = [e[:2] for e in log]
    assert order.index(("end", "case anhui")) < order.index(("start", "zh case anhui"))


def test_the_saved_notebook_names_where_the_result_is_kept(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('case_id = "anhui"\nresults_dir = "/stage/analysis-anhui/results"\n')
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Case study"), cell]
    nb.metadata["papermill"] = {"parameters": {"case_id": "anhui", "results_dir": "/stage/analysis-anhui/results"}}
    path = tmp_path / "a.ipynb"
    nbformat.write(nb, path)
    bb._finish_notebook(path, "Anhui", {"/stage/analysis-anhui/results": "/book/results/anhui"})
    out = nbformat.read(path, as_version=4)
    assert out.cells[0].source == "# Anhui"
    assert out.cells[1].source == 'case_id = "anhui"\nresults_dir = "/book/results/anhui"\n'
    assert "remove-cell" in out.cells[1].metadata["tags"]
    assert out.metadata["papermill"]["parameters"]["results_dir"] == "/book/results/anhui"


def test_the_build_keeps_numerics_single_threaded_as_in_the_kernels():
    import subprocess

    code = ("import os, sys\nfrom primarycare import cli\ncli.command('build')\n"
            "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=bb.ROOT,
                         env={**env, "PYTHONPATH": str(bb.ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1"]


@pytest.mark.slow
def test_a_chapter_from_its_analysis_run_ahead_equals_one_that_runs_it(worker, tmp_path):
    """The English Anhui chapter rendered from the analysis the build ran ahead (another process) equals the
    chapter that runs the analysis in its own kernel: every output, and the saved result."""
    from primarycare.case import config

    job = next(j for j in bb.keyed_plan(config.load_cases(), 40) if j.name == "case anhui")
    own = bb.Job(**{**job.__dict__, "output": tmp_path / "own" / "anhui.ipynb", "results_dir": tmp_path / "own_r"})
    assert _run(own)["ok"]
    res = bb.estimate(job)
    assert res["ok"], res
    assert Path(res["results_dir"]).is_relative_to(bb.STAGING)
    kept = tmp_path / "ahead_r"
    ahead = bb.Job(**{**job.__dict__, "output": tmp_path / "ahead" / "anhui.ipynb", "results_dir": kept,
                      "read_from": res["results_dir"], "parameters": {**job.parameters, "results_dir": str(kept)}})
    assert _run(ahead)["ok"]
    assert _outputs(own.output) == _outputs(ahead.output)
    assert (own.results_dir / "estimates.csv").read_bytes() == (kept / "estimates.csv").read_bytes()
    a, b = (json.loads((d / "results.json").read_text(encoding="utf-8")) for d in (own.results_dir, kept))
    for r in (a, b):
        r["meta"].pop("created")
    assert a == b
    assert str(kept) in ahead.output.read_text(encoding="utf-8")
    assert res["results_dir"] not in ahead.output.read_text(encoding="utf-8")
    bb.drop_analyses()
    assert not Path(res["results_dir"]).exists() and (kept / "results.json").exists()


def test_a_held_chapter_is_moved_into_place_or_dropped(tmp_path):
    job = bb.Job("zh case anhui", "case", tmp_path / "s.ipynb", tmp_path / "book" / "anhui.ipynb", lang="zh")
    job.output.parent.mkdir()
    job.output.write_text("previous")
    for keep, expect in ((False, "previous"), (True, "new")):
        stage = tmp_path / f"stage-{keep}"
        stage.mkdir()
        (stage / "anhui.ipynb").write_text("new")
        bb.place_held(job, {"staged": str(stage)}, keep)
        assert job.output.read_text() == expect and not stage.exists()
