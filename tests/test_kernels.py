"""Warm kernels (primarycare.book.kernels): a notebook run in a reused kernel sees what a new kernel gives it.

The fast tests exercise :func:`prepare` / :func:`fresh_state` in this process; the slow ones execute
notebooks one after another in one warm kernel through the build's own ``execute`` and compare them with
the same notebooks run in a new kernel each.
"""

from __future__ import annotations

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


@pytest.fixture
def worker(monkeypatch, tmp_path):
    """The build's worker state in this process: a warm kernel, logs and staging under tmp_path."""
    monkeypatch.setattr(bb, "GENERATED", tmp_path / "gen")
    monkeypatch.setattr(bb, "STAGING", tmp_path / "gen" / "staging")
    stderr = os.dup(2)
    bb.start_warm_kernel()
    os.dup2(stderr, 2)
    assert "kernel" in bb._WARM, (tmp_path / "gen" / "logs").glob("kernel-*.log")
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
def test_book_notebooks_give_the_same_outputs_in_a_reused_kernel(worker, tmp_path, monkeypatch):
    """Two primer notebooks and the data chapter, each run after others in one warm kernel (the second in
    Chinese first), equal the same notebooks run in a new kernel each: text, tables and figure bytes."""
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
