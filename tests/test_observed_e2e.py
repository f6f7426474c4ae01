"""From yearbook tables to a built chapter on observed data (issue: real data in).

Fixture tables with FAKE NUMBERS (tests/fixtures/yearbook/make_fixtures.py: 14 yearbook years in GBK CSV,
XLSX and HTML-as-.xls, plus an NBS population export) are imported into a copy of the repository with
``python -m primarycare import``; the outcomes are derived from the counts; one case chapter is built.
The chapter must read as observed throughout: no planted effects, no SIMULATED DATA mark, an observed
data-status box and an observed footer. A second copy with only the treated province observed must not
compare it with simulated provinces. Slow (two builds of one chapter)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_build_e2e import _env, _ignore

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
sys.path.insert(0, str(REPO / "tests" / "fixtures" / "yearbook"))


def _run(root: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=root, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def _text(html: str) -> str:
    body = html[html.find("<main"):html.find("</main>")]
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


@pytest.fixture(scope="module")
def observed_repo(tmp_path_factory):
    from make_fixtures import write_all

    root = tmp_path_factory.mktemp("obs") / "repo"
    shutil.copytree(REPO, root, ignore=_ignore)
    files = write_all(root / "downloads")
    imp = _run(root, "-m", "primarycare", "import", *map(str, files), str(root / "downloads" / "population.csv"))
    assert imp.returncode == 0, imp.stdout[-2000:] + imp.stderr[-2000:]
    build = _run(root, "scripts/build_book.py", "--only", "zhejiang", "--permutations", "20")
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return root


def test_derived_outcomes_are_observed_with_provenance(observed_repo):
    check = ("from primarycare import data; p = data.load_panel(); "
             "z = p[(p.province == 'Zhejiang') & p.indicator.isin(['primary_care_visit_share', 'gps_per_10000', "
             "'primary_care_staff_per_1000'])]; print(sorted(set(z.status)), z.source.str.startswith('derived from').all(), "
             "z.year.nunique())")
    out = _run(observed_repo, "-c", check)
    assert out.stdout.strip() == "['observed'] True 14", out.stdout + out.stderr


def test_chapter_reads_as_observed_throughout(observed_repo):
    page = (observed_repo / "book" / "_build" / "html" / "cases" / "zhejiang.html").read_text(encoding="utf-8")
    text = _text(page)
    assert "Observed data: what the numbers in this chapter are" in text
    assert "SIMULATED DATA" not in text and "planted" not in text.lower()
    assert "All values are observed" in text
    assert "Every value in this build's provincial panel is observed" in page  # the footer
    assert "Simulated data" not in text


def test_only_the_treated_province_observed_is_not_compared_with_simulated_ones(tmp_path):
    from make_fixtures import write_all

    root = tmp_path / "repo"
    shutil.copytree(REPO, root, ignore=_ignore)
    files = write_all(root / "downloads")
    imp = _run(root, "-m", "primarycare", "import", *map(str, files), str(root / "downloads" / "population.csv"))
    assert imp.returncode == 0, imp.stderr[-2000:]
    # keep Zhejiang's observed rows only: every comparison province stays simulated
    keep = ("import pandas as pd; f = 'data/panel/observed.csv'; d = pd.read_csv(f); "
            "d[d.province == 'Zhejiang'].to_csv(f, index=False)")
    assert _run(root, "-c", keep).returncode == 0
    run = ("from primarycare import cases; from primarycare.case.run import run_case; "
           "r = run_case(cases.load_cases()['zhejiang'], n_permutations=10); "
           "m = set(r.estimates['method']); print(sorted(s['outcome'] for s in r.meta['skipped']), "
           "'TWFE DiD' in m, any(x.startswith('Segmented') for x in m), r.estimates['planted'].isna().all())")
    out = _run(root, "-c", run)
    assert out.stdout.strip() == ("['gps_per_10000', 'primary_care_staff_per_1000', 'primary_care_visit_share'] "
                                  "False True True"), out.stdout + out.stderr[-2000:]
