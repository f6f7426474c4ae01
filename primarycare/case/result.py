"""The saved result of one case: numbers only (frames and settings), written by the case run and read
by the chapter, the synthesis and the other-language edition, so nothing is estimated twice."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import UserInputError
from ..files import atomic_write

#: Interval bases valid with one treated province (design-based) and model-based ones (shown for reference
#: only); the values of ``CaseResult.estimates["interval_basis"]`` besides ``"none"``.
DESIGN_BASED = ("randomization", "placebo", "placebo_variance", "conformal")
MODEL_BASED = ("crv1", "analytic_if", "hac")
#: Methods that compare the treated province with other provinces (run only within one data status).
CROSS_PROVINCE_METHODS = ("TWFE DiD", "Event study (post average)", "Callaway-Sant'Anna", "Synthetic control",
                          "Synthetic DiD")

#: Columns of ``CaseResult.estimates``: one row per (outcome, method, spec).
ESTIMATE_COLUMNS = ["outcome", "method", "spec", "section", "estimate", "se", "ci_low", "ci_high", "p_value",
                    "n_obs", "inference", "interval_basis", "warnings", "planted", "same_as", "n_assignments"]


@dataclass
class CaseResult:
    """Everything a case chapter shows: config, data status, estimates and the tables behind the figures.

    ``estimates`` has the columns :data:`ESTIMATE_COLUMNS`. ``interval_basis`` says what the interval rests
    on (``randomization``, ``placebo``, ``placebo_variance``, ``conformal``: design-based, valid with one
    treated province; ``crv1``, ``analytic_if``, ``hac``: model-based; ``none``: no interval);
    :mod:`primarycare.report.rules` decides which of them a chapter may present as a main result.
    ``planted`` is the effect planted in the simulated panel (NaN when the treated province's values are
    observed). ``same_as`` names another row's method when the two are the same number by construction.
    ``tables`` holds named frames (trends, event_study, synth_gap, ...). ``problems`` lists analyses that
    could not run, as ``{"what": ..., "outcome": ..., "reason": ..., "detail": ...}`` records (reason
    codes, no prose). ``meta`` holds settings and caveats raised by estimators.
    """

    config: dict[str, Any]
    status: dict[str, Any]
    estimates: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        """True when any value the chapter uses is simulated."""
        return bool(self.status.get("any_simulated", True))

    def outcome_simulated(self, outcome: str) -> bool:
        """True when the treated province's series of ``outcome`` is simulated."""
        by = self.status.get("by_outcome", {}).get(outcome, {})
        return by.get("province_simulated", 1) > 0

    def main_estimates(self) -> pd.DataFrame:
        return self.estimates[self.estimates["section"] == "main"].reset_index(drop=True)

    def save(self, directory: str | Path) -> Path:
        """Write ``results.json`` (everything), ``estimates.csv`` (the summary table) and ``panel.csv`` (the
        slice of the panel the case used, with status and source) to ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        payload = {
            "config": self.config, "status": self.status, "problems": self.problems, "meta": self.meta,
            "estimates": _split(self.estimates),
            "tables": {k: _split(v) for k, v in self.tables.items()},
        }
        with atomic_write(d / "results.json") as fh:
            # Infinity and NaN are kept as such (an unbounded interval must not come back as a missing one:
            # a chapter rendered from the saved result, e.g. in another language, shows the same numbers)
            json.dump(payload, fh, ensure_ascii=False, indent=1, allow_nan=True, default=_plain)
        with atomic_write(d / "estimates.csv") as fh:
            self.estimates.assign(case_id=self.config["case_id"]).to_csv(fh, index=False)
        if "panel_slice" in self.tables:  # the values the chapter used, with their status and source
            with atomic_write(d / "panel.csv") as fh:
                self.tables["panel_slice"].to_csv(fh, index=False)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> CaseResult:
        """Read a result written by :meth:`save`."""
        path = Path(directory) / "results.json"
        if not path.exists():
            raise UserInputError(f"No saved case result at {path}: run the case first "
                                 "(python -m primarycare build --only <case>).")
        raw = json.loads(path.read_text(encoding="utf-8"))

        def frame(spec: dict) -> pd.DataFrame:
            return pd.DataFrame(spec["data"], columns=spec["columns"])

        return cls(config=raw["config"], status=raw["status"], estimates=frame(raw["estimates"]),
                   tables={k: frame(v) for k, v in raw["tables"].items()}, problems=raw.get("problems", []),
                   meta=raw.get("meta", {}))


def _split(df: pd.DataFrame) -> dict:
    """A frame as ``{"columns", "data"}`` of plain Python values (NaN and infinities kept as floats)."""
    data = [[_plain(v) for v in row] for row in df.itertuples(index=False, name=None)]
    return {"columns": [str(c) for c in df.columns], "data": data}


def _plain(v):
    """A JSON-ready value: numpy scalars as Python numbers, missing values (None, NaN, NaT) as NaN floats only
    where they were floats, timestamps as ISO text."""
    import math

    import numpy as np

    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        v = v.item()
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, float) and math.isnan(v):
        return float("nan")
    return v
