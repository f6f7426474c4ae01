"""The controlled vocabulary of indicators, read once from ``data/indicators.csv``.

The panel, the facts register, the simulator and the chapters all use these ids, so an indicator's
name, unit, allowed range and definition are written in exactly one place.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from ..errors import UserInputError
from ..paths import DATA


@lru_cache(maxsize=1)
def table() -> pd.DataFrame:
    """All indicators: id, labels, unit, kind (share / rate / count), min, max, in_panel, definition."""
    return pd.read_csv(DATA / "indicators.csv").set_index("indicator")


def ids(panel_only: bool = False) -> list[str]:
    """Indicator ids; with ``panel_only`` just those the simulated panel carries."""
    t = table()
    if panel_only:
        t = t[t["in_panel"] == "yes"]
    return t.index.tolist()


def check(indicator: str) -> str:
    """Return ``indicator`` if known, else raise a readable error listing the vocabulary."""
    if indicator in table().index:
        return indicator
    raise UserInputError(
        f"Unknown indicator {indicator!r}. Known indicators (data/indicators.csv): "
        + ", ".join(ids()) + "."
    )


def label(indicator: str, lang: str = "en") -> str:
    """Human label of an indicator, English (``en``) or Chinese (``zh``)."""
    return table().loc[check(indicator), "label_zh" if lang == "zh" else "label_en"]


def unit(indicator: str) -> str:
    """Unit of an indicator as written in the vocabulary."""
    return table().loc[check(indicator), "unit"]
