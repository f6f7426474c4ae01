"""The Chinese edition (中文版): catalogues, the Chinese words of the library, and the built site.

* The library catalogue (``primarycare/report/locale/zh_CN/LC_MESSAGES/primarycare.po``) translates every
  ``_()`` message with its named placeholders, and the check catches a missing or broken translation.
* The static catalogues (``book/locale/zh_CN/LC_MESSAGES/*.po``) translate every message of the pages and the
  notebooks' Markdown cells: ``test_static_catalogues_are_complete`` (fails until they are translated).
* A chapter rendered in Chinese from a saved result shows the same numbers as the English one.
* On a built site (``book/_build/html``, or ``PRIMARYCARE_SITE``; skipped when there is none): every English
  page has its Chinese counterpart at ``zh/``, every page links to the same page in the other language, and
  in every Chinese chapter at least 60% of the letters of the prose are Chinese characters.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from primarycare.book import i18n
from primarycare.errors import UserInputError
from primarycare.report import fmt, plots
from primarycare.report import i18n as ri18n

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def zh():
    ri18n.set_language("zh", font=False)
    yield
    ri18n.set_language("en", font=False)


# ------------------------------------------------------------------------------------------ catalogues


def test_library_catalogue_is_complete_with_placeholders():
    problems = i18n.check("zh", static=False)
    assert not problems, "\n".join(map(str, problems))


def test_static_catalogues_are_complete():
    """Every message of the pages and notebook Markdown cells translated in book/locale/zh_CN (the static
    translation is a separate piece of work: this test fails until it is merged)."""
    problems = i18n.check("zh", library=False)
    assert not problems, f"{len(problems)} static message(s) untranslated, e.g.:\n" + "\n".join(map(str, problems[:20]))


def _catalogue(pairs, fuzzy=()):
    cat = Catalog(locale="zh_CN")
    for mid, mstr in pairs:
        cat.add(mid, mstr, flags=("fuzzy",) if mid in fuzzy else ())
    return cat


def test_check_catches_missing_fuzzy_and_broken_placeholders():
    template = _catalogue([("{n} provinces", ""), ("A {label} and {m:g}", ""), ("Plain", ""), ("Old", "")])
    translated = _catalogue([("{n} provinces", "{n}个省份"), ("A {label} and {m:g}", "{label}和{n}"),
                             ("Old", "旧")], fuzzy=("Old",))
    found = {p.msgid: p.what for p in i18n.check_catalogue(template, translated, "x.po", check_placeholders=True)}
    assert set(found) == {"A {label} and {m:g}", "Plain", "Old"}
    assert "placeholders differ" in found["A {label} and {m:g}"] and "{label, m}" in found["A {label} and {m:g}"]
    assert found["Plain"] == "not translated" and "fuzzy" in found["Old"]
    assert i18n.placeholders("{n:,} of {{doc}}`{primer}` {0}") == {"n", "primer"}


def test_static_templates_come_from_the_templates_not_from_executed_output():
    cases = (i18n.POT_DIR / "cases.pot").read_text(encoding="utf-8")
    assert 'msgid "1. The reform in brief"' in cases  # a Markdown cell of notebooks/case_study.ipynb
    # static text the chapters show from data files (a reform brief, data/reform_briefs.yml) and the data
    # chapter's narrative (a Markdown cell of notebooks/data_chapter.ipynb)
    assert 'msgid "Anhui, a populous agricultural province' in cases
    assert 'msgid "The book uses three kinds of numbers' in cases
    # sentences only the library writes (executed output) are not static messages
    for generated in ("At a glance", "Design-based results", "evidence of an effect", "SIMULATED DATA",
                      "Reproduce this chapter"):
        for pot in i18n.POT_DIR.glob("*.pot"):
            assert f'msgid "{generated}' not in pot.read_text(encoding="utf-8"), (generated, pot.name)
    # every template has its zh_CN catalogue
    for pot in i18n.POT_DIR.glob("*.pot"):
        assert (i18n.LOCALE / "zh_CN" / "LC_MESSAGES" / pot.with_suffix(".po").name).exists(), pot.name


def test_set_language_aliases_compiles_and_refuses_unknown(tmp_path):
    for code in ("zh", "zh_CN", "zh-CN"):
        ri18n.set_language(code, font=False)
        assert ri18n.language() == "zh" and ri18n._("Simulated data") == "模拟数据"
    ri18n.set_language("en", font=False)
    assert ri18n._("Simulated data") == "Simulated data"
    mo = i18n.library_po("zh").with_suffix(".mo")
    mo.unlink(missing_ok=True)
    ri18n.set_language("zh", font=False)  # compiles the missing .mo
    assert mo.exists()
    ri18n.set_language("en", font=False)
    with pytest.raises(UserInputError, match="Unknown language 'fr'"):
        ri18n.set_language("fr")


# ------------------------------------------------------------------------------------------ Chinese words


def test_counts_the_chinese_way(zh):
    assert fmt.count(9999) == "9999"
    assert fmt.count(13020) == "13020" and fmt.count(13000) == "1.3万"
    assert fmt.count(120000) == "12万" and fmt.count(15000) == "1.5万" and fmt.count(350_000_000) == "3.5亿"
    assert fmt.count(123456) == "123456"  # not exact to two decimals of 万: all digits
    ri18n.set_language("en", font=False)
    assert fmt.count(123456) == "123,456"


def test_labels_provinces_and_units_come_from_the_registries(zh):
    import pandas as pd

    ind = pd.read_csv(ROOT / "data" / "indicators.csv").set_index("indicator")
    prov = pd.read_csv(ROOT / "data" / "provinces.csv").set_index("province")
    assert fmt.label("primary_care_visit_share") == ind.loc["primary_care_visit_share", "label_zh"]
    assert fmt.province("Zhejiang") == prov.loc["Zhejiang", "short_zh"]
    assert fmt.effect_unit("primary_care_visit_share") == "个百分点"
    ri18n.set_language("en", font=False)
    assert fmt.label("primary_care_visit_share") == ind.loc["primary_care_visit_share", "label_en"]
    assert fmt.province("Zhejiang") == "Zhejiang" and fmt.effect_unit("primary_care_visit_share") == "pp"


def test_missing_cjk_font_stops_with_the_install_command(monkeypatch):
    monkeypatch.setattr(plots, "cjk_font_path", lambda: None)
    with pytest.raises(UserInputError, match=r"apt-get install fonts-noto-cjk"):
        plots.font_family("zh")
    assert plots.font_family("en") == ["DejaVu Sans"]


def test_figures_use_the_cjk_font_in_chinese(zh):
    if plots.cjk_font_path() is None:
        pytest.skip("Noto Sans CJK SC is not installed (apt-get install fonts-noto-cjk)")
    assert plots.font_family()[0] == plots.CJK_FONT
    fig = plots.reform_timeline()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [fig.axes[0].get_title(loc="left")]
    assert any(re.search(r"[\u4e00-\u9fff]", t) for t in texts), texts[:5]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from primarycare import cases
    from primarycare.case.result import CaseResult
    from primarycare.case.run import run_case

    r = run_case(cases.load_cases()["zhejiang"], n_permutations=20)
    d = r.save(tmp_path_factory.mktemp("zhejiang"))
    return r, CaseResult.load(d)


NUMBER = re.compile(r"(?<![0-9A-Za-z.])-?\d+\.\d+")


def _texts(result, lang: str) -> dict[str, str]:
    from primarycare.report import words

    ri18n.set_language(lang, font=False)
    try:
        out = {"data_status": words.data_status(result)[2], "caveats": "\n".join(words.caveats(result))}
        for o in result.config["outcomes"]:
            for name in ("effect", "segmented", "pretrend", "sensitivity", "synth", "robustness"):
                out[f"{name} {o}"] = getattr(words, name)(result, o)
        return out
    finally:
        ri18n.set_language("en", font=False)


def test_chinese_chapter_from_a_saved_result_has_the_same_numbers(saved):
    """No re-estimation: the zh chapter renders the saved result, and a saved result renders exactly like the
    one in memory (infinite and missing values survive the round trip); every decimal number printed in
    English is printed in Chinese."""
    live, loaded = saved
    en_live, en_loaded, zh_loaded = _texts(live, "en"), _texts(loaded, "en"), _texts(loaded, "zh")
    assert en_live == en_loaded
    for key, text in en_loaded.items():
        assert Counter(NUMBER.findall(text)) == Counter(NUMBER.findall(zh_loaded[key])), key
        if text:
            assert re.search(r"[\u4e00-\u9fff]", zh_loaded[key]), key


# ------------------------------------------------------------------------------------------ the built site


def _site() -> Path:
    site = Path(os.environ.get("PRIMARYCARE_SITE") or ROOT / "book" / "_build" / "html")
    if not (site / "zh" / "index.html").exists():
        pytest.skip(f"no built Chinese edition at {site / 'zh'} (python -m primarycare build)")
    return site


def _chapters(site: Path) -> list[str]:
    out = []
    for p in sorted(site.rglob("*.html")):
        rel = p.relative_to(site)
        if rel.parts[0] in ("zh", "_static", "_sources", "_images", "_downloads") or rel.name in (
                "genindex.html", "search.html") or any(part.startswith(".") for part in rel.parts):
            continue
        if 'http-equiv="refresh"' in p.read_text(encoding="utf-8", errors="replace")[:3000].lower():
            continue
        out.append(rel.as_posix())
    return out


class _Prose(HTMLParser):
    """The text of a page's article, without code, math, scripts and styles."""

    SKIP = {"script", "style", "pre", "code", "svg", "math", "td"}

    def __init__(self):
        super().__init__()
        self.depth_article = 0
        self.skip = 0
        self.parts: list[str] = []
        self._stack: list[tuple[str, bool, bool]] = []

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class") or ""
        article = tag == "article" or "bd-article" in cls
        # bibliography entries are authors' names and titles in their own language (names aside, as the issue says)
        skip = (tag in self.SKIP or "math" in cls.split() or "highlight" in cls or "pc-lang-switch" in cls
                or "citation" in cls.split())
        if tag in ("br", "img", "hr", "meta", "link", "input", "wbr", "source"):
            return
        self._stack.append((tag, article, skip))
        self.depth_article += article
        self.skip += skip

    def handle_endtag(self, tag):
        if tag not in (t for t, _a, _s in self._stack):  # a stray end tag closes nothing
            return
        while self._stack:
            t, article, skip = self._stack.pop()
            self.depth_article -= article
            self.skip -= skip
            if t == tag:
                break

    def handle_data(self, data):
        if self.depth_article and not self.skip:
            self.parts.append(data)


