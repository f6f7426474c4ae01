"""Sphinx extension of the book (book/_config.yml: sphinx.local_extensions {primarycare.book.sphinx_ext: ../}).

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


def setup(app) -> dict:
    """Register the fixes above as a Sphinx extension."""
    app.connect("config-inited", _theme_defaults)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
