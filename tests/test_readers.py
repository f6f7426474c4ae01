"""Readers' and teachers' material: citation file, bibliography, sources table, reader figures (phone
legibility), teachers' pages with computed answers, the installable wheel (a slow test installs it in a
fresh virtual environment outside the repository and runs a primer notebook there)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

import primarycare
from primarycare import paths
from primarycare.book import build, lab_answers, readers
from primarycare.case import config as cases_mod
from primarycare.data import provinces
from primarycare.errors import UserInputError
from primarycare.report import plots

ROOT = Path(__file__).resolve().parent.parent
BIB = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
TEACHERS = ROOT / "book" / "teachers"
PRIMER = sorted((ROOT / "notebooks" / "primer").glob("*.ipynb"))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _ascii(text: str) -> str:
    """Plain ASCII of a name, from Unicode or from BibTeX accents ({\\~a}, {\\oe}, {\\"o}, {\\ss})."""
    text = re.sub(r"\{\\(oe|ss|O|o)\}", lambda m: {"oe": "oe", "ss": "ss", "O": "O", "o": "o"}[m.group(1)], text)
    text = re.sub(r"\{\\['`^\"~]\{?(\w)\}?\}", r"\1", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return text.replace("{", "").replace("}", "")


def _bib_entries() -> list[dict[str, str]]:
    out = []
    for m in re.finditer(r"@(\w+)\{([^,]+),\n(.*?)\n\}", BIB, flags=re.S):
        fields = dict(re.findall(r"^\s*(\w+)\s*=\s*\{(.*)\},?\s*$", m.group(3), flags=re.M))
        out.append({"type": m.group(1), "key": m.group(2), **fields})
    return out


# --- citation and bibliography ----------------------------------------------------------------------------

def test_citation_cff_is_complete_and_invents_nothing():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert cff["authors"] == [{"name": "The primarycare project contributors"}]
    assert cff["title"] and cff["message"] and cff["type"] == "software"
    assert str(cff["version"]) == primarycare.__version__
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{cff["version"]}"' in pyproject
    for invented in ("doi", "repository-code", "url", "identifiers", "date-released"):
        assert invented not in cff, f"{invented} must not be set before it exists"


@pytest.mark.skipif(shutil.which("cffconvert") is None, reason="cffconvert not installed (it needs jsonschema<4)")
def test_citation_cff_validates_with_cffconvert():
    proc = subprocess.run(["cffconvert", "--validate", "-i", str(ROOT / "CITATION.cff")], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bib_entries_are_well_formed():
    entries = _bib_entries()
    keys = [e["key"] for e in entries]
    assert len(keys) == len(set(keys)), "duplicate keys"
    for e in entries:
        if "doi" in e:
            assert re.fullmatch(r"10\.\d{4,9}/\S+", e["doi"]), (e["key"], e["doi"])
            assert not e["doi"].startswith("http")
        if e["type"] == "article":
            assert {"author", "title", "journal", "year"} <= set(e), e["key"]


def test_proper_nouns_in_titles_keep_their_capitals():
    """The sentence-case style lower-cases unbraced words: every proper noun in a title must be braced."""
    nouns = set(provinces.names()) | {"Hefei", "Kaifeng", "Sanming", "Beijing", "California", "Basque", "Stata",
                                       "NetEase", "OLS", "January", "February", "March", "April", "June", "July",
                                       "August", "September", "October", "November", "December"}
    for e in _bib_entries():
        for field in ("title", "howpublished"):
            text = e.get(field, "")
            unbraced = re.sub(r"\{[^{}]*\}", "", text)
            bad = [n for n in nouns if re.search(rf"\b{re.escape(n)}\b", unbraced)]
            assert not bad, f"{e['key']} {field}: brace {bad} so they stay capitalised"


def test_mackinnon_webb_2017_is_there_with_its_doi():
    entry = next(e for e in _bib_entries() if e["key"] == "mackinnon2017")
    assert entry["year"] == "2017" and "Webb" in entry["author"] and entry["doi"] == "10.1002/jae.2508"


# "Author (year)" citations in the library and the notebooks; words that are not authors are skipped.
_CITE = re.compile(r"([A-Z][A-Za-z'\u00C0-\u017F\-]+)(?: et al\.?| and [A-Z][A-Za-z'\u00C0-\u017F\-]+)?"
                   r"(?:'s)?,? \(?((?:19|20)\d\d)\)?")
_NOT_AUTHORS = {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December", "In", "Since", "From", "After", "Before", "By", "Until", "The", "Year",
                "Seed", "National", "Assumed", "Dropping", "Reform", "China", "Chinese", "For", "Years"}
# cited under a working-paper year, listed under the published version
_ALIASES = {("Gardner", "2021"): ("Gardner", "2022")}


def _citations() -> set[tuple[str, str]]:
    texts = [p.read_text(encoding="utf-8") for p in (ROOT / "primarycare").rglob("*.py")]
    for nb in (ROOT / "notebooks").rglob("*.ipynb"):
        texts.append("\n".join(_source(c) for c in _cells(nb)))
    found = set()
    for text in texts:
        for name, year in _CITE.findall(text):
            name = name.removesuffix("'s")
            if name in _NOT_AUTHORS or name in provinces.names() or name.isupper():  # constants are not authors
                continue
            found.add((name, year))
    return found


def test_every_work_cited_in_the_code_and_notebooks_is_in_the_bibliography():
    authors_by_year: dict[str, str] = {}
    for e in _bib_entries():
        if "year" in e:
            authors_by_year[e["year"]] = authors_by_year.get(e["year"], "") + " " + _ascii(e.get("author", ""))
    cited = _citations()
    assert ("MacKinnon", "2017") in cited and ("Conley", "2011") in cited  # the scan finds citations
    missing = []
    for name, year in sorted(cited):
        name, year = _ALIASES.get((name, year), (name, year))
        candidates = [_ascii(name)] + _ascii(name).split("-")[:1]
        if not any(re.search(rf"\b{re.escape(c)}\b", authors_by_year.get(year, "")) for c in candidates):
            missing.append(f"{name} {year}")
    assert not missing, f"cited but not in book/references.bib: {missing}"


# --- sources ------------------------------------------------------------------------------------------------

def test_sources_table_lists_the_five_seed_documents():
    src = readers.sources_table()
    assert len(src) == 5 and src["key"].is_unique
    assert all(re.fullmatch(r"\d{3}_[0-9a-f]{16}\.txt", k) for k in src["key"])
    if paths.SEEDS.exists():
        assert set(src["key"]) == {p.name for p in paths.SEEDS.glob("*.txt")}
    for r in src.itertuples(index=False):
        assert r.key[:-4] not in r.title, "the hashed file name is a key, never a title"
        if r.date != "not stated":
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r.date), r.date
            assert paths.SEEDS.exists() is False or r.date[:4] in (paths.SEEDS / r.key).read_text(encoding="utf-8")
    # every seed the registries cite is in the table
    cited = set()
    for f in ("facts.csv", "policies.csv"):
        cited |= set(re.findall(r"\d{3}_[0-9a-f]{16}\.txt", (paths.DATA / f).read_text(encoding="utf-8")))
    assert cited <= set(src["key"])


def test_sources_table_rejects_an_empty_field(tmp_path):
    df = readers.sources_table()
    df.loc[1, "issuer_publisher"] = " "
    bad = tmp_path / "sources.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(UserInputError, match="line 3, column issuer_publisher"):
        readers.sources_table(bad)


def test_sources_page_shows_titles_and_keys_only_as_keys(tmp_path):
    out = readers.write_sources_table(tmp_path / "sources.md")
    text = out.read_text(encoding="utf-8")
    src = readers.sources_table()
    for r in src.itertuples(index=False):
        assert r.title in text and f"`{r.key}`" in text
    assert text.count("|") > 5 * 5


def test_book_pages_cite_seeds_by_title_not_file_name():
    for page in ("background.md", "intro.md"):
        text = (ROOT / "book" / page).read_text(encoding="utf-8")
        assert not re.search(r"\d{3}_[0-9a-f]{16}\.txt", text), page


# --- reader figures -----------------------------------------------------------------------------------------

def test_tile_grid_has_every_province_once_and_is_loosely_geographic():
    g = plots.tile_grid().set_index("province")
    assert len(g) == 31 and not g[["row", "col"]].duplicated().any()
    assert g.loc["Heilongjiang", "row"] < g.loc["Beijing", "row"] < g.loc["Hunan", "row"] < g.loc["Hainan", "row"]
    assert g.loc["Xinjiang", "col"] < g.loc["Sichuan", "col"] < g.loc["Hubei", "col"] < g.loc["Shanghai", "col"]
    for a, b in [("Beijing", "Tianjin"), ("Beijing", "Hebei"), ("Shanghai", "Jiangsu"), ("Chongqing", "Sichuan"),
                 ("Guangdong", "Hainan"), ("Anhui", "Jiangsu")]:
        dist = abs(g.loc[a, "row"] - g.loc[b, "row"]) + abs(g.loc[a, "col"] - g.loc[b, "col"])
        assert dist <= 2, (a, b)


def test_tile_grid_rejects_a_missing_province(tmp_path):
    g = pd.read_csv(paths.DATA / "tile_grid.csv").iloc[1:]
    bad = tmp_path / "grid.csv"
    g.to_csv(bad, index=False)
    with pytest.raises(UserInputError, match="31 provinces"):
        plots.tile_grid(bad)


def _texts(fig) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_tile_map_years_come_from_the_registries():
    events = plots.reform_events()
    cfgs = cases_mod.load_cases()
    texts = _texts(plots.tile_map(events=events))
    for case in cfgs.values():  # each case province shows its chapter's year; * when the year is assumed
        policy = cases_mod.policies().loc[case.reform]
        mark = "*" if policy["certainty"] == "unknown" else ""
        assert f"{case.reform_year}{mark}" in texts, case.case_id
    assert "year ?" in texts  # reforms with no year in the registry (Jiangsu, Henan)
    # change a year in a copy of the registry: the figure follows
    changed = events.copy()
    row = changed["reform_id"] == "henan_kaifeng_ccmc"
    changed.loc[row, ["start_year", "certainty"]] = [2011, "stated"]
    assert "2011" in _texts(plots.tile_map(events=changed)) and "2011" not in texts


def test_reform_timeline_has_one_row_per_reform():
    events = plots.reform_events()
    texts = _texts(plots.reform_timeline(events=events))
    assert len(events) == len(cases_mod.policies())
    unknown = events["start_year"].isna() & events["case_year"].isna()
    assert texts.count("year not stated in the sources") == int(unknown.sum())
    guizhou = events.set_index("reform_id").loc["guizhou_subcentres"]
    assert pd.isna(guizhou["start_year"]) and guizhou["case_year"] == cases_mod.load_cases()["guizhou"].reform_year


@pytest.fixture(scope="module")
def wide_panel():
    from primarycare.data import simulate

    return simulate.simulate_panel().wide()


def test_province_position_ranks_and_marks_simulated_data(wide_panel):
    y = "primary_care_visit_share"
    year = int(wide_panel["year"].max())
    fig = plots.province_position(wide_panel, y, "Zhejiang", year)
    d = wide_panel[wide_panel["year"] == year]
    rank = int((d[y] < d.loc[d.province == "Zhejiang", y].iloc[0]).sum()) + 1
    texts = " ".join(_texts(fig))
    assert f"rank {rank} of 31 from lowest" in texts and plots.STAMP in texts
    observed = wide_panel.assign(**{f"{y}_status": "observed"})
    assert plots.STAMP not in " ".join(_texts(plots.province_position(observed, y, "浙江", year)))
    with pytest.raises(UserInputError, match="outcome 'visits'"):
        plots.province_position(wide_panel, "visits", "Zhejiang", year)
    with pytest.raises(UserInputError, match="no primary_care_visit_share value for Zhejiang in 1990"):
        plots.province_position(wide_panel, y, "Zhejiang", 1990)


def test_min_text_px_converts_points_at_the_shown_width():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 2))
    fig.text(0.5, 0.5, "small", fontsize=8)
    assert plots.min_text_px(fig) == pytest.approx(8 * 390 / (5.2 * 72))
    assert plots.min_text_px(fig) < 9  # 8 pt on a 5.2 in figure is too small on a phone
    assert plots.min_text_px(fig, shown_width_px=780) > 9


def test_reader_figures_are_legible_on_a_phone(wide_panel):
    """Every text on the three reader figures is at least 9 CSS px when the image is shown 390 px wide (and
    still when the page margins leave it 350 px)."""
    figs = {"tile_map": plots.tile_map(), "reform_timeline": plots.reform_timeline(),
            "province_position": plots.province_position(wide_panel, "primary_care_visit_share", "Anhui", 2020)}
    for name, fig in figs.items():
        assert plots.min_text_px(fig) >= 9 and plots.min_text_px(fig, shown_width_px=350) >= 9, name
        assert fig.get_size_inches()[0] <= plots.PHONE_WIDTH + 1e-9, name


def test_intro_figures_are_generated_as_svg(tmp_path):
    written = readers.write_figures(tmp_path)
    assert [p.name for p in written] == ["tile_map.svg", "reform_timeline.svg"]
    first = {p: p.read_bytes() for p in written}
    stamps = {p: p.stat().st_mtime_ns for p in written}
    readers.write_figures(tmp_path)  # deterministic: an unchanged figure is not rewritten (no site rebuild)
    assert {p: p.read_bytes() for p in written} == first
    assert {p: p.stat().st_mtime_ns for p in written} == stamps
    for p in written:
        head = p.read_text(encoding="utf-8")[:2000]
        assert "<svg" in head and re.search(r'width="[\d.]+pt"', head)
    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    assert "_generated/figures/tile_map.svg" in intro and "_generated/figures/reform_timeline.svg" in intro


# --- teachers' kit ------------------------------------------------------------------------------------------

def _bullets_after(text: str, marker: str) -> list[str]:
    part = text.split(marker, 1)[1]
    lines = part.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("- "))
    out = []
    for ln in lines[start:]:
        if not ln.startswith("- "):
            break
        out.append(ln[2:].strip())
    return out


