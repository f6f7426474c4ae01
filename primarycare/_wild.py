"""Wild cluster bootstrap (placeholder until implemented)."""
from __future__ import annotations

from .results import Estimate


class WildBootstrapResult(Estimate):
    pass


def wild_cluster_bootstrap(*args, **kwargs):
    raise NotImplementedError("wild_cluster_bootstrap is being written")
