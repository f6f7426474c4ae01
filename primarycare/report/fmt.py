"""Numbers as printed: one format for values, intervals and p-values everywhere in the book."""

from __future__ import annotations

import math
from typing import Any

from ..data import indicators
from .i18n import _, is_zh
from .rules import difference_unit


def _f(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def num(x: Any, digits: int = 2) -> str:
    """A number with ``digits`` decimals and thousands separators; "—" when missing; words for infinity."""
    v = _f(x)
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return _("unbounded") if v > 0 else _("minus unbounded")
    return f"{v:,.{digits}f}"


def ci(low: Any, high: Any, digits: int = 2) -> str:
    """An interval as one cell, "[a, b]"; "—" when either bound is missing; "(−∞, b]" when unbounded."""
    lo, hi = _f(low), _f(high)
    if math.isnan(lo) or math.isnan(hi):
        return "—"
    left = "(−∞" if math.isinf(lo) else f"[{lo:,.{digits}f}"
    right = "∞)" if math.isinf(hi) else f"{hi:,.{digits}f}]"
    return f"{left}, {right}"


def p(x: Any) -> str:
    """A p-value as printed: three decimals, "<0.001" below that, "—" when missing."""
    v = _f(x)
    if math.isnan(v):
        return "—"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def p_eq(x: Any) -> str:
    """A p-value after "p": "= 0.123" or "< 0.001"."""
    v = _f(x)
    return "< 0.001" if not math.isnan(v) and v < 0.001 else "= " + p(v)


def unit_text(unit: Any) -> str:
    """A unit of data/indicators.csv as printed in the language in use (Chinese units as they are)."""
    words = {"pp": _("pp"), "%": "%", "per 1000 residents": _("per 1000 residents"),
             "per 10000 residents": _("per 10000 residents"), "visits": _("visits"), "persons": _("persons"),
             "institutions": _("institutions"), "yuan": _("yuan"), "percentage points": _("percentage points"),
             "percentage points per year": _("percentage points per year"), "beds": _("beds"),
             "counties": _("counties"), "cities": _("cities"), "years": _("years"), "person-times": _("person-times")}
    u = "" if unit is None else str(unit)
    return words.get(u, u)


def _raw_effect_unit(outcome: str) -> str:
    try:
        return difference_unit(indicators.unit(outcome))
    except Exception:  # noqa: BLE001 - an id missing from the vocabulary
        return ""


def effect_unit(outcome: str) -> str:
    """The unit of an effect on ``outcome``: percentage points ("pp") for a share, else its unit (as printed
    in the language in use)."""
    return unit_text(_raw_effect_unit(outcome))


def effect_unit_words(outcome: str) -> str:
    """The unit of an effect in words ("percentage points")."""
    u = _raw_effect_unit(outcome)
    return _("percentage points") if u == "pp" else unit_text(u)


def count(n: Any) -> str:
    """A count: "1,302" in English; in Chinese plain digits below ten thousand and 万 / 亿 above when exact
    to two decimals ("1.3万", "12万", "3.5亿"), else plain digits ("123456")."""
    v = _f(n)
    if math.isnan(v):
        return "—"
    k = int(round(v))
    if not is_zh():
        return f"{k:,}"
    for unit, size in (("亿", 10**8), ("万", 10**4)):
        if abs(k) >= size and (k * 100) % size == 0:
            return f"{k / size:.2f}".rstrip("0").rstrip(".") + unit
    return str(k)


def label(indicator: str) -> str:
    """An indicator's label from data/indicators.csv (``label_zh`` in Chinese; the id itself when it is
    not there)."""
    try:
        return str(indicators.label(indicator, "zh" if is_zh() else "en"))
    except Exception:  # noqa: BLE001 - an id missing from the vocabulary is shown as it is
        return str(indicator)


def label_with_unit(indicator: str) -> str:
    """An indicator's label with its unit in brackets, for an axis ("Primary-care share of visits (%)"); the
    unit is not repeated when the label already says it ("General practitioners per 10000 residents"; told
    from the English label, so that a translation that words the unit differently does not repeat it)."""
    try:
        raw, english = indicators.unit(indicator), str(indicators.label(indicator, "en"))
    except Exception:  # noqa: BLE001 - an id missing from the vocabulary is shown as it is, without a unit
        return label(indicator)
    raw = "" if raw is None or (isinstance(raw, float) and math.isnan(raw)) else str(raw)
    return label(indicator) if not raw or raw in english else f"{label(indicator)} ({unit_text(raw)})"


def province(name: Any) -> str:
    """A province as named in the text: its English key, or in Chinese its short name (data/provinces.csv)."""
    if not is_zh():
        return str(name)
    from ..data import provinces

    try:
        return provinces.table().set_index("province").loc[provinces.resolve(name), "short_zh"]
    except Exception:  # noqa: BLE001 - a name outside the registry is shown as it is
        return str(name)


def printed_value(value: Any, qualifier: Any = None) -> str:
    """A reported figure as printed: no trailing zeros, the qualifier in words ("more than 20")."""
    words = {"about": _("about"), "more_than": _("more than"), "at_least": _("at least"),
             "less_than": _("less than"), "at_most": _("at most"), "over": _("over")}
    v = _f(value)
    txt = _("unknown") if math.isnan(v) else f"{v:.6f}".rstrip("0").rstrip(".")
    q = "" if qualifier is None or (isinstance(qualifier, float) and math.isnan(qualifier)) else str(qualifier)
    q = words.get(q, q.replace("_", " "))
    return f"{q} {txt}".strip()


def year(y: Any) -> str:
    v = _f(y)
    return "—" if math.isnan(v) else str(int(v))
