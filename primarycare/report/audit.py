"""Print every verdict the built book states, with the statistics it rests on (for reviewers).

    python -m primarycare.report.audit [RESULTS_DIR]

Reads the saved case results (default ``book/_generated/results``) and prints, per case and outcome, the
effect verdict (``rules.effect_verdict``) and the pre-trend verdict (``rules.pretrend_verdict``) beside
the numbers: the design-based tests, the F statistic, the CRV1 and placebo p-values and the sign
pattern of the leads. Nothing is re-estimated.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ..case.result import CaseResult
from ..paths import ROOT
from . import rules


def audit(results_dir: Path) -> pd.DataFrame:
    rows = []
    for d in sorted(p for p in results_dir.iterdir() if (p / "results.json").exists()):
        r = CaseResult.load(d)
        pt = r.tables.get("pretrend")
        for o in r.config["outcomes"]:
            v = rules.effect_verdict(r.estimates, o)
            row = {"case": d.name, "outcome": o, "effect": v.code, "tests rejecting": f"{v.n_reject}/{v.n_tests}",
                   "estimates": f"{v.low:.3f} to {v.high:.3f}" if v.code != "no_estimates" else "—"}
            if pt is not None and (pt["outcome"] == o).any():
                x = pt[pt["outcome"] == o].iloc[0].to_dict()
                p = rules.pretrend_verdict(x)
                row.update({"pre-trend": p.code, "F": round(p.statistic, 2), "CRV1 p": round(p.crv1_p, 4),
                            "placebo p": round(p.placebo_p, 3), "leads +/-": f"{x.get('leads_above_zero')}/"
                            f"{x.get('leads_below_zero')}", "pattern": p.sign_pattern or "—",
                            "disagree": p.disagree})
            rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    d = Path(argv[0]) if argv else ROOT / "book" / "_generated" / "results"
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(audit(d).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