@pytest.mark.parametrize("path", PRIMER, ids=lambda p: p.stem)
def test_primer_opens_with_the_learning_objectives_of_the_teachers_page(path):
    first = _source(_cells(path)[0])
    assert first.startswith("# ") and ":::{admonition} Learning objectives" in first
    in_notebook = _bullets_after(first, "Learning objectives")
    page = (TEACHERS / "01-objectives.md").read_text(encoding="utf-8")
    in_page = _bullets_after(page, f"primer/{path.stem}.ipynb")
    assert in_notebook and in_notebook == in_page


def test_problem_set_has_hidden_solutions_for_every_exercise():
    text = (TEACHERS / "03-problems.md").read_text(encoding="utf-8")
    exercises = re.findall(r"```\{exercise\}\n:label: (\S+)", text)
    solutions = re.findall(r"```\{solution\} (\S+)\n:class: dropdown", text)
    assert len(exercises) >= 4 and sorted(exercises) == sorted(solutions)
    assert "teaching_data" in text and ".att" in text and ".truth" in text


def test_lab_plan_has_timings_that_add_up_to_two_hours():
    text = (TEACHERS / "02-lab.md").read_text(encoding="utf-8")
    slots = re.findall(r"^\| (\d):(\d\d)-(\d):(\d\d) \|", text, flags=re.M)
    assert slots
    minutes = [(int(a) * 60 + int(b), int(c) * 60 + int(d)) for a, b, c, d in slots]
    assert minutes[0][0] == 0 and minutes[-1][1] == 120
    assert all(prev[1] == nxt[0] for prev, nxt in zip(minutes, minutes[1:], strict=False))


