"""Sphinx extension of the book (book/_config.yml: sphinx.local_extensions {primarycare.book.sphinx_ext: ../}).

The language switch of the two editions: every page links to the same page in the other language
(English at book/_build/html, Chinese at book/_build/html/zh; ``pc_edition`` is set by the build's
edition config). The link is a relative URL, so it works offline and from file://.

Chinese search (``html_search_language: zh``): Sphinx 7's Chinese search language keeps every Latin word of
the book in a list and checks each word it stems against that list, which made the Chinese edition's
search index take about 6 s (a third of its Sphinx build). :func:`chinese_search` is the same language
with a set: the same index, byte for byte (``tests/test_zh.py``).

Two speed-ups that leave every page the same, byte for byte (``tests/test_zh.py``):
 * myst-parser makes a default document (docutils settings from an option parser built anew) every time
   it renders Markdown, even when it is handed a document, as it always is: for the Chinese edition's
   translated messages that is hundreds of option parsers. :func:`quicker_myst_documents` computes the
   default settings once per parser class and gives each document a copy of its own;
 * pydata-sphinx-theme renders each sidebar template once to check that it is not empty, then again for
   the page. sphinx-book-theme's navigation tree (``sbt-sidebar-nav.html``) is never empty in this book
   (every page is in its table of contents), so :func:`sidebar_nav_rendered_once` skips the check.

Two fixes for a site that must run offline without console errors:
 * sphinx-thebe adds its inline configuration script twice on rebuilds with a persistent work
   directory, and the second `const THEBE_JS_URL` is a JavaScript error on every page;
 * pydata-sphinx-theme logs "Got invalid theme mode" on a reader's first visit unless a default
   colour mode is configured; we default to light (figures are drawn on white).
"""

from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated script tags (same file or same inline body) from a page."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set = set()
    kept = []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", str(js)) or "", tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    context["script_files"] = kept


def _theme_defaults(app, config) -> None:
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "light")  # pydata-sphinx-theme reads it from html_context
    config.html_context = context
    # the footer follows the data status of this build (written by primarycare.book.build.write_status)
    from pathlib import Path

    footer = Path(app.srcdir) / "_generated" / "footer.html"
    if footer.exists():
        opts = dict(config.html_theme_options or {})
        opts["extra_footer"] = footer.read_text(encoding="utf-8")
        config.html_theme_options = opts


def other_edition_url(pagename: str, edition: str) -> tuple[str, str]:
    """(other edition, relative URL of ``pagename`` there) from a page of ``edition``."""
    up = "../" * pagename.count("/")
    if edition == "zh":
        return "en", f"{up}../{pagename}.html"
    return "zh", f"{up}zh/{pagename}.html"


def _language_switch(app, pagename, templatename, context, doctree) -> None:
    """Put a link to the same page in the other edition at the top of the page's body."""
    from html import escape

    from primarycare.report.edition import switch_label, switch_title

    if "body" not in context or pagename in ("genindex", "search") or pagename.startswith("_"):
        return
    other, url = other_edition_url(pagename, app.config.pc_edition)
    link = (f'<p class="pc-lang-switch"><a href="{escape(url)}" hreflang="{other}" lang="{other}" '
            f'title="{escape(switch_title(other))}">{escape(switch_label(other))}</a></p>\n')
    context["body"] = link + context["body"]


def chinese_search() -> type:
    """Sphinx's Chinese search language with its Latin words in a set (membership, not order, is all
    its ``stem`` asks of them)."""
    from sphinx.search.zh import SearchChinese

    class SetOfLatinTerms(list):
        """A list that answers ``in`` from a set (``split`` extends it, ``stem`` asks ``word in``)."""

        def __init__(self) -> None:
            super().__init__()
            self._seen: set[str] = set()

        def extend(self, terms) -> None:  # type: ignore[override]
            terms = list(terms)
            super().extend(terms)
            self._seen.update(terms)

        def __contains__(self, word: object) -> bool:
            return word in self._seen

    class FastSearchChinese(SearchChinese):
        def init(self, options: dict[str, str]) -> None:
            super().init(options)
            self.latin_terms = SetOfLatinTerms()  # an instance's own (the class attribute is shared)

    return FastSearchChinese


def quicker_myst_documents() -> None:
    """myst-parser's ``make_document`` with the default settings computed once per parser class (a deep
    copy for each document, so no two share a list). Idempotent."""
    import copy
    import functools

    from docutils.frontend import get_default_settings
    from docutils.utils import new_document
    from myst_parser.mdit_to_docutils import base

    if getattr(base.make_document, "pc_cached", False):
        return
    defaults = functools.cache(get_default_settings)

    def make_document(source_path: str = "notset", parser_cls: type = base.RSTParser):
        return new_document(source_path, settings=copy.deepcopy(defaults(parser_cls)))

    make_document.pc_cached = True  # type: ignore[attr-defined]
    make_document.__doc__ = base.make_document.__doc__
    base.make_document = make_document


#: sidebar templates the theme need not render to find out whether they are empty (see the module docstring)
NEVER_EMPTY = ("sbt-sidebar-nav.html",)


def sidebar_nav_rendered_once() -> None:
    """pydata-sphinx-theme's template filter told that :data:`NEVER_EMPTY` templates are never empty (its
    own ``templates_skip_empty_check``, extended). Idempotent."""
    from pydata_sphinx_theme import utils

    original = utils._update_and_remove_templates
    if getattr(original, "pc_never_empty", False):
        return

    def update_and_remove_templates(app, context, templates, section, templates_skip_empty_check=None):
        skip = [*(templates_skip_empty_check or []), *NEVER_EMPTY]
        return original(app, context, templates, section, templates_skip_empty_check=skip)

    update_and_remove_templates.pc_never_empty = True  # type: ignore[attr-defined]
    utils._update_and_remove_templates = update_and_remove_templates


def setup(app) -> dict:
    """Register the fixes above, the language switch and the Chinese search as a Sphinx extension."""
    quicker_myst_documents()
    sidebar_nav_rendered_once()
    app.add_search_language(chinese_search())
    app.add_config_value("pc_edition", "en", "html")
    app.connect("config-inited", _theme_defaults)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _language_switch, priority=910)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
