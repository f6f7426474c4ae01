"""Goodman-Bacon (2021) decomposition (placeholder until implemented)."""
from __future__ import annotations

from .results import Estimate


class BaconResult(Estimate):
    pass


def bacon_decomposition(*args, **kwargs):
    raise NotImplementedError("bacon_decomposition is being written")