@pytest.fixture(scope="module")
def answers():
    return lab_answers.render(lab_answers.compute_lab(), lab_answers.compute_problems())


@pytest.mark.slow  # runs the primer's calls, including its small Monte Carlo (about 30 s)
def test_teachers_pages_show_the_answers_the_primer_code_gives(answers):
    """The numbers on the lab and problem pages are what the primer's code computes now (never typed)."""
    stale = lab_answers.stale_pages(answers)
    assert not stale, f"stale pages {stale}: run python -m primarycare.book.lab_answers --write"
    found = {}
    for page in lab_answers.PAGES.values():
        found.update(lab_answers.blocks_in(page.read_text(encoding="utf-8")))
    assert set(found) == {"lab", "p1", "p2", "p3", "p4"} and all(v.strip() for v in found.values())


@pytest.mark.slow
def test_answer_keys_are_the_planted_truth(answers):
    from primarycare.case.teaching import teaching_data

    assert f"**{teaching_data('shanghai').att:.2f}**" in answers["p1"]
    cq = teaching_data("chongqing", outcome="primary_care_staff_per_1000")
    assert f"**{cq.att:.2f}**" in answers["p3"]
    ah = teaching_data("anhui")
    window = ah.truth[(ah.truth.index >= ah.reform_year) & (ah.truth.index <= ah.reform_year + 5)]
    assert len(window) == 6  # the event window (-5, 5) of the problem
    for k, v in window.items():
        assert f"| {k - ah.reform_year} |" in answers["p2"] and f"| {v:.2f} |" in answers["p2"]


