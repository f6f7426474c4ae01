"""Message catalogues for the words the library writes (gettext).

Every sentence, label and caption in :mod:`primarycare.report` goes through :func:`_` (a whole sentence
with named placeholders, formatted after translation), so a second language is a catalogue
(``primarycare/report/locale/<lang>/LC_MESSAGES/primarycare.mo``), not a fork of the code. English is
the source language: with ``lang="en"`` (the default) the text is returned unchanged.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

DOMAIN = "primarycare"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_current: gettext.NullTranslations = gettext.NullTranslations()
_lang = "en"


ALIASES = {"zh": "zh", "zh_CN": "zh", "zh-CN": "zh", "zh_Hans": "zh", "en": "en", "": "en"}


def set_language(lang: str | None, font: bool = True) -> None:
    """Use the catalogue of ``lang`` for every later call of :func:`_` ("en", or "zh" / "zh_CN": Simplified
    Chinese), and set matplotlib's font for it (``font``; see :func:`primarycare.report.plots.font_family`).

    The Chinese catalogue ``locale/zh_CN/LC_MESSAGES/primarycare.po`` is compiled to ``.mo`` here when the
    ``.mo`` is missing or older than the ``.po`` (the ``.mo`` is not committed).
    """
    global _current, _lang
    code = ALIASES.get(lang or "", None)
    if code is None:
        from ..errors import UserInputError

        raise UserInputError(f"Unknown language {lang!r}: expected 'en' or 'zh' (also 'zh_CN'), the languages with a "
                             "message catalogue in primarycare/report/locale.")
    if code == "en":
        _current, _lang = gettext.NullTranslations(), "en"
    else:
        try:
            mo = compile_catalogue(code)
            with open(mo, "rb") as fh:
                _current = gettext.GNUTranslations(fh)
        except OSError:  # an installed package in a read-only folder: compile in memory
            import io

            from babel.messages.mofile import write_mo
            from babel.messages.pofile import read_po

            buf = io.BytesIO()
            with open(catalogue_path(code), "rb") as fh:
                write_mo(buf, read_po(fh), use_fuzzy=False)
            buf.seek(0)
            _current = gettext.GNUTranslations(buf)
        _lang = code
    if font:
        from . import plots

        plots.apply_font(_lang)


LOCALES = {"zh": "zh_CN"}  # language -> catalogue folder


def catalogue_path(lang: str) -> Path:
    """The ``.po`` catalogue of ``lang`` (``locale/<locale>/LC_MESSAGES/primarycare.po``)."""
    return LOCALE_DIR / LOCALES.get(lang, lang) / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogue(lang: str, force: bool = False) -> Path:
    """Compile ``lang``'s ``.po`` to ``.mo`` beside it when missing or older (the ``.mo`` is not committed)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    from ..errors import UserInputError

    po = catalogue_path(lang)
    if not po.exists():
        raise UserInputError(f"No message catalogue for language {lang!r}: expected {po}. Create it with "
                             f"`python -m primarycare.book.i18n extract --lang {lang}`.")
    mo = po.with_suffix(".mo")
    if force or not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        with open(po, "rb") as fh:
            cat = read_po(fh, locale=LOCALES.get(lang, lang))
        tmp = mo.with_name(f".{mo.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            write_mo(fh, cat, use_fuzzy=False)
        tmp.replace(mo)
    return mo


def is_zh() -> bool:
    """True when the words are Chinese (numbers, names and units follow the Chinese conventions)."""
    return _lang == "zh"


def language() -> str:
    """The language in use."""
    return _lang


def _(message: str) -> str:
    """The message in the current language (marks the string for extraction into the catalogue)."""
    return _current.gettext(message)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it now (a constant translated where it is used)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """Singular or plural message in the current language."""
    return _current.ngettext(singular, plural, n)
