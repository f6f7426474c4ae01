"""The methods primer, glossary and bibliography hang together (fast, static checks; the build executes
the notebooks), and the reader boxes and teaching data in primarycare.book behave."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from primarycare.case.teaching import teaching_data
from primarycare.errors import UserInputError
from primarycare.report import boxes

ROOT = Path(__file__).resolve().parent.parent
PRIMER = sorted((ROOT / "notebooks" / "primer").glob("*.ipynb"))
BIB = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
GLOSSARY = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _glossary_terms() -> set[str]:
    terms: set[str] = set()
    for block in re.findall(r"```\{glossary\}\n(.*?)```", GLOSSARY, flags=re.S):
        for line in block.splitlines():
            if line and not line.startswith(" "):
                terms.add(line.strip().lower())
    return terms


def test_six_primer_chapters():
    assert [p.name[:2] for p in PRIMER] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", PRIMER, ids=lambda p: p.stem)
def test_primer_notebook_is_thin_clean_and_has_exercises(path):
    cells = _cells(path)
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), "outputs are committed"
    code = "\n".join(_source(c) for c in cells if c["cell_type"] == "code")
    text = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    assert "boxes.simulated_notice()" in code, "the simulated-data notice is not shown"
    assert "simulated" in text.lower()
    exercises = re.findall(r"```\{exercise\}\n:label: (\S+)", text)
    solutions = re.findall(r"```\{solution\} (\S+)\n:class: dropdown", text)
    assert exercises and sorted(exercises) == sorted(solutions), "every exercise needs a dropdown solution"
    assert re.search(r"(?i)(change|try) .*rerun|rerun", text), "no runnable change-the-parameter exercise"


@pytest.mark.parametrize("path", PRIMER, ids=lambda p: p.stem)
def test_citations_and_terms_resolve(path):
    text = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "markdown")
    keys = {k.strip() for group in re.findall(r"\{cite(?::[tp])?\}`([^`]+)`", text) for k in group.split(",")}
    missing = sorted(k for k in keys if not re.search(rf"@\w+\{{{re.escape(k)},", BIB))
    assert not missing, f"citation keys not in references.bib: {missing}"
    terms = {m[1] or m[0] for m in re.findall(r"\{term\}`([^`<]+?)(?:\s*<([^>]+)>)?`", text)}
    unknown = sorted(t for t in terms if t.strip().lower() not in _glossary_terms())
    assert not unknown, f"glossary terms not defined in book/glossary.md: {unknown}"


def test_required_references_present():
    for key in ["callaway2021", "goodmanbacon2021", "sun2021", "borusyak2024", "abadie2010",
                "arkhangelsky2021", "conley2011", "rambachan2023", "wagner2002", "lopezbernal2017",
                "seed000", "seed001", "seed002", "seed003", "seed004"]:
        assert re.search(rf"@\w+\{{{key},", BIB), key


def test_glossary_has_the_issue_terms():
    terms = _glossary_terms()
    for t in ["分级诊疗", "医共体", "紧密型县域医共体", "县域内就诊率", "基层诊疗量占比", "家庭医生签约", "基层首诊",
              "县聘乡用", "县域医疗次中心", "资金池", "远程诊疗中心", "强基工程", "乡镇卫生院", "社区卫生服务中心",
              "村卫生室", "全科医生", "county medical community", "parallel trends"]:
        assert t.lower() in terms, t


def test_reproduce_box_gives_the_build_command():
    box = boxes.reproduce_box("anhui")
    assert box.commands[0] == "python scripts/build_book.py --only anhui"
    assert "scripts/build_book.py --only anhui" in box._repr_html_()
    assert box._repr_markdown_().startswith(":::{tip} Reproduce this chapter")
    with pytest.raises(UserInputError, match="case id"):
        boxes.reproduce_box("anhui; rm -rf /")


def test_teaching_data_carries_the_planted_truth():
    td = teaching_data("zhejiang", seed=7)
    f = td.frame
    assert set(f["status"]) == {"simulated"}
    assert f.loc[f.province == td.province, "first_treated"].eq(td.reform_year).all()
    assert f.loc[f.province != td.province, "treated"].eq(0).all()
    assert (td.truth[td.truth.index < td.reform_year] == 0).all() and td.att > 0
    assert td.province not in td.donors and len(td.donors) == f.province.nunique() - 1
    with pytest.raises(UserInputError):
        teaching_data("atlantis")
    with pytest.raises(UserInputError, match="'visits' is not an indicator in the simulated panel"):
        teaching_data("zhejiang", outcome="visits")


def test_teaching_data_is_cut_from_the_full_panel():
    """teaching_data draws its outcome alone (for speed); the frame and truth are the full panel's."""
    from primarycare.data.simulate import simulate_panel

    td = teaching_data("anhui", outcome="primary_care_staff_per_1000", seed=3)
    sim = simulate_panel(seed=3)
    w = sim.wide()
    keep = w[w["province"].isin([td.province, *td.donors])].sort_values(["province", "year"]).reset_index(drop=True)
    pd.testing.assert_series_equal(td.frame[td.outcome], keep[td.outcome], check_exact=True)
    t = sim.truth
    t = t[(t["province"] == td.province) & (t["indicator"] == td.outcome) & (t["reform_id"] == td.reform_id)]
    expected = t.groupby("year")["effect"].sum().reindex(td.truth.index, fill_value=0.0)
    np.testing.assert_array_equal(td.truth.to_numpy(), expected.to_numpy())


def test_teaching_data_switch_breaks_parallel_trends():
    """With the switch off, the comparison provinces' trends follow their levels (the primer's failing case)."""
    import numpy as np

    from primarycare.case.teaching import teaching_data

    ok = teaching_data("zhejiang", "gps_per_10000")
    bad = teaching_data("zhejiang", "gps_per_10000", parallel_trends=False)

    def level_vs_change(td):
        w = td.frame[td.frame["province"] != td.province].pivot(index="province", columns="year", values="gps_per_10000")
        return float(np.corrcoef(w[2010], w[2017] - w[2010])[0, 1])

    assert abs(level_vs_change(ok)) < 0.5 < level_vs_change(bad)


@pytest.mark.parametrize("path", PRIMER, ids=lambda p: p.stem)
def test_primer_figures_use_the_books_smallest_text_or_larger(path):
    """No text on a primer figure is set below the book's smallest size (MIN_FONT_PT, readable on a
    phone), and a province in a figure is named in the reader's language (fmt.province)."""
    from primarycare.report.plots import MIN_FONT_PT

    code = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "code")
    sizes = [float(s) for s in re.findall(r"fontsize\s*=\s*([0-9.]+)", code)]
    assert all(s >= MIN_FONT_PT for s in sizes), (path.name, sizes)
    assert not re.search(r"label\s*=\s*f?[\"']?\{?td\.province", code), path.name


@pytest.mark.parametrize("path", PRIMER, ids=lambda p: p.stem)
def test_primer_sentences_go_through_the_catalogue(path):
    """A sentence a primer prints is a message (``_()``, translated in the Chinese edition), not an f-string
    or a literal: the Chinese primer prints Chinese."""
    code = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "code")
    assert not re.findall(r"print\(\s*f?[\"']", code), path.name
