"""Monte Carlo of the case pipeline: do the intervals a chapter shows as main results cover the truth?

    python -m primarycare.bench.montecarlo [--panels 200] [--seed 1] [--jobs 2]

Each draw is a panel from :func:`primarycare.data.simulate.simulate_one_reform` (one treated province,
parallel trends holding, AR(1) noise, a 2020 shock, a constant planted effect), relabelled with the
Zhejiang case's provinces, and run through the case pipeline's own blocks (:mod:`primarycare.case.run`:
the DiD block and the synthetic-control block, exactly as a chapter runs them). For every design-based
interval of the main table the table reports the share of draws whose interval contains the planted
effect, and for the randomization test of the TWFE estimate its rejection rate when the effect is removed
(the test's size). Simulated panels only: this checks the methods, not any province.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

EFFECT = 1.0


def _case(reform_year: int):
    from ..case import config

    base = config.load_cases()["zhejiang"]
    return dataclasses.replace(base, reform_year=reform_year, outcomes=("y",))


def _one(args: tuple[int, pd.DataFrame, int]) -> list[dict]:
    """Run one draw through the case pipeline; rows of (method, estimate, ci_low, ci_high, basis, p)."""
    import warnings

    from ..case import run as R

    draw, g, reform_year = args
    case = _case(reform_year)
    rows: list[dict] = []
    problems: list = []
    tabs = {k: [] for k in ("event_study", "pretrend", "perm", "sensitivity", "synth_weights", "synth_gap",
                            "synth_stats")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        R._did_block(g, case, "y", problems, rows, tabs, EFFECT, 1000, 0.05)
        R._synth_block(g, case, "y", problems, rows, tabs, EFFECT, 0.05)
        # size: the same panel with the planted effect removed, TWFE randomization test of no effect
        null = g.copy()
        null["y"] = null["y"] - EFFECT * null["treated"]
        from ..methods import did, inference

        est = lambda d: did.twfe(d, "y", "province", "year", "treated")  # noqa: E731
        rt = inference.randomization_test(est, null, "province", [case.province], "treated", time="year",
                                          progress=False, ci=False)
    out = [{"draw": draw, "method": r["method"], "section": r["section"], "estimate": r["estimate"],
            "ci_low": r["ci_low"], "ci_high": r["ci_high"], "basis": r["interval_basis"], "p_value": r["p_value"]}
           for r in rows]
    out.append({"draw": draw, "method": "size: TWFE randomization test, no effect", "section": "size",
                "estimate": rt.estimate, "ci_low": math.nan, "ci_high": math.nan, "basis": "randomization",
                "p_value": rt.p_value})
    out += [{"draw": draw, "method": f"problem: {p['what']}", "section": "problem", "estimate": math.nan,
             "ci_low": math.nan, "ci_high": math.nan, "basis": "", "p_value": math.nan} for p in problems]
    return out


def simulate_pipeline(n_panels: int = 200, seed: int = 1, jobs: int = 2, reform_year: int = 2017) -> pd.DataFrame:
    """Every main row of every draw (long table)."""
    from ..data.simulate import simulate_one_reform

    case = _case(reform_year)
    names = [case.province, *case.donors]
    sims = simulate_one_reform(n_provinces=len(names), reform_year=reform_year, effect=EFFECT, seed=seed,
                               n_draws=n_panels)
    labels = dict(zip(sorted(sims["province"].unique()), names, strict=True))
    tasks = []
    for d, g in sims.groupby("draw"):
        g = g.drop(columns="draw").rename(columns={"outcome": "y"})
        g["province"] = g["province"].map(labels)
        g["post"] = (g["year"] >= reform_year).astype(int)
        tasks.append((int(d), g.reset_index(drop=True), reform_year))
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            parts = list(ex.map(_one, tasks, chunksize=max(1, len(tasks) // (4 * jobs))))
    else:
        parts = [_one(t) for t in tasks]
    return pd.DataFrame([r for p in parts for r in p])


def coverage_table(long: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the planted effect by each main design-based interval, and the size of the test."""
    rows = []
    from ..case.result import DESIGN_BASED

    main = long[(long["section"] == "main") & long["basis"].isin(DESIGN_BASED)]
    for (m, b), g in main.groupby(["method", "basis"], sort=False):
        lo, hi = g["ci_low"].astype(float), g["ci_high"].astype(float)
        cov = ((lo <= EFFECT) & (EFFECT <= hi)).mean()
        rows.append({"method": m, "interval": b, "draws": len(g), "coverage": float(cov),
                     "bias": float(g["estimate"].mean() - EFFECT),
                     "unbounded": int((~np.isfinite(lo) | ~np.isfinite(hi)).sum())})
    size = long[long["section"] == "size"]
    rows.append({"method": "TWFE randomization test, effect removed", "interval": "rejection rate at 5%",
                 "draws": len(size), "coverage": float((size["p_value"] <= 0.05).mean()), "bias": math.nan,
                 "unbounded": 0})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m primarycare.bench.montecarlo", description=__doc__.splitlines()[0])
    ap.add_argument("--panels", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    long = simulate_pipeline(args.panels, args.seed, args.jobs)
    print(coverage_table(long).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    probs = long[long["section"] == "problem"]
    if len(probs):
        print(f"\n{len(probs)} analyses could not run:", probs["method"].value_counts().to_dict())
    print(f"\ncommand: python -m primarycare.bench.montecarlo --panels {args.panels} --seed {args.seed} "
          f"(simulated panels; planted effect {EFFECT})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
