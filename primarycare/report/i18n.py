"""Message catalogues for the words the library writes (gettext).

Every sentence, label and caption in :mod:`primarycare.report` goes through :func:`_` (a whole sentence
with named placeholders, formatted after translation), so a second language is a catalogue
(``primarycare/report/locale/<lang>/LC_MESSAGES/primarycare.mo``), not a fork of the code. English is
the source language: with ``lang="en"`` (the default) the text is returned unchanged.
"""

from __future__ import annotations

import gettext
from pathlib import Path

DOMAIN = "primarycare"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_current: gettext.NullTranslations = gettext.NullTranslations()
_lang = "en"


def set_language(lang: str) -> None:
    """Use the catalogue of ``lang`` ("en", "zh", ...) for every later call of :func:`_`."""
    global _current, _lang
    if lang in ("en", "", None):
        _current, _lang = gettext.NullTranslations(), "en"
        return
    _current = gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[lang])
    _lang = lang


def language() -> str:
    """The language in use."""
    return _lang


def _(message: str) -> str:
    """The message in the current language (marks the string for extraction into the catalogue)."""
    return _current.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Singular or plural message in the current language."""
    return _current.ngettext(singular, plural, n)
