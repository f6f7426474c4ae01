"""Reader pages the book build generates: introduction figures, the sources table and the downloads.

Called by :mod:`primarycare.book.build` (``write_pages`` before Sphinx, ``publish_downloads`` after it).
Everything is written under ``book/_generated`` (the figures, ``sources.md``, ``download.md``, the wheel
and a zip of the primer notebooks), which the Markdown pages include or link; the downloads are then
copied into the site's ``_downloads/`` folder, so the built site (also offline) serves them.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

from ..errors import UserInputError
from ..files import atomic_write
from ..paths import DATA, ROOT

GENERATED = ROOT / "book" / "_generated"
FIGURES = GENERATED / "figures"
DOWNLOADS = GENERATED / "downloads"
PRIMER_ZIP = "primer-notebooks.zip"
# what a source distribution of the package needs (see pyproject.toml, setup.py, MANIFEST.in)
_PACKAGE_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")


def write_figures(out: Path = FIGURES) -> list[Path]:
    """The introduction's tile-grid map and reform timeline as SVG (``book/_generated/figures``).

    A file is replaced only when its bytes change (the SVG is deterministic: see
    :func:`primarycare.report.plots.save_svg`), so an unchanged build does not rebuild the site.
    """
    out.mkdir(parents=True, exist_ok=True)
    names = ("tile_map", "reform_timeline")
    stamp, key = out / ".figures.sha256", _figures_key()
    if all((out / f"{n}.svg").exists() for n in names) and stamp.exists() and stamp.read_text().strip() == key:
        return [out / f"{n}.svg" for n in names]  # drawn from the same inputs: the same bytes
    from ..report import plots

    written = []
    for name, make in (("tile_map", plots.tile_map), ("reform_timeline", plots.reform_timeline)):
        fig = make()
        target = out / f"{name}.svg"
        tmp = out / f".{name}.svg.tmp"
        plots.save_svg(fig, tmp)
        if not target.exists() or target.read_bytes() != tmp.read_bytes():
            tmp.replace(target)
        else:
            tmp.unlink()
        written.append(target)
    stamp.write_text(key + "\n", encoding="utf-8")
    return written


def _figures_key() -> str:
    """What the introduction figures are drawn from: the registries they read, the report layer's code and
    catalogues, the language in use and matplotlib's version."""
    import matplotlib

    from ..report.i18n import language

    h = hashlib.sha256(f"{language()} {matplotlib.__version__}".encode())
    report = ROOT / "primarycare" / "report"
    files = [DATA / n for n in ("policies.csv", "cases.yml", "provinces.csv", "tile_grid.csv")]
    for p in sorted([*files, *report.glob("*.py"), *report.rglob("*.po")]):
        if p.exists():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def sources_table(path: Path | None = None) -> pd.DataFrame:
    """``data/sources.csv``: one row per seed document (key = its file name), all fields as text."""
    p = path or DATA / "sources.csv"
    df = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8")
    need = ["key", "title", "issuer_publisher", "date", "kind", "language", "note", "note_zh"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise UserInputError(f"{p}: missing column(s) {', '.join(missing)}; expected {', '.join(need)}.")
    empty = [(i + 2, c) for c in need for i, v in enumerate(df[c]) if not v.strip()]
    if empty:
        line, col = empty[0]
        raise UserInputError(f"{p}, line {line}, column {col} is empty: write the value or \"not stated\".")
    return df[need]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_sources_table(out: Path = GENERATED / "sources.md") -> Path:
    """The sources table as Markdown, included by ``book/sources.md``: one row per document, then the notes.

    The key (the document's file name in the seed folder, which the facts register and the policy
    registry cite) is shown only as a key, never as a title.
    """
    from ..report import edition

    df = sources_table()
    lines = ["| " + " | ".join(edition.sources_header()) + " |", "|---|---|---|---|---|"]
    for r in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in (r.title, r.issuer_publisher, r.date,
                                                          f"{r.kind}; {r.language}")) + f" | `{r.key}` |")
    lines += ["", edition.sources_notes_intro(), ""]
    from ..report.i18n import language

    zh = language() == "zh"  # the note in the reader's language (data/sources.csv: note, note_zh)
    lines += [f"- `{r.key}`: {_cell(r.note_zh if zh else r.note)}" for r in df.itertuples(index=False)]
    _write_if_changed(out, "\n".join(lines) + "\n")
    return out


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        with atomic_write(path) as fh:
            fh.write(text)


