"""Figures for the case chapters and the synthesis, in one consistent style.

Every function takes tidy tables (as stored in a :class:`~primarycare.case.result.CaseResult`) and
returns a matplotlib ``Figure`` that is not registered with pyplot (notebooks ``display`` it once).
Labels go through the message catalogue (:mod:`primarycare.report.i18n`). The chapter figures are laid
out once, when built (:func:`_fit`), and have no layout engine: the book shows them uncropped
(``bbox_inches=None``), so each is drawn once, and everything on it stays inside it. Any figure drawn from
simulated values carries a large "SIMULATED DATA" mark (project rule), and no other figure does. Effects
on a share are in percentage points (pp).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import numpy as np
import pandas as pd

from .fmt import (
    effect_unit,  # noqa: F401 - used by the notebooks (plots.effect_unit)
    label_with_unit,
)
from .fmt import label as fmt_label
from .fmt import province as _province
from .i18n import N_, _, is_zh

PALETTE = {"treated": "#c0392b", "synthetic": "#2c3e50", "national": "#7f8c8d", "region": "#2980b9",
           "facts": "#f39c12", "placebo": "#b0b7bd", "planted": "#27ae60"}
STAMP = "SIMULATED DATA"
STAMP_GID = "simulated-data-stamp"  # the large mark's gid: it lies over the plot, outside any layout
STAMP_PT = 36  # the large mark's size, smaller only where it would not fit the figure
REGIONS = (N_("east"), N_("central"), N_("west"))  # data/provinces.csv regions, translated where shown


CJK_FONT = "Noto Sans CJK SC"  # Debian's fonts-noto-cjk; figures of the Chinese edition need it
CJK_FONT_FILES = "/usr/share/fonts/**/NotoSansCJK*"


def cjk_font_path() -> str | None:
    """The file of :data:`CJK_FONT` as matplotlib finds it (registering Debian's files if matplotlib's font
    cache predates their installation); None when the font is not installed."""
    import glob

    from matplotlib import font_manager as fm

    def find() -> str | None:
        try:
            return fm.findfont(CJK_FONT, fallback_to_default=False)
        except ValueError:
            return None

    found = find()
    if found is None:
        for path in sorted(glob.glob(CJK_FONT_FILES, recursive=True)):
            with contextlib.suppress(Exception):
                fm.fontManager.addfont(path)
        found = find()
    return found


def font_family(lang: str | None = None) -> list[str]:
    """matplotlib's font family for the words of ``lang`` (default: the language in use): the one place the
    figures' font is chosen. Chinese labels need a CJK font; DejaVu Sans stays the fallback for Latin text."""
    from .i18n import language

    if (lang or language()) == "en":
        return ["DejaVu Sans"]
    if cjk_font_path() is None:
        from ..errors import UserInputError

        raise UserInputError(
            f"The Chinese edition's figures need the font {CJK_FONT!r}, which matplotlib cannot find on this "
            "machine, so nothing was drawn. Install it (on Debian or Ubuntu: `sudo apt-get install "
            "fonts-noto-cjk`; elsewhere, install Noto Sans CJK SC from https://github.com/notofonts/noto-cjk) "
            "and run the build again, or build the English edition alone with `--lang en`.")
    return [CJK_FONT, "DejaVu Sans"]


def apply_font(lang: str | None = None) -> None:
    """Set matplotlib's font family for ``lang`` globally (pyplot figures of the primer, and ours)."""
    import matplotlib as mpl

    mpl.rcParams["font.family"] = font_family(lang)


STYLE = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 10,
         "xtick.labelsize": 10, "ytick.labelsize": 10, "axes.spines.top": False, "axes.spines.right": False,
         "axes.grid": True, "grid.alpha": 0.3}
PAD_IN = 3 / 72  # space between the outermost text and the figure's edge (constrained layout's default)


def _figure(width: float = 5.2, height: float = 3.6, ncols: int = 1, *,
            layout: str | None = None) -> tuple[Any, Any]:
    """A figure in the book's style with its own Agg canvas, not registered with pyplot.

    ``layout=None`` (the chapter figures): no layout engine; the builder calls :func:`_fit` once the figure
    is complete, so showing it draws it once. ``"constrained"`` for figures that need constrained layout
    (a legend outside the axes, an equal-aspect map), drawn once at build time.
    """
    import matplotlib as mpl
    from matplotlib.figure import Figure

    mpl.rcParams.update({**STYLE, "font.family": font_family()})
    fig = Figure(figsize=(width, height), layout=layout or "none", dpi=100)  # "none" whatever rcParams say
    _canvas_class()(fig)
    # a fixed title height spares matplotlib a search at every draw; _fit raises a title over an offset text
    with mpl.rc_context({"axes.titley": None if layout else 1.0}):
        axes = fig.subplots(1, ncols)
    for ax in np.atleast_1d(axes):
        ax.xaxis.set_major_locator(_in_view_locator())
        ax.yaxis.set_major_locator(_in_view_locator())
    return fig, axes


def _in_view_locator() -> Any:
    """matplotlib's default tick locator without the ticks beyond the axis limits, which are never drawn
    but would each be built and updated at every draw."""
    return _in_view_locator_class()()


@functools.cache
def _in_view_locator_class() -> type:
    from matplotlib.ticker import AutoLocator

    class InViewLocator(AutoLocator):
        def __call__(self) -> list[float]:
            lo, hi = sorted(self.axis.get_view_interval())
            eps = (hi - lo) * 1e-10
            return [t for t in super().__call__() if lo - eps <= t <= hi + eps]

    return InViewLocator


