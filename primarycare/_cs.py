"""Callaway and Sant'Anna (2021) group-time ATTs (placeholder until implemented)."""
from __future__ import annotations

from .results import Estimate


class CSResult(Estimate):
    pass


def callaway_santanna(*args, **kwargs):
    raise NotImplementedError("callaway_santanna is being written")