class WheelBuild:
    """The package's wheel being built (offline: no build isolation, no index) in a background ``pip wheel``
    process, so the build can execute notebooks meanwhile; :meth:`result` waits and puts it in ``out``.

    The sources are copied to a temporary folder first, so no ``build/`` or ``*.egg-info`` folder is left
    in the repository and a module deleted from the source cannot survive in a stale build folder.
    """

    def __init__(self, out: Path = DOWNLOADS) -> None:
        self.out = out
        self.key = package_hash()  # what it is built from (the sources may change while it runs)
        self._tmp = tempfile.TemporaryDirectory(prefix="primarycare-wheel-")
        tmp = Path(self._tmp.name)
        src = tmp / "src"
        src.mkdir()
        for name in _PACKAGE_FILES:
            if (ROOT / name).exists():
                shutil.copy2(ROOT / name, src / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
        shutil.copytree(ROOT / "primarycare", src / "primarycare", ignore=ignore)
        shutil.copytree(ROOT / "data", src / "data", ignore=ignore)
        self.dist = tmp / "dist"
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
               "--quiet", str(src), "-w", str(self.dist)]
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - closed in result()
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, text=True)

    def result(self) -> Path:
        """Wait for ``pip wheel``; the wheel's path in ``out`` (replacing the previous one)."""
        try:
            code = self._proc.wait()
            self._log.seek(0)
            output = self._log.read()
            wheels = sorted(self.dist.glob("primarycare-*.whl"))
            if code != 0 or not wheels:
                tail = "\n".join(output.strip().splitlines()[-10:])
                raise UserInputError("Building the primarycare wheel failed (pip wheel needs setuptools and wheel "
                                     f"installed; see requirements-dev.txt). Last lines of its output: {tail}")
            self.out.mkdir(parents=True, exist_ok=True)
            for old in self.out.glob("primarycare-*.whl"):
                old.unlink()
            target = self.out / wheels[0].name
            shutil.copy2(wheels[0], target)
            (self.out / ".wheel.sha256").write_text(self.key + "\n", encoding="utf-8")
            return target
        finally:
            self.close()

    def close(self) -> None:
        """Stop ``pip wheel`` if it still runs and remove the temporary folder."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._log.close()
        self._tmp.cleanup()


def build_wheel(out: Path = DOWNLOADS) -> Path:
    """Build the package's wheel into ``out`` and return its path (:class:`WheelBuild`, waited for)."""
    return WheelBuild(out).result()


