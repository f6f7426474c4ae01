"""primarycare: data, simulation, estimators and case running for the primary-care reform book.

The library behind the book *Primary health care reform in China: provincial cases*. Every data value
carries a ``status`` (``observed`` or ``simulated``); see ``data/README.md``.

The folders are the layers, from the bottom up:

- :mod:`primarycare.data`: registries (provinces, indicators, facts), panel schema, importer, simulation;
- :mod:`primarycare.methods`: estimators and inference (DiD, synthetic control, trends, ...);
- :mod:`primarycare.case`: a case's configuration and the run of its analyses (numbers only);
- :mod:`primarycare.report`: the only layer that writes words, tables, boxes and figure labels;
- :mod:`primarycare.book`: building the book and adding a case to it.

The short names used in notebooks and by users keep working: ``from primarycare import did, synth,
sdid, conformal, trends, inference, provinces, indicators, facts, simulate, importer, schema, data, cases, plots``.
They are loaded on first use, so ``import primarycare`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# short public name -> module that holds it
_ALIASES = {
    "provinces": "primarycare.data.provinces",
    "indicators": "primarycare.data.indicators",
    "facts": "primarycare.data.facts",
    "schema": "primarycare.data.schema",
    "importer": "primarycare.data.importer",
    "simulate": "primarycare.data.simulate",
    "results": "primarycare.methods.results",
    "did": "primarycare.methods.did",
    "inference": "primarycare.methods.inference",
    "pretrend": "primarycare.methods.pretrend",
    "synth": "primarycare.methods.synth",
    "sdid": "primarycare.methods.sdid",
    "conformal": "primarycare.methods.conformal",
    "trends": "primarycare.methods.trends",
    "sensitivity": "primarycare.methods.sensitivity",
    "cases": "primarycare.case.config",
    "plots": "primarycare.report.plots",
}


def __getattr__(name: str) -> Any:
    """Load ``primarycare.<short name>`` from its layer on first use (PEP 562)."""
    if name in _ALIASES:
        module = importlib.import_module(_ALIASES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'primarycare' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_ALIASES])