def test_stale_answers_are_detected():
    text = "before\n% computed: lab\nold numbers\n% end computed: lab\nafter\n"
    new = lab_answers.fill(text, {"lab": "new numbers\n"})
    assert new == "before\n% computed: lab\nnew numbers\n% end computed: lab\nafter\n"
    assert lab_answers.blocks_in(new) == {"lab": "new numbers\n"}


def test_toc_has_the_teachers_part_and_reference_pages(tmp_path, monkeypatch):
    book = tmp_path / "book"
    (book / "teachers").mkdir(parents=True)
    for name in ("index", "01-objectives", "02-lab"):
        (book / "teachers" / f"{name}.md").write_text("# x\n")
    for name in ("background", "glossary", "references", "sources", "download"):
        (book / f"{name}.md").write_text("# x\n")
    monkeypatch.setattr(build, "BOOK", book)
    build.write_toc([])
    toc = (book / "_toc.yml").read_text()
    assert ("  - caption: For teachers\n    chapters:\n      - file: teachers/index\n"
            "      - file: teachers/01-objectives\n      - file: teachers/02-lab\n") in toc
    assert "      - file: sources\n      - file: download\n" in toc


# --- the installable package ----------------------------------------------------------------------------------

def test_data_lookup_prefers_a_checkout_and_falls_back_to_the_package(tmp_path):
    assert paths._in_checkout(ROOT)
    assert not paths._in_checkout(tmp_path)  # e.g. site-packages: no pyproject.toml and data/
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "provinces.csv").write_text("x")
    assert not paths._in_checkout(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    assert paths._in_checkout(tmp_path)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    before = sorted(p.name for p in ROOT.iterdir())
    whl = readers.build_wheel(tmp_path_factory.mktemp("dist"))
    assert sorted(p.name for p in ROOT.iterdir()) == before, "the wheel build left files in the repository"
    return whl


def test_wheel_ships_the_registries_and_declares_dependencies(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    shipped = {n.removeprefix("primarycare/_data/") for n in names if n.startswith("primarycare/_data/")}
    expected = {p.relative_to(ROOT / "data").as_posix() for p in (ROOT / "data").rglob("*")
                if p.is_file() and p.suffix in {".csv", ".yml", ".md"} and not p.name.startswith(".")}
    assert shipped == expected and "panel/simulated.csv" in shipped and "tile_grid.csv" in shipped
    assert "primarycare/paths.py" in names and "primarycare/book/readers.py" in names
    for dep in ("numpy", "pandas", "scipy", "statsmodels", "matplotlib", "seaborn", "pandera", "PyYAML", "tqdm",
                "openpyxl", "xlrd"):
        assert re.search(rf"^Requires-Dist: {dep}\b", meta, flags=re.M | re.I), dep
    assert not re.search(r"^Requires-Dist: jupyter", meta, flags=re.M | re.I)


def test_download_page_gives_the_one_install_command():
    text = readers.download_text("primarycare-0.1.0-py3-none-any.whl")
    assert 'href="_downloads/primarycare-0.1.0-py3-none-any.whl"' in text
    assert "pip install primarycare-0.1.0-py3-none-any.whl" in text
    assert '{include} _generated/download.md' in (ROOT / "book" / "download.md").read_text(encoding="utf-8")


def test_site_builds_outside_the_full_build_get_the_pages_they_include(tmp_path, monkeypatch):
    gen = tmp_path / "_generated"
    monkeypatch.setattr(readers, "GENERATED", gen)
    monkeypatch.setattr(readers, "FIGURES", gen / "figures")
    monkeypatch.setattr(readers, "DOWNLOADS", gen / "downloads")
    calls = []

    def fake_write_pages():
        calls.append(1)
        for p in (gen / "figures" / "tile_map.svg", gen / "figures" / "reform_timeline.svg", gen / "sources.md",
                  gen / "download.md", gen / "downloads" / readers.PRIMER_ZIP,
                  gen / "downloads" / "primarycare-0.1.0-py3-none-any.whl"):
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("x")
        return []

    monkeypatch.setattr(readers, "write_pages", fake_write_pages)
    readers.ensure_pages()
    readers.ensure_pages()
    assert calls == [1]  # made once when missing, then left alone
    (gen / "sources.md").unlink()
    readers.ensure_pages()
    assert calls == [1, 1]
    site = tmp_path / "site"
    copied = readers.publish_downloads(site)
    assert sorted(p.name for p in copied) == ["primarycare-0.1.0-py3-none-any.whl", readers.PRIMER_ZIP]


def test_primer_zip_holds_the_notebooks_without_outputs(tmp_path):
    z = readers.zip_primer(tmp_path)
    with zipfile.ZipFile(z) as zf:
        assert sorted(zf.namelist()) == [f"primer/{p.name}" for p in PRIMER]
        nb = json.loads(zf.read(f"primer/{PRIMER[0].name}"))
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.slow
def test_wheel_runs_a_primer_notebook_in_a_fresh_venv_outside_the_repository(wheel, tmp_path):
    """Install the wheel (no dependencies, no index: they come from the system site packages) into a new
    virtual environment in a temporary folder, then execute a primer notebook there with papermill."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "PRIMARYCARE_"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"  # the kernel's "python" is the venv's
    env["VIRTUAL_ENV"] = str(venv)
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True, env=env, cwd=tmp_path)
    work = tmp_path / "class"
    work.mkdir()
    nb = json.loads(PRIMER[0].read_text(encoding="utf-8"))
    probe = "import primarycare, primarycare.paths as p\nprint('LIB', primarycare.__file__)\nprint('DATA', p.DATA)"
    nb["cells"].insert(0, {"cell_type": "code", "execution_count": None, "id": "probe", "metadata": {},
                           "outputs": [], "source": probe})
    (work / "in.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    proc = subprocess.run([str(py), "-m", "papermill", "in.ipynb", "out.ipynb", "-k", "python3", "--cwd",
                           str(work), "--no-progress-bar"], env=env, cwd=work, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((work / "out.ipynb").read_text(encoding="utf-8"))
    printed = "".join("".join(o.get("text", "")) for o in out["cells"][0]["outputs"])
    lib = re.search(r"LIB (\S+)", printed).group(1)
    data = re.search(r"DATA (\S+)", printed).group(1)
    assert lib.startswith(str(venv)) and not lib.startswith(str(ROOT)), lib
    assert data.startswith(str(venv)) and data.endswith("primarycare/_data"), data
    errors = [o for c in out["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # a downloaded case chapter runs too: the case template with a chapter's parameters, writing its
    # results into the class folder (what a reader gets from the download button plus one install command)
    shutil.copyfile(ROOT / "notebooks" / "case_study.ipynb", work / "case.ipynb")
    proc = subprocess.run([str(py), "-m", "papermill", "case.ipynb", "case.out.ipynb", "-k", "python3", "--cwd",
                           str(work), "--no-progress-bar", "-p", "case_id", "zhejiang", "-p", "province", "Zhejiang",
                           "-p", "reform_id", "zhejiang_ccmc", "-p", "n_permutations", "20", "-p", "output_dir",
                           str(work / "results")], env=env, cwd=work, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / "results" / "estimates.csv").exists() and (work / "results" / "panel.csv").exists()


@pytest.mark.slow
def test_problem_set_solution_code_runs():
    """The code shown in the hidden solutions runs as printed (with the imports at the top of the page)."""
    text = (TEACHERS / "03-problems.md").read_text(encoding="utf-8")
    header = re.search(r"```python\n(.*?)```", text, flags=re.S).group(1)
    snippets = re.findall(r"~~~python\n(.*?)~~~", text, flags=re.S)
    assert len(snippets) == 4
    for code in snippets:
        ns: dict = {}
        exec(header + code, ns)  # noqa: S102 - the page's own example code
        assert "td" in ns