def package_hash() -> str:
    """Hash of what the wheel is built from (the files :func:`build_wheel` copies)."""
    h = hashlib.sha256()
    files = [ROOT / n for n in _PACKAGE_FILES if (ROOT / n).exists()]
    for top in ("primarycare", "data"):
        files += [p for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and not any(part.startswith(".") for part in p.relative_to(ROOT).parts) and p.suffix != ".pyc"]
    for p in sorted(files):
        h.update(p.relative_to(ROOT).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def current_wheel(out: Path = DOWNLOADS) -> Path | None:
    """The wheel in ``out`` if it was built from the sources as they are now (a rebuild with nothing changed
    does not build it again), else None; :func:`build_wheel` records what it was built from."""
    wheels = sorted(out.glob("primarycare-*.whl"))
    key = out / ".wheel.sha256"
    if len(wheels) == 1 and key.exists() and key.read_text(encoding="utf-8").strip() == package_hash():
        return wheels[0]
    return None


def zip_primer(out: Path = DOWNLOADS) -> Path:
    """The primer notebooks (no outputs: as committed) in one zip, with fixed timestamps (reproducible)."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / PRIMER_ZIP
    tmp = out / f".{PRIMER_ZIP}.tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for nb in sorted((ROOT / "notebooks" / "primer").glob("*.ipynb")):
            info = zipfile.ZipInfo(f"primer/{nb.name}", date_time=(2020, 1, 1, 0, 0, 0))
            zf.writestr(info, nb.read_bytes())
    tmp.replace(target)
    return target


def download_text(wheel_name: str) -> str:
    """The generated part of the "Download and run" page: links and the one install command."""
    from ..report import edition

    return edition.download_text(wheel_name, PRIMER_ZIP)


def write_pages(wheel_build: WheelBuild | None = None) -> list[Path]:
    """Everything the reader pages include, before Sphinx runs: figures, sources table, downloads
    (``wheel_build``: a wheel already being built, started by the caller before other work)."""
    written = write_figures()
    written.append(write_sources_table())
    wheel = wheel_build.result() if wheel_build is not None else (current_wheel() or build_wheel())
    written += [wheel, zip_primer()]
    page = GENERATED / "download.md"
    _write_if_changed(page, download_text(wheel.name))
    written.append(page)
    return written


def write_edition_pages(gen: Path, lang: str) -> list[Path]:
    """The generated includes of a ``lang`` edition's pages in ``gen`` (its source tree's ``_generated``):
    figures, sources table and download links in that language; the wheel and the primer zip are the
    English edition's (:func:`write_pages` first)."""
    from ..report.i18n import language, set_language

    wheels = sorted(DOWNLOADS.glob("primarycare-*.whl"))
    if not wheels:
        raise UserInputError("The Chinese edition's download page needs the wheel the English edition builds: "
                             "build the English edition first (python -m primarycare build --lang en).")
    before = language()
    set_language(lang)
    try:
        written = write_figures(gen / "figures")
        written.append(write_sources_table(gen / "sources.md"))
        _write_if_changed(gen / "download.md", download_text(wheels[-1].name))
        written.append(gen / "download.md")
    finally:
        set_language(before)
    return written


def ensure_pages() -> list[Path]:
    """:func:`write_pages` when something the pages include is missing (a site build outside the full build,
    e.g. ``python -m primarycare case``, before any full build); otherwise nothing."""
    needed = [FIGURES / "tile_map.svg", FIGURES / "reform_timeline.svg", GENERATED / "sources.md",
              GENERATED / "download.md", DOWNLOADS / PRIMER_ZIP]
    if all(p.exists() for p in needed) and any(DOWNLOADS.glob("primarycare-*.whl")):
        return []
    return write_pages()


def generated_hash(gen: Path = GENERATED) -> str:
    """Hash of the generated files the pages show (so the site is rebuilt when one of them changes)."""
    h = hashlib.sha256()
    files = sorted([*(gen / "figures").glob("*.svg"), gen / "sources.md", gen / "download.md"])
    for p in files:
        if p.exists():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def publish_downloads(site: Path) -> list[Path]:
    """Copy the wheel and the primer zip into ``<site>/_downloads`` (the links on the download page)."""
    copied = []
    for edition in (site, site / "zh"):  # the Chinese edition (book/_build/html/zh) links its own _downloads
        if edition != site and not (edition / "index.html").exists():
            continue
        target = edition / "_downloads"
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("primarycare-*.whl"):
            old.unlink()
        for f in [*DOWNLOADS.glob("primarycare-*.whl"), DOWNLOADS / PRIMER_ZIP]:
            if f.exists():
                shutil.copy2(f, target / f.name)
                copied.append(target / f.name)
    return copied
