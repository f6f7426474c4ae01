"""The happy path of scripts/run_case.py: a new province with a user-specified reform, end to end.

Runs the real command line in a throwaway copy of the repository (see tests/test_bad_inputs.py) with a
small previous build, and checks the chapter, its results, the TOC, the site page, that no other chapter
was re-executed, and that ``--save`` appends the case to data/cases.yml keeping the rest of the file.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
import yaml
from test_bad_inputs import env, make_repo, run_cli


def _sha(p) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.slow
def test_new_province_run_adds_chapter_without_rerunning_others(tmp_path):
    repo = make_repo(tmp_path / "repo")
    cases_before = (repo / "data" / "cases.yml").read_text(encoding="utf-8")
    others = {c: _sha(repo / "book" / "cases" / f"{c}.ipynb") for c in ("anhui", "zhejiang")}
    proc = run_cli(repo, "--province", "江苏", "--reform-year", "2019", "--reform-name", "Test reform (user-specified)",
                   "--permutations", "10", "--save", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"):
        assert step in proc.stdout
    # committed: no journal, staging folder or half-placed site left, and the lock is released and emptied
    gen = repo / "book" / "_generated"
    assert not (gen / ".transaction.json").exists() and not list(gen.glob(".run_case.*"))
    assert not (repo / "book" / "_build" / ".html.new").exists()
    assert (gen / ".book.lock").read_text() == ""
    assert "interrupted run" not in proc.stdout

    # the chapter, its results and the page
    chapter = repo / "book" / "cases" / "jiangsu.ipynb"
    assert chapter.exists()
    res = json.loads((repo / "book" / "_generated" / "results" / "jiangsu" / "results.json").read_text())
    assert res["config"]["province"] == "Jiangsu" and res["config"]["reform_year"] == 2019
    assert res["config"]["reform_year_source"] == "user"
    assert res["meta"]["n_permutations"] == 10
    page = (repo / "book" / "_build" / "html" / "cases" / "jiangsu.html").read_text(encoding="utf-8")
    assert "user-specified" in page and "Test reform" in page
    assert "SIMULATED DATA" in page  # the default panel is simulated and the page says so

    # the TOC keeps the earlier chapters and adds this one; the others were not re-executed
    toc = (repo / "book" / "_toc.yml").read_text()
    assert "cases/anhui" in toc and "cases/zhejiang" in toc and "cases/jiangsu" in toc
    assert {c: _sha(repo / "book" / "cases" / f"{c}.ipynb") for c in others} == others
    logs = sorted(p.name for p in (repo / "book" / "_generated" / "logs").glob("*.log"))
    assert logs == ["case_jiangsu.log", "synthesis.log"], logs  # only this case and the (cheap) synthesis
    # the synthesis includes the new case (the fixture's fake results of the others cannot be read)
    synth = (repo / "book" / "_build" / "html" / "cases" / "synthesis.html").read_text(encoding="utf-8")
    assert "jiangsu" in synth and "cases/synthesis" in toc
    # saved with the settings it ran with: the chapter shows the build command and the cache entry is the
    # one the full build computes, so the next full build does not re-execute it
    nb = chapter.read_text(encoding="utf-8")
    assert "build_book.py --only jiangsu" in nb and "run_case.py --province" not in nb
    check = ("import json; from primarycare.book import build as bb; from primarycare import cases; "
             "k={j.name:j.key for j in bb.keyed_plan(cases.load_cases(), None)}['case jiangsu']; "
             "print(k == json.loads(bb.CACHE_FILE.read_text())['case jiangsu'])")
    hit = subprocess.run([sys.executable, "-c", check], cwd=repo, env=env(), capture_output=True, text=True)
    assert hit.stdout.strip() == "True", hit.stdout + hit.stderr
    assert "other chapters are not re-run" in proc.stdout

    # --save: appended as text (comments and other cases kept) and valid for the full build
    after = (repo / "data" / "cases.yml").read_text(encoding="utf-8")
    assert after.startswith(cases_before.rstrip("\n"))
    saved = yaml.safe_load(after)["cases"]["jiangsu"]
    assert saved["province"] == "Jiangsu" and saved["reform_year"] == 2019
    assert saved["reform_name"] == "Test reform (user-specified)"
    assert set(yaml.safe_load(cases_before)["cases"]) < set(yaml.safe_load(after)["cases"])

    # now the id is taken: the same case is accepted, a different one is refused
    same = run_cli(repo, "--province", "Jiangsu", "--dry-run")
    assert same.returncode == 0 and "already in data/cases.yml" in same.stdout, same.stderr
    other = run_cli(repo, "--province", "Jiangsu", "--reform-year", "2020", "--reform-name", "x", "--dry-run")
    assert other.returncode == 2 and "already used" in other.stderr


@pytest.mark.slow
def test_unsaved_case_chapter_shows_the_run_case_command(tmp_path):
    repo = make_repo(tmp_path / "repo")
    proc = run_cli(repo, "--province", "Jiangsu", "--reform-year", "2019", "--reform-name", "Mine",
                   "--permutations", "5", "--no-site", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    nb = (repo / "book" / "cases" / "jiangsu.ipynb").read_text(encoding="utf-8")
    assert "python scripts/run_case.py --province Jiangsu --reform-year 2019" in nb
    assert "build_book.py --only jiangsu" not in nb
    assert '"image/png"' in nb  # figures are inline without any magic in the notebook
