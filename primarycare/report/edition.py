"""Words of the book as a whole that the build writes (status include, sources table, download links, titles,
the language switch), in the language in use (:mod:`primarycare.report.i18n`).

:mod:`primarycare.book` builds pages but writes no language itself: it asks this module.
"""

from __future__ import annotations

import re

from .i18n import _, is_zh

BOOK_TITLE = "Primary health care reform in China: provincial cases"  # as in book/_config.yml (title)
FOOTER = ("Case chapters built from the simulated teaching panel demonstrate methods; they are not findings "
          "about the real provinces. See the data chapter for the status of every value.")


def book_title() -> str:
    """The book's title in the language in use."""
    return _("Primary health care reform in China: provincial cases")


def footer() -> str:
    """The footer line of every page (book/_config.yml extra_footer) in the language in use."""
    return _("Case chapters built from the simulated teaching panel demonstrate methods; they are not findings "
             "about the real provinces. See the data chapter for the status of every value.")


def count(n: int) -> str:
    """A count as printed: thousands separators in English; 万 / 亿 in Chinese from ten thousand up."""
    from .fmt import count as _count

    return _count(n)


def status_text(n_sim: int, n_obs: int) -> str:
    """The landing page's "data status of this build" paragraph (``book/_generated/status.md``)."""
    if n_obs == 0:
        return _("**This build uses the simulated teaching panel only** ({n_sim} simulated values, none "
                 "observed). No province-by-year yearbook panel could be downloaded where it was built, so the "
                 "panel was generated from a documented model with reform effects planted in it "
                 "(`data/README.md`). The case chapters therefore demonstrate the methods on data where the true "
                 "effect is known; **they are not findings about the real provinces**. Every chart and table "
                 "built from simulated values is marked SIMULATED DATA. Figures reported in the sources "
                 "(the facts register) are real and are shown as such.").format(n_sim=count(n_sim))
    if n_sim == 0:
        return _("**Every value in this build's panel is observed** ({n_obs} values, imported by the user). The "
                 "chapters describe the data as imported.").format(n_obs=count(n_obs))
    return _("This build's panel has **{n_obs} observed** values (imported with `scripts/import_data.py`) "
             "and **{n_sim} simulated** values. Each chapter's data-status box says which values it uses; "
             "estimates that rest on simulated values are not findings about the real provinces.").format(
                 n_obs=count(n_obs), n_sim=count(n_sim))


def footer_text(n_sim: int, n_obs: int) -> str:
    """Every page's footer (HTML), following the panel's status."""
    if n_obs == 0:
        return _("<p>Case chapters built from the simulated teaching panel demonstrate methods; they are not findings "
                 "about the real provinces. See the data chapter for the status of every value.</p>")
    if n_sim == 0:
        return _("<p>Every value in this build's provincial panel is observed (imported by the user). See the data "
                 "chapter for the source of every value.</p>")
    return _("<p>This build mixes observed and simulated values; each chapter says which it uses, and results on "
             "simulated values are not findings about the real provinces.</p>")


def sources_header() -> list[str]:
    """Column headers of the sources table."""
    return [_("Title"), _("Issued or published by"), _("Date"), _("Kind"), _("Key")]


def sources_notes_intro() -> str:
    return _("Notes on each document (what it reports, and why a field says \"not stated\"):")


def download_text(wheel_name: str, primer_zip: str) -> str:
    """The generated part of the "Download and run" page: links and the one install command."""
    return (_("- The library with its data registries and the simulated panel: {link}").format(
                link=f"<a href=\"_downloads/{wheel_name}\" download>{wheel_name}</a>") + "\n"
            + _("- The methods-primer notebooks (no outputs): {link}").format(
                link=f"<a href=\"_downloads/{primer_zip}\" download>{primer_zip}</a>") + "\n\n"
            + _("Install it, with the packages it needs, in one command (run it in the folder you saved the file "
                "to):") + "\n\n"
            f"```bash\npip install {wheel_name}\n```\n")


def case_title(province: str, province_zh: str, reform_name: str, reform_name_zh: str, title: str = "") -> str:
    """A case chapter's title: the case's own (``data/cases.yml`` title) in English; in Chinese the
    province's and the reform's Chinese names (``data/provinces.csv``, ``data/policies.csv``)."""
    if is_zh():
        name = reform_name_zh or reform_name
        return f"{province_zh}：{name}" if province_zh else name
    return title or f"{province} ({province_zh}): {reform_name}"


def switch_label(target: str) -> str:
    """The language switch's link text: the other edition's name in its own language."""
    return {"zh": "中文", "en": "English"}[target]


def switch_title(target: str) -> str:
    """The switch's tooltip, in the language of the page it leads to."""
    return {"zh": "本页的中文版", "en": "This page in English"}[target]


def data_readme() -> str:
    """``data/README.md`` as the data chapter shows it: headings demoted to bold lines (the page keeps one
    title). The Chinese edition translates it as static text: the message templates take it from here too
    (:func:`primarycare.book.i18n.template_docs`), so it is written once, in English, in data/README.md."""
    from ..paths import DATA

    path = DATA / "README.md"
    readme = path.read_text(encoding="utf-8") if path.exists() else ""
    return re.sub(r"^#+\s*(.+)$", r"**\1**", readme, flags=re.M)