@functools.cache
def _canvas_class() -> type:
    """An Agg canvas whose renderer is shared by every figure of the same size in pixels.

    matplotlib caches the size of each text per renderer; with one renderer for :func:`_fit` and the draw,
    and for all the figures of a chapter, a tick label or axis label measured once is not measured again.
    Figures are drawn one at a time (each draw clears the renderer first).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg

    renderers: dict[tuple[int, int, float], RendererAgg] = {}

    class SharedRendererCanvas(FigureCanvasAgg):
        def get_renderer(self) -> RendererAgg:
            w, h = self.get_width_height(physical=True)
            key = (w, h, self.figure.dpi)
            if key not in renderers:
                if len(renderers) >= 8:  # forests vary in height: keep a few sizes only
                    renderers.clear()
                renderers[key] = RendererAgg(w, h, self.figure.dpi)
            self.renderer, self._lastKey = renderers[key], key
            return self.renderer

    return SharedRendererCanvas


def _fit(fig: Any) -> Any:
    """Place the axes of a one-axes figure so that its tick labels, axis labels, title and texts end
    :data:`PAD_IN` inside the figure's edges, as constrained layout would, but measured once here instead of
    at every draw; labels and titles too long for the room they have are wrapped first. The figure has no
    layout engine and needs no "tight" bounding box, so it is drawn once when shown (the book's kernel
    passes ``bbox_inches=None`` to the inline backend). Returns ``fig``.
    """
    (ax,) = fig.axes
    renderer = fig.canvas.get_renderer()
    pad = PAD_IN * fig.dpi
    edge = _edge_room(fig, renderer, pad)
    for _i in range(5):
        locs = (tuple(ax.xaxis.get_majorticklocs()), tuple(ax.yaxis.get_majorticklocs()))
        _place(ax, renderer, pad, edge)
        moved = _wrap_to_fit(ax, renderer, pad) | _title_over_offset(ax, renderer)
        if not moved and locs == (tuple(ax.xaxis.get_majorticklocs()), tuple(ax.yaxis.get_majorticklocs())):
            break  # same ticks and texts at the new size: the margins measured still hold
    else:
        _place(ax, renderer, pad, edge)  # texts changed on the last pass: place the axes for them
    _freeze_legend(ax, renderer)
    return fig


def _place(ax: Any, renderer: Any, pad: float, edge: tuple[float, float, float, float]) -> None:
    """Set the axes' position so that what is drawn around it (:func:`_decorations`) ends ``pad`` pixels
    (plus the ``edge`` room) inside the figure."""
    fig = ax.get_figure()
    width, height = fig.bbox.width, fig.bbox.height
    inner, outer = ax.bbox.frozen(), _decorations(ax, renderer)
    x0 = pad + edge[0] + max(inner.x0 - outer.x0, 0)
    x1 = width - pad - edge[2] - max(outer.x1 - inner.x1, 0)
    y0 = pad + edge[1] + max(inner.y0 - outer.y0, 0)
    y1 = height - pad - edge[3] - max(outer.y1 - inner.y1, 0)
    ax.set_position([x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height])


def _title_over_offset(ax: Any, renderer: Any) -> bool:
    """Raise the titles above the y axis' offset text ("1e6") where they would overlap it (what matplotlib
    does at every draw for a title left at its automatic height; :func:`_figure` fixes the height); True
    when a title moved."""
    off = ax.yaxis.get_offset_text()
    if not (off.get_visible() and off.get_text()):
        return False
    top = off.get_window_extent(renderer).y1
    moved = False
    for t in (ax.title, *_side_titles(ax)):
        b = t.get_window_extent(renderer)
        if t.get_text() and b.overlaps(off.get_window_extent(renderer)):
            t.set_y(t.get_position()[1] + (top - b.y0 + 2) / ax.bbox.height)
            moved = True
    return moved


def _freeze_legend(ax: Any, renderer: Any) -> None:
    """Pin the legend where matplotlib puts it at the final layout (for ``loc="best"``: searched once here
    instead of twice at every draw)."""
    leg = ax.get_legend()
    if leg is None:
        return
    b, a = leg.get_window_extent(renderer), leg.get_bbox_to_anchor()
    leg.set_loc(((b.x0 - a.x0) / a.width, (b.y0 - a.y0) / a.height))
    leg.pc_box = b.frozen()  # where it is drawn (its own extent is stale until the next draw): _clear_of_legend


def _decorations(ax: Any, renderer: Any) -> Any:
    """Bounding box (display units) of what is drawn around the axes: both axes' tick labels and labels, the
    titles' height, texts and annotations (legends are placed inside the axes; titles and axis labels are
    wrapped to the room they have, see :func:`_wrap_to_fit`)."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    titles = (ax.title, *_side_titles(ax))
    boxes = [ax.xaxis.get_tightbbox(renderer, for_layout_only=True),
             ax.yaxis.get_tightbbox(renderer, for_layout_only=True), ax.bbox]
    for t in ax.get_children():
        if isinstance(t, Text) and t.get_visible() and t.get_text():
            b = t.get_window_extent(renderer)
            boxes.append(Bbox([[ax.bbox.x0, b.y0], [ax.bbox.x1, b.y1]]) if t in titles else b)
    return Bbox.union([b for b in boxes if b is not None and b.width > 0 and np.isfinite(b.extents).all()])


def _edge_room(fig: Any, renderer: Any, pad: float) -> tuple[float, float, float, float]:
    """Room (left, bottom, right, top, in pixels) taken by figure-level texts and legends at an edge (the
    stamp's vertical note, a legend under the plot), so the axes and their labels stay clear of them. The
    stamp itself lies over the plot."""
    room = [0.0, 0.0, 0.0, 0.0]
    texts = [t for t in fig.texts if t.get_text() and t.get_gid() != STAMP_GID]
    for t in (a for a in [*texts, *fig.legends] if a.get_visible()):
        b = t.get_window_extent(renderer)
        gaps = (b.x1, b.y1, fig.bbox.width - b.x0, fig.bbox.height - b.y0)  # room to each edge
        side = int(np.argmin(gaps))
        room[side] = max(room[side], gaps[side] + pad)
    return room[0], room[1], room[2], room[3]


def _wrap_to_fit(ax: Any, renderer: Any, pad: float) -> bool:
    """Wrap the y label to the axes' height, the x label and the titles to the figure's width, when they
    are longer; True when a text changed (the layout is measured again)."""
    fig = ax.get_figure()
    x_mid = ax.bbox.x0 + ax.bbox.width / 2
    changed = False
    for label, room, vertical in ((ax.yaxis.label, ax.bbox.height, True),
                                  (ax.xaxis.label, 2 * min(x_mid - pad, fig.bbox.width - pad - x_mid), False)):
        if label.get_text() and label.get_visible():
            changed |= _rewrap(label, renderer, room, vertical)
    for t in (ax.title, *_side_titles(ax)):
        if not t.get_text():
            continue
        ha = t.get_horizontalalignment()
        room = {"left": fig.bbox.width - pad - ax.bbox.x0, "right": ax.bbox.x1 - pad}.get(
            ha, 2 * min(x_mid - pad, fig.bbox.width - pad - x_mid))
        changed |= _rewrap(t, renderer, room, vertical=False)
    return changed


def _side_titles(ax: Any) -> tuple[Any, ...]:
    """The left and right titles of ``ax`` (``set_title(loc=...)``), where matplotlib keeps them."""
    return tuple(t for t in (getattr(ax, "_left_title", None), getattr(ax, "_right_title", None)) if t is not None)


def _rewrap(text: Any, renderer: Any, room: float, vertical: bool) -> bool:
    """Wrap ``text`` (a matplotlib Text) to fewer characters a line when its extent along its reading
    direction exceeds ``room`` pixels; True when its text changed."""
    b = text.get_window_extent(renderer)
    length = b.height if vertical else b.width
    if length <= room:
        return False
    s = text.get_text()
    longest = max(_columns(line) for line in s.split("\n"))
    width = max(8, int(longest * room / length) - 1)
    new = _wrap(s.replace("\n", " ") if not _has_wide(s) else s.replace("\n", ""), width)
    if new == s:
        return False
    text.set_text(new)
    return True


def _has_wide(s: str) -> bool:
    import unicodedata

    return any(unicodedata.east_asian_width(c) in "WF" for c in s)