def chinese_share(html: str) -> tuple[float, int]:
    """Share of Chinese characters among the letters of a page's prose, and the number of letters.

    Prose = the article's text (headings, paragraphs, lists, boxes, captions, table headers) without code
    blocks, inline code, math, scripts, the language switch and table cells: cells are data (registry ids,
    reported quotes, source addresses, numbers), not sentences. A letter is a CJK ideograph (Chinese) or an
    ASCII letter A-Z/a-z (not Chinese); digits, punctuation and symbols are not letters. Words in Latin
    script left in a Chinese sentence (authors cited, RMSPE, file names) count against the share."""
    p = _Prose()
    p.feed(html)
    text = " ".join(p.parts)
    cjk = len(re.findall(r"[\u4e00-\u9fff\u3400-\u4dbf]", text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return (cjk / (cjk + latin) if cjk + latin else 0.0), cjk + latin


def test_chinese_share_measure():
    assert chinese_share("<article><p>医共体 is 县域</p><pre>code code code</pre></article>") == (5 / 7, 7)
    assert chinese_share("<article><table><tr><th>省份</th></tr><tr><td>Anhui data</td></tr></table></article>") == (1.0, 2)
    assert chinese_share("<article><p>中文</p></span><p>more</p></article>") == (2 / 6, 6)  # a stray end tag
    assert chinese_share("<div><p>outside</p></div>")[1] == 0


def test_every_english_page_has_its_chinese_counterpart():
    site = _site()
    pages = _chapters(site)
    assert len(pages) >= 10
    missing = [p for p in pages if not (site / "zh" / p).exists()]
    assert not missing, f"English pages without a Chinese page: {missing}"


def test_every_page_links_to_the_same_page_in_the_other_language():
    site = _site()
    for rel in _chapters(site):
        for edition, page in (("en", site / rel), ("zh", site / "zh" / rel)):
            html = page.read_text(encoding="utf-8")
            m = re.search(r'<p class="pc-lang-switch"><a href="([^"]+)"', html)
            assert m, f"{edition}/{rel}: no language switch"
            target = (page.parent / m.group(1)).resolve()
            other = (site / rel) if edition == "zh" else (site / "zh" / rel)
            assert target == other.resolve(), f"{edition}/{rel}: the switch leads to {target}, not {other}"


def test_chinese_chapters_are_mostly_chinese():
    site = _site()
    low = {}
    for rel in _chapters(site):
        share, letters = chinese_share((site / "zh" / rel).read_text(encoding="utf-8"))
        if letters >= 50 and share < 0.6:
            low[rel] = round(share, 2)
    assert not low, f"Chinese pages whose prose is less than 60% Chinese characters: {low}"


def test_chinese_edition_is_configured_for_chinese():
    site = _site()
    index = (site / "zh" / "intro.html").read_text(encoding="utf-8")
    assert 'lang="zh' in index
    assert "模拟数据" in (site / "zh" / "intro.html").read_text(encoding="utf-8") or "模拟" in index
    raw = (site / "zh" / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(raw[raw.index("(") + 1:raw.rindex(")")])["terms"]
    for word in ("医共体", "签约", "家庭医生"):  # jieba's words (the glossary's headwords kept whole)
        assert word in terms, f"the Chinese search index has no {word!r}"


# ------------------------------------------------------------------------------------------ the build's plan


def test_zh_plan_reads_saved_results_and_keys_on_language_and_catalogue(monkeypatch):
    from primarycare import cases
    from primarycare.book import build as bb

    selected = cases.load_cases()
    en = bb.keyed_plan(selected, 30)
    zh = bb.edition_plan(en, selected, "zh")
    assert [z.name for z in zh] == [f"zh {j.name}" for j in en]
    for z, e in zip(zh, en, strict=True):
        assert z.parameters["lang"] == "zh" and z.source == e.source and z.key != e.key
        assert z.output == bb.ZH_BOOK / e.output.relative_to(bb.BOOK)
        if e.kind == "case":  # no re-estimation: the English run's saved result, nothing saved again
            assert z.parameters["results_dir"] == str(e.results_dir) and z.results_dir is None
            assert re.search(r"[\u4e00-\u9fff]", z.title), z.title
    monkeypatch.setattr(bb, "library_catalogue_hash", lambda lang="zh": "another catalogue")
    assert [z.key for z in bb.edition_plan(en, selected, "zh")] != [z.key for z in zh]


def test_language_switch_urls():
    from primarycare.book.sphinx_ext import other_edition_url

    assert other_edition_url("intro", "en") == ("zh", "zh/intro.html")
    assert other_edition_url("cases/anhui", "en") == ("zh", "../zh/cases/anhui.html")
    assert other_edition_url("cases/anhui", "zh") == ("en", "../../cases/anhui.html")
    assert other_edition_url("intro", "zh") == ("en", "../intro.html")


def test_an_assumed_reform_year_is_marked_in_the_chinese_figure_too(zh):
    """The real record's figure marks an assumed year in either language (the flag is read from the
    registries, not from the already translated basis)."""
    from primarycare.report import real_record as rr

    if plots.cjk_font_path() is None:
        pytest.skip("Noto Sans CJK SC is not installed (apt-get install fonts-noto-cjk)")
    ev = rr.reform_events()
    assumed = ev[ev["assumed"]]
    assert len(assumed) >= 1 and not ev[ev["province"] == "national"]["assumed"].any()
    fig = plots.observed_national({"GPs": rr.real.national("gps_per_10000")}, ev)
    labels = " ".join(t.get_text() for t in fig.axes[0].texts)
    for prov in assumed["province"]:
        assert fmt.province(prov) + ri18n._(" (assumed)") in labels


def test_axis_labels_state_a_unit_once_in_both_languages(zh):
    assert fmt.label_with_unit("gps_per_10000") == fmt.label("gps_per_10000")  # 每万人口全科医生数
    assert fmt.label_with_unit("primary_care_visit_share") == fmt.label("primary_care_visit_share") + " (%)"
    ri18n.set_language("en", font=False)
    assert fmt.label_with_unit("gps_per_10000") == "General practitioners per 10000 residents"
    assert fmt.label_with_unit("primary_care_visit_share") == "Primary-care share of visits (%)"


def test_the_chinese_search_language_indexes_as_sphinx_does():
    """primarycare.book.sphinx_ext's Chinese search language (its Latin words in a set, for speed) splits and
    stems a page's words exactly as Sphinx's own."""
    from sphinx.search.zh import SearchChinese

    from primarycare.book.sphinx_ext import chinese_search

    text = ("安徽省紧密型县域医共体 TWFE DiD event study RMSPE CRV1 SDID ATT 的估计值为 1.84 个百分点；"
            "synthetic control placebo permutations are randomization tests 随机化检验 ATT ATT")
    SearchChinese.latin_terms = []  # the class-level list Sphinx's version fills (shared by instances)
    ours, theirs = chinese_search()({}), SearchChinese({})
    for lang in (ours, theirs):
        lang.words = lang.split(text)
    assert ours.words == theirs.words
    assert [ours.stem(w) for w in ours.words] == [theirs.stem(w) for w in theirs.words]
    assert ours.lang == "zh" and isinstance(ours, SearchChinese)


def test_myst_documents_made_once_per_parser_class_are_the_same():
    """sphinx_ext.quicker_myst_documents: the same default settings as myst-parser computes each time, and
    each document its own copy (a change to one does not reach the next)."""
    from docutils.frontend import get_default_settings
    from myst_parser.mdit_to_docutils import base
    from myst_parser.parsers.sphinx_ import MystParser

    from primarycare.book.sphinx_ext import quicker_myst_documents

    quicker_myst_documents()
    quicker_myst_documents()  # idempotent
    assert base.make_document.pc_cached
    for parser in (base.RSTParser, MystParser):
        first, second = base.make_document("a.md", parser), base.make_document("b.md", parser)
        ours, theirs = vars(first.settings), vars(get_default_settings(parser))
        deps = "record_dependencies"  # an object without equality: its own one per document
        assert {k: v for k, v in ours.items() if k != deps} == {k: v for k, v in theirs.items() if k != deps}
        assert type(ours[deps]) is type(theirs[deps]) and ours[deps] is not second.settings.record_dependencies
        assert first.settings is not second.settings
        first.settings.tab_width = 99
        assert base.make_document("c.md", parser).settings.tab_width != 99
        assert second["source"] == "b.md"


def test_the_sidebar_navigation_is_never_empty():
    """sphinx_ext.sidebar_nav_rendered_once skips the theme's emptiness check of the navigation tree: it must
    hold links on every page of both editions."""
    from pydata_sphinx_theme import utils

    from primarycare.book import sphinx_ext

    sphinx_ext.sidebar_nav_rendered_once()
    sphinx_ext.sidebar_nav_rendered_once()  # idempotent: wrapped once
    assert utils._update_and_remove_templates.pc_never_empty
    site = _site()
    for rel in _chapters(site):
        for page in (site / rel, site / "zh" / rel):
            html = page.read_text(encoding="utf-8")
            nav = re.search(r'<nav class="bd-links bd-docs-nav"(.*?)</nav>', html, flags=re.S)
            assert nav and nav.group(1).count("<a ") >= 10, f"{page}: no navigation tree in the sidebar"


def test_the_chinese_data_chapter_links_its_downloads():
    """The data chapter's three CSV downloads are links in both editions (the Chinese edition's source tree
    gets the files its page links to: prepare_zh_tree)."""
    site = _site()
    for page in (site / "cases" / "data.html", site / "zh" / "cases" / "data.html"):
        html = page.read_text(encoding="utf-8")
        links = re.findall(r'href="([^"]*_downloads/[^"]*\.csv)"', html)
        assert sorted(Path(link).name for link in links) == ["facts.csv", "panel.csv", "truth.csv"], page
        for link in links:
            assert (page.parent / link).resolve().is_file(), f"{page}: {link} is not in the site"
