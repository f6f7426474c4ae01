"""The 31 provincial-level units of mainland China, read once from ``data/provinces.csv``.

``resolve`` turns any common spelling (English, Chinese full or short name, 2-digit code) into the
canonical key, the English name, so every other module can compare provinces safely.
"""

from __future__ import annotations

import difflib
from functools import lru_cache

import pandas as pd

from ..errors import UserInputError
from ..paths import DATA


@lru_cache(maxsize=1)
def table() -> pd.DataFrame:
    """The province registry: code, province (English key), name_zh, short_zh, region."""
    df = pd.read_csv(DATA / "provinces.csv", dtype={"code": str})
    return df


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for row in table().itertuples(index=False):
        for alias in (row.province, row.province.lower(), row.province.replace(" ", "").lower(),
                      row.name_zh, row.short_zh, str(row.code)):
            out[alias] = row.province
    return out


def names() -> list[str]:
    """Canonical English names of all 31 provinces, in code order."""
    return table()["province"].tolist()


def resolve(name: object) -> str:
    """Return the canonical English name for ``name`` (``Anhui``, ``anhui``, ``安徽``, ``安徽省``, ``34``).

    Raises :class:`UserInputError` listing the closest matches when the name is unknown.
    """
    key = str(name).strip()
    if key.endswith(".0") and key[:-2].isdigit():  # a code read as a float
        key = key[:-2]
    aliases = _aliases()
    for candidate in (key, key.lower(), key.replace(" ", "").lower()):
        if candidate in aliases:
            return aliases[candidate]
    pool = sorted(a for a in aliases if not a.isdigit())  # codes match exactly, never fuzzily
    close = difflib.get_close_matches(key, pool, n=3, cutoff=0.5)
    close += difflib.get_close_matches(key.lower(), pool, n=3, cutoff=0.5)
    suggestions = list(dict.fromkeys(aliases[c] for c in close))
    hint = f" Did you mean {' or '.join(suggestions)}?" if suggestions else ""
    raise UserInputError(
        f"Unknown province {name!r}.{hint} Use an English name (Anhui), a Chinese name (安徽 or 安徽省) "
        "or the 2-digit code (34); data/provinces.csv lists all 31."
    )


def region(name: str) -> str:
    """East / central / west region of a province (any spelling)."""
    key = resolve(name)
    return table().set_index("province").loc[key, "region"]


def chinese(name: str) -> str:
    """Chinese short name of a province (any spelling)."""
    key = resolve(name)
    return table().set_index("province").loc[key, "short_zh"]