def _columns(s: str) -> int:
    """Display width of ``s`` in columns: a Chinese character takes two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


_NO_LINE_START = set("，。、；：？！）》」』】,.;:?!)%")


def _wrap(text: str, width: int) -> str:
    """Wrap ``text`` at ``width`` columns: Latin text at spaces (as :func:`textwrap.fill`), Chinese text
    between characters (two columns each, no line starting with closing punctuation)."""
    import textwrap

    if not _has_wide(text):
        return textwrap.fill(text, width)
    lines: list[str] = []
    line = ""
    for token in _tokens(text, width):
        if line and _columns(line + token.rstrip()) > width and token[0] not in _NO_LINE_START:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
    lines.append(line.rstrip())
    return "\n".join(lines)


def _tokens(text: str, width: int) -> list[str]:
    """Breakable pieces of mixed Chinese and Latin text: the words between spaces (with the spaces after
    them), and a word too long for a line cut into its characters (each Latin run kept whole)."""
    import re

    out: list[str] = []
    for word in re.findall(r"\S+\s*|\s+", text):
        if _columns(word.rstrip()) <= width or not _has_wide(word):
            out.append(word)
        else:
            out += re.findall(r"[^\s\u2e80-\u9fff\uff00-\uffef\u3000-\u303f]+\s*|\S\s*", word)
    return out


def stamp(target: Any, simulated: bool = True, *, note: bool = False, text: str | None = None) -> Any:
    """Mark a figure (or one axes) as drawn from simulated values: the project's one "SIMULATED DATA" stamp.

    On a ``Figure``: large translucent diagonal text plus, with ``note``, a small vertical note at the
    right edge. On an ``Axes`` (primer figures, one mark per panel): a bold mark in its lower-right corner.
    Returns ``target``. ``primarycare.book.stamp_simulated`` and ``primarycare.synth.stamp_simulated``
    call this function.
    """
    if not simulated:
        return target
    text = _(STAMP) if text is None else text
    if hasattr(target, "transAxes"):  # an Axes
        _axes_stamp(target, text)
        return target
    target.text(0.5, 0.5, text, ha="center", va="center", rotation=25, fontsize=_stamp_size(target, text),
                color="#c0392b", alpha=0.16, fontweight="bold", zorder=100, gid=STAMP_GID)
    if note:
        target.text(0.999, 0.5, _("Simulated data: shows the method, not the reform's real effect"),
                    ha="right", va="center", rotation=90, fontsize=10, color="#c0392b")
        engine = target.get_layout_engine()
        if engine is not None and hasattr(engine, "set"):
            with contextlib.suppress(TypeError):  # a layout engine without padding settings
                engine.set(w_pad=0.12)  # keep the vertical note clear of the plot
    return target


def _axes_stamp(ax: Any, text: str, cell: float = 2.0) -> Any:
    """The mark of one axes: inside the axes, where it covers nothing the axes shows (lines, bars, points,
    the legend, texts), as near the lower right corner (where it always went) as that allows; when no
    place inside is free, above the axes at the left or right end of the title's line if that is free,
    else inside where it covers least. A mark on the data would hide what the figure is there to show.
    Measured after the figure's layout, on a grid of ``cell`` pixels."""
    fig = ax.get_figure()
    if not hasattr(fig.canvas, "get_renderer"):  # a figure made without pyplot: measured on Agg
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    fig.draw_without_rendering()  # the layout (constrained, an outside legend) sets the axes' size
    renderer = fig.canvas.get_renderer()
    occupied = _occupied(ax, renderer)
    mark = ax.text(0.99, 0.02, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=10,
                   color="#b00020", alpha=0.8, fontweight="bold")
    pad = 4.0  # pixels kept clear around the mark
    box = mark.get_window_extent(renderer).padded(pad)

    def free(b: Any) -> bool:
        return not any(np.any((p[:, 0] >= b.x0) & (p[:, 0] <= b.x1) & (p[:, 1] >= b.y0) & (p[:, 1] <= b.y1))
                       for p in occupied)

    if free(box):  # the lower right corner is free: the mark stays where it always went
        return mark
    a = ax.bbox
    nx, ny = int(a.width // cell), int(a.height // cell)
    bw, bh = int(np.ceil(box.width / cell)), int(np.ceil(box.height / cell))
    if nx < bw or ny < bh:  # a mark wider than the axes: where it always went
        return mark
    pts = np.vstack(occupied) if occupied else np.empty((0, 2))
    grid = np.histogram2d(pts[:, 0], pts[:, 1], bins=[nx, ny],
                          range=[[a.x0, a.x0 + nx * cell], [a.y0, a.y0 + ny * cell]])[0] > 0
    s = np.pad(grid.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # summed-area table: any box's count at once
    covered = s[bw:, bh:] - s[:-bw, bh:] - s[bw:, :-bh] + s[:-bw, :-bh]  # [i, j]: box from cell (i, j)
    i, j = np.indices(covered.shape)
    inset = int(round(0.01 * a.width / cell))  # the corner's margin (0.99, 0.02 of the axes)
    far = np.hypot(i - (covered.shape[0] - 1 - inset), j - inset)
    best = np.lexsort((far.ravel(), covered.ravel()))[0]
    bi, bj = np.unravel_index(best, covered.shape)

    # the mark's (unpadded) box: its right edge and bottom, in display pixels, as axes fractions
    inside = ((bw + bi) * cell - pad) / a.width, (bj * cell + pad) / a.height
    mark.set_position(inside)
    if covered[bi, bj] == 0:
        return mark
    for x, ha in ((0.0, "left"), (1.0, "right")):  # above the axes, clear of the titles
        mark.set_position((x, 1.01))
        mark.set_ha(ha)
        if free(mark.get_window_extent(renderer).padded(pad)):
            return mark
    mark.set_position(inside)
    mark.set_ha("right")
    return mark


def _occupied(ax: Any, renderer: Any, step: float = 2.0) -> list[Any]:
    """What an axes shows, as arrays of display points ``step`` pixels apart or closer: along each line
    (a vertical line across the axes too), over each bar and patch, at each point of a scatter, over the
    legend, the titles and the other texts."""
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.text import Text

    def filled(b: Any) -> Any:
        xs = np.arange(b.x0, b.x1 + step, step)
        ys = np.arange(b.y0, b.y1 + step, step)
        return np.column_stack([np.repeat(xs, len(ys)), np.tile(ys, len(xs))])

    out = []
    for art in ax.get_children():
        if not art.get_visible() or art is ax.patch or art in ax.spines.values():
            continue
        if isinstance(art, Line2D):
            xy = art.get_transform().transform(art.get_xydata())
            xy = xy[np.isfinite(xy).all(axis=1)]
            if len(xy) > 1:  # the segments between points, as points step pixels apart
                seg = np.diff(xy, axis=0)
                n = np.maximum(1, np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / step)).astype(int)
                xy = np.vstack([xy[:-1][i] + seg[i] * np.linspace(0, 1, n[i] + 1)[:, None] for i in range(len(seg))])
            if art.get_marker() not in (None, "None", "", " ") and len(xy):
                r = art.get_markersize() * renderer.points_to_pixels(1.0) / 2
                xy = np.vstack([xy + [dx, dy] for dx in (-r, 0, r) for dy in (-r, 0, r)])
            out.append(xy)
        elif isinstance(art, Patch):
            b = art.get_window_extent(renderer)
            if b.width > 0 and b.height > 0:  # an empty histogram bin draws nothing
                out.append(filled(b))
        elif isinstance(art, Collection):
            offsets = art.get_offsets()
            if len(offsets):
                out.append(art.get_offset_transform().transform(offsets))
        elif isinstance(art, Text) and art.get_text():  # the titles too: the mark may go above the axes
            out.append(filled(art.get_window_extent(renderer)))
    legend = ax.get_legend()
    if legend is not None and legend.get_visible():
        out.append(filled(legend.get_window_extent(renderer)))
    return [pts for pts in out if len(pts)]


def _stamp_size(fig: Any, text: str, angle: float = 25.0) -> float:
    """Font size of the large mark: :data:`STAMP_PT`, or less where the mark turned by ``angle`` degrees
    would cross the edge of a short figure (it is then drawn whole, not cut)."""
    w, h = _text_size(text, tuple(font_family()), STAMP_PT, "bold")
    a = np.radians(angle)
    room_w, room_h = (fig.get_size_inches() - 2 * PAD_IN) * 72
    return STAMP_PT * min(1.0, room_w / (w * np.cos(a) + h * np.sin(a)), room_h / (w * np.sin(a) + h * np.cos(a)))


@functools.lru_cache(maxsize=64)
def _text_size(text: str, family: tuple[str, ...], size: float, weight: str) -> tuple[float, float]:
    """Width and height (points) of one line of text, without a renderer."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(family=list(family), size=size, weight=weight)
    w, h, _d = text_to_path.get_text_width_height_descent(text, prop, ismath=False)
    return w, h


def _finish(fig: Any, simulated: bool) -> Any:
    """Wrap long titles so the figure keeps its phone-column width, stamp it if simulated, lay it out."""
    import textwrap

    for ax in fig.axes:
        t = ax.get_title()
        if len(t) > 46:
            ax.set_title(textwrap.fill(t, 46))
    return _fit(stamp(fig, simulated))


def _legend(ax: Any, loc: str = "best", width: int = 34, **kw: Any) -> None:
    """A legend whose labels are wrapped at ``width`` columns (a Chinese character takes two), so it stays
    inside a phone-width figure."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, [_wrap(lb, width) for lb in labels], loc=loc, **kw)


def _ylabel(outcome: str) -> str:
    return label_with_unit(outcome)


def trends(table: pd.DataFrame, outcome: str, reform_year: int, facts: pd.DataFrame | None = None,
           simulated: bool = True, title: str | None = None, province: str | None = None) -> Any:
    """Province vs national and regional means, reported figures (facts register) as distinct markers."""
    fig, ax = _figure()
    t = table[table["outcome"] == outcome]
    names = {"province": province or _("Province"), "national_mean": _("Mean of the 31 provinces"),
             "region_mean": _("Mean of the other provinces in the {region} region")}
    for s in ("province", "national_mean", "region_mean"):
        d = t[t["series"] == s].sort_values("year")
        if d.empty:
            continue
        first = s == "province"
        color = PALETTE["treated"] if first else PALETTE["national"] if s == "national_mean" else PALETTE["region"]
        region = str(d["region"].iloc[0]) if "region" in d else ""
        ax.plot(d["year"], d["value"], marker="o" if first else None, ms=3, lw=2.2 if first else 1.5,
                color=color, ls="-" if first else "--", label=names[s].format(region=_(region)))
    if facts is not None and not facts.empty:
        f = facts[(facts["indicator"] == outcome) & (facts["kind"].astype(str) != "target")]
        if "geography_level" in f:
            f = f[f["geography_level"].astype(str) == "province"]  # a county's figure stays a county's
        f = f[pd.to_numeric(f["year"], errors="coerce").notna()]
        if len(f):
            ax.scatter(pd.to_numeric(f["year"]), pd.to_numeric(f["value"]), marker="D", s=60, zorder=5,
                       color=PALETTE["facts"], edgecolor="black", label=_("Reported figure (facts register)"))
    ax.axvline(reform_year - 0.5, color="black", lw=1, ls=":")
    mark = ax.annotate(_("reform"), (reform_year - 0.45, 0.97), xycoords=("data", "axes fraction"), fontsize=10,
                       va="top")
    ax.set_xlabel(_("Year"))
    ax.set_ylabel(_ylabel(outcome))
    ax.set_title(title or fmt_label(outcome))
    _legend(ax)
    fig = _finish(fig, simulated)
    _clear_of_legend(ax, mark)
    return fig


def _clear_of_legend(ax: Any, mark: Any) -> None:
    """Move the label of a vertical line (an annotation at the top, left-aligned just right of the line) where
    the legend, once placed, does not cover it: to the bottom of the axes, then to the line's left side."""
    leg = ax.get_legend()
    if leg is None:
        return
    renderer = ax.get_figure().canvas.get_renderer()
    box = getattr(leg, "pc_box", None) or leg.get_window_extent(renderer)  # placed by _fit (_freeze_legend)
    line_x = mark.xy[0] - 0.05
    for y, va, ha, dx in ((0.97, "top", "left", 0.05), (0.03, "bottom", "left", 0.05),
                          (0.97, "top", "right", -0.05), (0.03, "bottom", "right", -0.05)):
        mark.xy = mark.xyann = (line_x + dx, y)  # the text's place is xyann (xy is the point it annotates)
        mark.set_va(va)
        mark.set_ha(ha)
        if not box.overlaps(mark.get_window_extent(renderer)):
            return
    mark.xy = mark.xyann = (line_x + 0.05, 0.97)  # covered wherever it goes: where it was
    mark.set_va("top")
    mark.set_ha("left")


def segmented(table: pd.DataFrame, outcome: str, reform_year: int, simulated: bool = True) -> Any:
    """Observed series, fitted segmented trend and the counterfactual projection with its interval."""
    fig, ax = _figure()
    t = table[table["outcome"] == outcome].sort_values("year")
    obs = next((c for c in ("observed", "y", outcome) if c in t), None)
    if obs:
        ax.plot(t["year"], t[obs], "o", color=PALETTE["treated"], ms=4,
                label=_("Simulated series") if simulated else _("Observed series"))
    if "fitted" in t:
        ax.plot(t["year"], t["fitted"], color=PALETTE["treated"], lw=2, label=_("Segmented fit"))
    cf = next((c for c in ("counterfactual", "projection") if c in t), None)
    if cf:
        post = t[t["year"] >= reform_year - 1]
        ax.plot(post["year"], post[cf], color=PALETTE["synthetic"], lw=2, ls="--",
                label=_("Counterfactual: pre-reform trend continued"))
        lo = next((c for c in ("cf_low", "counterfactual_low", "ci_low", "lower") if c in t), None)
        hi = next((c for c in ("cf_high", "counterfactual_high", "ci_high", "upper") if c in t), None)
        if lo and hi:
            ax.fill_between(post["year"], post[lo], post[hi], color=PALETTE["synthetic"], alpha=0.15,
                            label=_("95% interval of the projection (model-based)"))
    ax.axvline(reform_year - 0.5, color="black", lw=1, ls=":")
    ax.set_xlabel(_("Year"))
    ax.set_ylabel(_ylabel(outcome))
    ax.set_title(_("Segmented trend: {label}").format(label=fmt_label(outcome)))
    _legend(ax)
    return _finish(fig, simulated)


def event_study(table: pd.DataFrame, outcome: str, planted: pd.DataFrame | None = None,
                reform_year: int | None = None, simulated: bool = True) -> Any:
    """Event-time coefficients with their 95% placebo bands (Conley and Taber 2011); an unbounded band is
    drawn to the edge of the plot with an open end; the planted path (if simulated) as a line."""
    fig, ax = _figure()
    t = table[table["outcome"] == outcome].sort_values("rel_time")
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(-0.5, color="black", lw=1, ls=":")
    lo_col, hi_col = ("band_low", "band_high") if "band_low" in t else ("ci_low", "ci_high")
    lo, hi = t[lo_col].to_numpy(float), t[hi_col].to_numpy(float)
    finite = np.isfinite(lo) & np.isfinite(hi)
    span = np.nanmax(np.abs(t["estimate"].to_numpy(float))) if len(t) else 1.0
    cap = 3 * max(span, 1e-9)
    lo_c, hi_c = np.clip(np.nan_to_num(lo, nan=0.0, neginf=-cap), -cap, cap), np.clip(np.nan_to_num(hi, nan=0.0, posinf=cap), -cap, cap)
    est = t["estimate"].to_numpy(float)
    ax.errorbar(t["rel_time"], est, yerr=[np.maximum(est - lo_c, 0), np.maximum(hi_c - est, 0)], fmt="o",
                color=PALETTE["treated"], capsize=3, label=_("Estimate with 95% placebo band"))
    if (~finite & ~t.get("reference", pd.Series(False, index=t.index)).to_numpy(bool)).any():
        ax.plot([], [], " ", label=_("Band unbounded (too few comparison provinces): drawn to the edge"))
    if planted is not None and reform_year is not None and not planted.empty:
        p = planted[planted["indicator"] == outcome].copy()
        p["rel_time"] = p["year"] - reform_year
        p = p[p["rel_time"].between(t["rel_time"].min(), t["rel_time"].max())]
        if len(p):
            ax.plot(p["rel_time"], p["effect"], color=PALETTE["planted"], lw=2, ls="--", label=_("Planted effect"))
    ax.set_xlabel(_("Years relative to the reform (reference: -1)"))
    ax.set_ylabel(_("Effect ({unit})").format(unit=effect_unit(outcome)))
    ax.set_title(_("Event study: {label}").format(label=fmt_label(outcome)))
    _legend(ax)
    return _finish(fig, simulated)


def synth_gap(gaps: pd.DataFrame, outcome: str, treated: str, reform_year: int, simulated: bool = True) -> Any:
    """Gap (treated minus synthetic) and the placebo gaps of every donor (spaghetti)."""
    fig, ax = _figure()
    g = gaps[gaps["outcome"] == outcome]
    pl = g[g["placebo"].astype(bool)]
    poor = pl["poor_fit"].astype(bool) if "poor_fit" in pl else pd.Series(False, index=pl.index)
    for _u, d in pl[~poor].groupby("unit"):
        ax.plot(d["year"], d["gap"], color=PALETTE["placebo"], lw=1, alpha=0.8)
    d = g[~g["placebo"].astype(bool)].sort_values("year")
    ax.plot(d["year"], d["gap"], color=PALETTE["treated"], lw=2.5, label=_("{province} minus synthetic").format(province=treated))
    if len(pl):
        n_poor = pl.loc[poor, "unit"].nunique()
        ax.plot([], [], color=PALETTE["placebo"], label=_("Placebo: each comparison province as if treated") +
                (_(" ({k} with a poor pre-reform fit left out)").format(k=n_poor) if n_poor else ""))
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(reform_year - 0.5, color="black", lw=1, ls=":")
    ax.set_xlabel(_("Year"))
    ax.set_ylabel(_("Gap ({unit})").format(unit=effect_unit(outcome)))
    ax.set_title(_("Synthetic control gap: {label}").format(label=fmt_label(outcome)))
    _legend(ax)
    return _finish(fig, simulated)


def permutation(dist: pd.DataFrame, outcome: str, observed: float, simulated: bool = True) -> Any:
    """Randomization distribution of the TWFE estimate with the observed estimate marked."""
    fig, ax = _figure(PHONE_WIDTH, 3.2)
    x = dist.loc[dist["outcome"] == outcome, "estimate"].to_numpy(float)
    ax.hist(x, bins=min(40, max(10, len(x) // 5)), color=PALETTE["placebo"], edgecolor="white",
            label=_("Placebo reassignments"))
    ax.axvline(observed, color=PALETTE["treated"], lw=2.5, label=_("Actual assignment"))
    ax.set_xlabel(_("TWFE estimate ({unit})").format(unit=effect_unit(outcome)))
    ax.set_ylabel(_("Count"))
    ax.set_title(_("Randomization test: {label}").format(label=fmt_label(outcome)))
    _legend(ax)
    return _finish(fig, simulated)


def forest(estimates: pd.DataFrame, label_col: str = "label", simulated: bool = True,
           title: str | None = None) -> Any:
    """Forest plot: one row per estimate (point and 95% CI), planted effects as open green diamonds."""
    e = estimates.reset_index(drop=True)
    fig, ax = _figure(PHONE_WIDTH, max(2.5, 0.36 * len(e) + 1.4))
    y = np.arange(len(e))[::-1]
    has_ci = e["ci_low"].notna() & e["ci_high"].notna()
    ax.errorbar(e.loc[has_ci, "estimate"], y[has_ci.to_numpy()],
                xerr=[e.loc[has_ci, "estimate"] - e.loc[has_ci, "ci_low"],
                      e.loc[has_ci, "ci_high"] - e.loc[has_ci, "estimate"]],
                fmt="o", color=PALETTE["treated"], capsize=2, label=_("Estimate with 95% design-based interval"))
    ax.plot(e.loc[~has_ci, "estimate"], y[~has_ci.to_numpy()], "s", color=PALETTE["synthetic"],
            label=_("Estimate (no interval)"))
    if "planted" in e and e["planted"].notna().any():
        ax.plot(e["planted"], y, "D", mfc="none", color=PALETTE["planted"], ms=7, label=_("Planted effect"))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [_wrap(str(lb), 30) for lb in e[label_col]], fontsize=10)
    ax.set_title(_("Estimates across cases") if title is None else title)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", fontsize=10, frameon=False)  # under the rows
    return _finish(fig, simulated)


def _with_gaps(years: pd.Series, values: pd.Series, span: range) -> tuple[np.ndarray, np.ndarray]:
    """Values on every year of ``span`` with NaN where nothing is published, so a line breaks at a gap
    instead of being drawn across it (no interpolation)."""
    s = pd.Series(values.to_numpy(dtype=float), index=years.to_numpy())
    full = s.reindex(list(span))
    return full.index.to_numpy(), full.to_numpy()


def _events(ax: Any, events: pd.DataFrame | None, span: range, axes_width: float = 4.0) -> None:
    """Vertical lines at reform years: the national pilot in black, the case provinces in grey; names to the
    right of their line, or to its left where they would pass the end of ``span`` (``axes_width``: the plot's
    approximate width in inches, to measure the names in years)."""
    if events is None or events.empty:
        return
    for i, (year, g) in enumerate(events.groupby("year", sort=True)):
        national = (g["province"] == "national").any()
        ax.axvline(year, color="black" if national else "#95a5a6", lw=1.2 if national else 0.9,
                   ls="-" if national else ":", zorder=0)
        assumed = g["assumed"].fillna(False).astype(bool) if "assumed" in g else pd.Series(False, index=g.index)
        names = ", ".join((_("national pilot") if p == "national" else _province(p) + (_(" (assumed)") if a else ""))
                          for p, a in zip(g["province"], assumed, strict=True))
        years = _text_size(names, tuple(font_family()), 10, "normal")[0] / 72 * (len(span) / axes_width)
        left = year + 0.08 + years > span.stop - 0.5
        ax.annotate(names, (year - 0.08 if left else year + 0.08, 0.98 - 0.07 * (i % 3)),
                    xycoords=("data", "axes fraction"), fontsize=10, va="top", ha="right" if left else "left",
                    rotation=0, color="black" if national else "#555555")


def observed_national(series: dict[str, pd.DataFrame], events: pd.DataFrame | None = None,
                      span: range = range(2010, 2026)) -> Any:
    """Observed national series (one panel each: ``{label: frame with year, value}``), with gaps left
    open and the reform timeline as vertical lines. Every point is a published figure; no stamp is
    needed because nothing simulated is drawn (the caller passes only the shipped real series)."""
    n = len(series)
    fig, axes = _stack(n)
    axes = np.atleast_1d(axes)
    for ax, (label, df) in zip(axes, series.items(), strict=True):
        x, y = _with_gaps(df["year"], df["value"], span)
        ax.plot(x, y, color=PALETTE["treated"], lw=2, marker="o", ms=4, label=_("published figure"))
        missing = x[np.isnan(y)]
        if len(missing):
            ax.plot(missing, np.full(len(missing), np.nanmin(y)), ls="none", marker="|", ms=10,
                    color="#95a5a6", label=_("not published (gap)"))
        _events(ax, events, span)
        ax.set_ylabel(label)
        ax.set_xlim(span.start - 0.5, span.stop - 0.5)
        ax.legend(loc="lower right", fontsize=10)
    axes[-1].set_xlabel(_("Year"))
    fig.suptitle(_wrap(_("China: observed national series (published figures; gaps not filled)"), 52), fontsize=12)
    return fig


def _stack(n: int) -> tuple[Any, Any]:
    import matplotlib as mpl
    from matplotlib.figure import Figure

    mpl.rcParams.update({**STYLE, "font.family": font_family()})
    fig = Figure(figsize=(PHONE_WIDTH, 2.3 * n + 0.6), layout="constrained", dpi=100)
    return fig, fig.subplots(n, 1, sharex=True)


def observed_shares(national: pd.DataFrame, beijing: pd.DataFrame, events: pd.DataFrame | None = None,
                    span: range = range(2010, 2026)) -> Any:
    """The primary-care share of visits where it is published: China (gaps open) and Beijing 2012-2016."""
    fig, ax = _figure()
    x, y = _with_gaps(national["year"], national["value"], span)
    ax.plot(x, y, color=PALETTE["national"], lw=2, marker="o", ms=5, label=_("China (published)"))
    xb, yb = _with_gaps(beijing["year"], beijing["value"], span)
    ax.plot(xb, yb, color=PALETTE["treated"], lw=2, marker="s", ms=5, label=_("Beijing (derived from published counts)"))
    _events(ax, events, span)
    ax.set_xlim(span.start - 0.5, span.stop - 0.5)
    ax.set_ylim(0, 100)
    ax.set_xlabel(_("Year"))
    ax.set_ylabel(_("Primary-care share of visits (%)"))
    ax.set_title(_("Primary-care share of visits: only the years published"))
    ax.legend(loc="lower left", fontsize=10)
    return _fit(fig)


# ---------------------------------------------------------------------------------------------------------
# Reader figures for the introduction and the case chapters: sized for a phone column. At the width these
# are drawn (PHONE_WIDTH inches) every text is at least MIN_FONT_PT points, which is >= 9 CSS px when the
# image is shown 390 px wide (see :func:`min_text_px`).

PHONE_WIDTH = 5.2  # inches
MIN_FONT_PT = 10.0  # 10.4 CSS px at 390 px wide, still >= 9 px in a 350 px column (phone margins)
NO_REFORM = "#f2f2f2"
YEAR_UNKNOWN = "#d9d9d9"


def min_text_px(fig: Any, shown_width_px: float = 390.0) -> float:
    """Smallest visible text on ``fig`` in CSS px when the image is shown ``shown_width_px`` wide.

    A saved SVG (or a PNG scaled to the column) is drawn ``fig width in inches * 72`` points wide, so a
    font of ``s`` points appears as ``s * shown_width_px / (width_in * 72)`` px.
    """
    from matplotlib.text import Text

    fig.draw_without_rendering()  # creates the tick labels, so they are measured too
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    width_in = fig.get_size_inches()[0]
    return min(sizes) * shown_width_px / (width_in * 72.0) if sizes else float("inf")


def overflow_px(fig: Any) -> float:
    """How far (pixels) anything drawn on ``fig`` reaches past its edges; 0 when all of it is inside.

    The book shows figures uncropped (the kernel passes ``bbox_inches=None`` to the inline backend), so what
    reaches past an edge would be cut off.
    """
    fig.draw_without_rendering()  # runs a layout engine where there is one; places titles, labels, legends
    b = fig.get_tightbbox().transformed(fig.dpi_scale_trans)  # inches to pixels
    return max(0.0, -b.x0, -b.y0, b.x1 - fig.bbox.width, b.y1 - fig.bbox.height)


def _reader_figure(height: float, width: float = PHONE_WIDTH, layout: str | None = "constrained") -> tuple[Any, Any]:
    fig, ax = _figure(width, height, layout=layout)
    return fig, ax


def tile_grid(path: Any = None) -> pd.DataFrame:
    """The project's tile grid of the 31 provinces (``data/tile_grid.csv``): ``province``, ``row``, ``col``
    and ``label`` (``\\n`` marks a line break in a long name).

    The grid is the project's own loose arrangement (north at the top, west on the left), not a map
    projection and not a boundary file: each province is one equal tile, so small provinces are as visible
    as large ones.
    """
    from pathlib import Path

    from ..data import provinces
    from ..errors import UserInputError
    from ..paths import DATA

    p = Path(path) if path is not None else DATA / "tile_grid.csv"
    grid = pd.read_csv(p, encoding="utf-8")
    missing = {"province", "row", "col", "label"} - set(grid.columns)
    if missing:
        raise UserInputError(f"{p}: the tile grid needs the columns province, row, col and label; missing "
                             f"{', '.join(sorted(missing))}.")
    grid["province"] = [provinces.resolve(x) for x in grid["province"]]
    expected = set(provinces.names())
    if set(grid["province"]) != expected or grid["province"].duplicated().any():
        raise UserInputError(f"{p}: the tile grid must list each of the 31 provinces of data/provinces.csv "
                             f"once; missing {sorted(expected - set(grid['province']))}, duplicated "
                             f"{sorted(grid.loc[grid['province'].duplicated(), 'province'])}.")
    if grid[["row", "col"]].duplicated().any():
        raise UserInputError(f"{p}: two provinces share a tile (row, col): "
                             f"{grid.loc[grid[['row', 'col']].duplicated(keep=False), 'province'].tolist()}.")
    grid["label"] = grid["label"].str.replace("\\n", "\n", regex=False)
    return grid


def reform_events(policies: pd.DataFrame | None = None, cases: dict[str, Any] | None = None) -> pd.DataFrame:
    """Reform rows of ``data/policies.csv`` with the year each case chapter uses, one row per reform.

    Columns: ``reform_id``, ``province`` (or "national"), ``level``, ``name_en``, ``start_year`` (empty when
    the registry has no year), ``certainty`` (stated / inferred / unknown), ``case_id`` and ``case_year``
    (the reform year of the case built on this reform, from ``data/cases.yml``; empty when no case) and
    ``case_year_source``. No year is typed here: all come from the two registries.
    """
    from ..case import config as cases_mod

    pol = (policies if policies is not None else cases_mod.policies()).copy()
    if "id" in pol.columns:
        pol = pol.set_index("id")
    cfgs = cases if cases is not None else cases_mod.load_cases()
    by_reform = {c.reform: c for c in cfgs.values()}
    rows = []
    for rid, r in pol.iterrows():
        case = by_reform.get(rid)
        year = pd.to_numeric(pd.Series([r["start_year"]]), errors="coerce").iloc[0]
        rows.append({"reform_id": rid, "province": r["province"], "level": r["level"], "name_en": r["name_en"],
                     "start_year": None if pd.isna(year) else int(year), "certainty": r["certainty"],
                     "case_id": case.case_id if case else None,
                     "case_year": int(case.reform_year) if case else None,
                     "case_year_source": case.reform_year_source if case else None})
    out = pd.DataFrame(rows)
    for c in ("start_year", "case_year"):
        out[c] = out[c].astype("Int64")
    return out


def _province_years(events: pd.DataFrame) -> pd.DataFrame:
    """One row per reforming province: the year shown on its tile and how that year is known."""
    ev = events[events["level"].isin(["province", "city"])]
    rows = []
    for prov, g in ev.groupby("province", sort=False):
        case = g[g["case_year"].notna()]
        if len(case):
            r = case.iloc[0]
            assumed = r["certainty"] == "unknown" or pd.isna(r["start_year"])
            rows.append({"province": prov, "year": int(r["case_year"]), "kind": "assumed" if assumed else "known",
                         "case": True})
            continue
        known = g[g["start_year"].notna()].sort_values("start_year")
        if len(known):
            rows.append({"province": prov, "year": int(known.iloc[0]["start_year"]), "kind": "known",
                         "case": False})
        else:
            rows.append({"province": prov, "year": None, "kind": "unknown", "case": False})
    return pd.DataFrame(rows, columns=["province", "year", "kind", "case"])


def tile_map(grid: pd.DataFrame | None = None, events: pd.DataFrame | None = None,
             title: str | None = N_("Provinces with a reform in the registry")) -> Any:
    """Tile-grid map of the 31 provinces: reforming provinces coloured by reform year.

    A province is coloured when ``data/policies.csv`` has a province- or city-level reform for it; the
    colour and the tile's second line give the year its case chapter uses (``data/cases.yml``) or, for a
    province without a case, the earliest start year in the registry. A year marked ``*`` is assumed in
    the case configuration because the sources state none; "year ?" means the registry has no year.
    Case provinces have a thick outline. Years come from the registries only (:func:`reform_events`).
    """
    import matplotlib as mpl
    from matplotlib.patches import Patch, Rectangle

    grid = tile_grid() if grid is None else grid
    events = reform_events() if events is None else events
    years = _province_years(events).set_index("province")
    known = sorted({int(y) for y in years["year"].dropna()})
    cmap = mpl.colormaps["viridis"]
    colour = {y: cmap(0.15 + 0.75 * i / max(1, len(known) - 1)) for i, y in enumerate(known)}
    nrow, ncol = int(grid["row"].max()) + 1, int(grid["col"].max()) + 1
    fig, ax = _reader_figure(height=PHONE_WIDTH * nrow / ncol + 0.45)
    ax.set_axis_off()
    ax.grid(False)
    for r in grid.itertuples(index=False):
        x, y = r.col, nrow - 1 - r.row
        info = years.loc[r.province] if r.province in years.index else None
        face, hatch, text_colour, second = NO_REFORM, None, "#333333", ""
        if info is not None:
            if info["kind"] == "unknown":
                face, hatch, second = YEAR_UNKNOWN, "///", _("year ?")
            else:
                face = colour[int(info["year"])]
                text_colour = "white" if known.index(int(info["year"])) < len(known) * 0.6 else "black"
                second = f"{int(info['year'])}" + ("*" if info["kind"] == "assumed" else "")
        is_case = info is not None and bool(info["case"])
        ax.add_patch(Rectangle((x + 0.04, y + 0.04), 0.92, 0.92, facecolor=face, hatch=hatch,
                               edgecolor="black" if is_case else "#9a9a9a", lw=2.4 if is_case else 0.6))
        ax.text(x + 0.5, y + (0.62 if second else 0.5), _province(r.province) if is_zh() else r.label, ha="center", va="center",
                fontsize=MIN_FONT_PT, color=text_colour, linespacing=0.95)
        if second:
            ax.text(x + 0.5, y + 0.2, second, ha="center", va="center", fontsize=MIN_FONT_PT + 1,
                    fontweight="bold", color=text_colour)
    ax.set_xlim(0, ncol)
    ax.set_ylim(0, nrow)
    ax.set_aspect("equal")
    handles = [Patch(facecolor=colour[y], label=str(y)) for y in known]
    handles += [Patch(facecolor=YEAR_UNKNOWN, hatch="///", label=_("year not stated")),
                Patch(facecolor=NO_REFORM, edgecolor="#9a9a9a", label=_("no reform")),
                Patch(facecolor="white", edgecolor="black", lw=2.4, label=_("case chapter"))]
    # the empty north-west corner of the grid holds the legend, the south-east corner the note
    ax.legend(handles=handles, loc="upper left", ncol=2, fontsize=MIN_FONT_PT, frameon=False,
              bbox_to_anchor=(0.0, 1.0), handlelength=1.2, columnspacing=0.8, borderaxespad=0.1)
    if any(years["kind"] == "assumed"):
        ax.text(ncol, 0.05, _("* year assumed in\nthe case settings:\nthe sources\nstate none"), ha="right",
                va="bottom", fontsize=MIN_FONT_PT, color="#333333")
    if title:
        ax.set_title(_(title), fontsize=MIN_FONT_PT + 2, loc="left")
    return fig


def reform_timeline(events: pd.DataFrame | None = None, title: str | None = N_("Reform timeline")) -> Any:
    """Every reform of ``data/policies.csv`` on one time axis, one row each, with the reform's name above it.

    Filled circle: start year stated in a source; open circle: inferred from a source; diamond: the year a
    case chapter assumes because the sources state none; "year not stated" for a reform with no year. Years
    come from the registries only (:func:`reform_events`).
    """
    import textwrap

    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    events = reform_events() if events is None else events
    ev = events.assign(_y=events["case_year"].fillna(events["start_year"]))
    ev = ev.assign(_known=ev["_y"].notna()).sort_values(["_known", "_y"], ascending=[False, True],
                                                      na_position="last").reset_index(drop=True)
    yrs = ev["_y"].dropna().astype(int)
    lo, hi = (int(yrs.min()) - 1, int(yrs.max()) + 1) if len(yrs) else (2010, 2026)
    row_h = 0.62
    fig, ax = _reader_figure(height=1.3 + row_h * len(ev))
    ax.grid(axis="x", alpha=0.3)
    ax.grid(axis="y", visible=False)
    ax.spines["left"].set_visible(False)
    n = len(ev)
    for i, r in ev.iterrows():
        y = n - 1 - i
        where = (_province(r["province"]) if r["province"] != "national" else _("National"))
        name = str(r["name_zh"]) if is_zh() and isinstance(r.get("name_zh"), str) and r["name_zh"] else str(r["name_en"])
        label = name if name.lower().startswith(where.lower()) else f"{where}: {name}"
        label = textwrap.shorten(label, width=64, placeholder="...")
        ax.text(lo, y + 0.3, label, fontsize=MIN_FONT_PT, va="bottom", ha="left", color="#222222")
        if pd.isna(r["_y"]):
            ax.text(lo, y, _("year not stated in the sources"), fontsize=MIN_FONT_PT, va="center", ha="left",
                    color="#777777", style="italic")
            continue
        year = int(r["_y"])
        if pd.isna(r["start_year"]):
            ax.plot(year, y, marker="D", ms=8, color=PALETTE["facts"], mec="black", ls="none")
        elif r["certainty"] == "stated":
            ax.plot(year, y, marker="o", ms=9, color=PALETTE["treated"], ls="none")
        else:
            ax.plot(year, y, marker="o", ms=9, mfc="white", mec=PALETTE["treated"], mew=2, ls="none")
        ax.plot([lo, year], [y, y], color="#cccccc", lw=1, zorder=0)
    ax.set_xlim(lo - 0.3, hi + 0.3)
    ax.set_ylim(-0.7, n - 0.1)
    ax.set_yticks([])
    ax.tick_params(axis="x", labelsize=MIN_FONT_PT + 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    handles = [Line2D([], [], marker="o", color=PALETTE["treated"], ls="none", label=_("year stated")),
               Line2D([], [], marker="o", mfc="white", mec=PALETTE["treated"], mew=2, ls="none",
                      label=_("year inferred")),
               Line2D([], [], marker="D", color=PALETTE["facts"], mec="black", ls="none",
                      label=_("assumed by a case"))]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=MIN_FONT_PT, frameon=False)
    if title:
        ax.set_title(_(title), fontsize=MIN_FONT_PT + 2, loc="left")
    return fig


def province_position(panel_wide: pd.DataFrame, outcome: str, province: str, year: int,
                      title: str | None = None) -> Any:
    """Where one province stands among all provinces in one year: a dot strip of ``outcome``.

    ``panel_wide`` has one row per province-year with the outcome column and, optionally,
    ``<outcome>_status`` (:func:`primarycare.data.panel.wide`). Each province is a dot; the named
    province is drawn large and labelled, the median is a dashed line, and the lowest and highest
    provinces are named. A strip drawn from any simulated value carries the SIMULATED DATA mark.
    """
    from ..data import provinces
    from ..errors import UserInputError

    if outcome not in panel_wide.columns:
        raise UserInputError(f"province_position: outcome {outcome!r} is not a column of panel_wide; "
                             f"expected one of the indicator columns, e.g. {', '.join(map(str, panel_wide.columns[2:5]))}.")
    prov = provinces.resolve(province)
    d = panel_wide.loc[(panel_wide["year"] == year) & panel_wide[outcome].notna()]
    if prov not in set(d["province"]):
        raise UserInputError(f"province_position: no {outcome} value for {prov} in {year} in panel_wide; "
                             f"choose a year the panel covers ({int(panel_wide['year'].min())}-"
                             f"{int(panel_wide['year'].max())}).")
    d = d.sort_values(outcome).reset_index(drop=True)
    status_col = f"{outcome}_status"
    simulated = bool(status_col not in d.columns or d[status_col].eq("simulated").any())
    fig, ax = _reader_figure(height=2.3, layout=None)
    ax.grid(axis="y", visible=False)
    ax.spines["left"].set_visible(False)
    ax.set_yticks([])
    jitter = np.where(np.arange(len(d)) % 2 == 0, -0.08, 0.08)
    others = d["province"] != prov
    ax.scatter(d.loc[others, outcome], jitter[others.to_numpy()], s=40, color=PALETTE["placebo"],
               edgecolor="#555555", lw=0.5, zorder=2)
    me = d.loc[~others].iloc[0]
    rank = int(d.index[~others][0]) + 1
    ax.scatter([me[outcome]], [0], s=150, color=PALETTE["treated"], edgecolor="black", zorder=3)
    med = float(d[outcome].median())
    ax.axvline(med, color=PALETTE["national"], ls="--", lw=1.2, zorder=1)
    ax.text(med, 0.42, _("median"), ha="center", va="bottom", fontsize=MIN_FONT_PT, color="#555555")
    lo, hi = float(d[outcome].min()), float(d[outcome].max())
    pos = (float(me[outcome]) - lo) / (hi - lo) if hi > lo else 0.5
    side = "left" if pos < 0.3 else ("right" if pos > 0.7 else "center")
    ax.annotate(_province(prov) + "\n" + _("{value} (rank {rank} of {n} from lowest)").format(
                value=f"{me[outcome]:.3g}", rank=rank, n=len(d)), (me[outcome], 0),
                xytext=(0, -16), textcoords="offset points", ha=side, va="top", fontsize=MIN_FONT_PT + 1,
                fontweight="bold", color=PALETTE["treated"])
    for (_row, r), side in zip(d.iloc[[0, -1]].iterrows(), ("left", "right"), strict=True):
        if r["province"] != prov:
            ax.text(r[outcome], 0.2, _province(r["province"]), ha=side, va="bottom", fontsize=MIN_FONT_PT,
                    color="#555555")
    ax.set_ylim(-0.75, 0.62)
    ax.set_xlabel(label_with_unit(outcome), fontsize=MIN_FONT_PT + 1)
    ax.tick_params(axis="x", labelsize=MIN_FONT_PT + 1)
    ax.set_title(title or _("{province} among {n} provinces, {year}").format(province=_province(prov), n=len(d),
                                                                              year=year), fontsize=MIN_FONT_PT + 2, loc="left")
    if simulated:
        stamp(ax)
        ax.texts[-1].set_fontsize(MIN_FONT_PT)  # the project's stamp, at the phone-legible size
        stamp(fig, note=False)
    return _fit(fig)


def save_svg(fig: Any, path: Any) -> None:
    """Write ``fig`` as SVG, byte-for-byte the same for the same figure (fixed id salt, no date).

    Text is kept as paths, so the figure looks the same where the font is not installed.
    """
    from pathlib import Path

    import matplotlib as mpl

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context({"svg.hashsalt": "primarycare"}):
        fig.savefig(p, format="svg", metadata={"Date": None})
