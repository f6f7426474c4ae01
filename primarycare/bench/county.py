"""Benchmark: a county-scale staggered design end to end (simulation settings, not data).

2,800 simulated counties x 15 years, 9 treated counties with staggered first treated years (three each
in 2014, 2016 and 2018; every other county never treated). Tasks: Callaway-Sant'Anna, the three event
studies, 1,000 randomization reassignments of the treated counties' paths (TWFE, fast kernel) and a
synthetic control per treated county (all other counties as donors). Each task's time is reported with
its peer where one exists (moderndid for Callaway-Sant'Anna, pyfixest for the event studies and for
TWFE refits, timed on a subsample and extrapolated); the end-to-end row reports the total and the peak
memory (the process's maximum resident set size from resource.getrusage; ``python -m primarycare bench``
runs this part first so that the figure is this task's own). Our side is warmed up on a small panel
first (imports, first-call set-up), as the peers are.
"""

from __future__ import annotations

import resource
import time
import warnings

import numpy as np
import pandas as pd

from ..data.simulate import simulate_staggered
from ..methods import did, inference, synth
from .suite import _pyfixest_refits

N_COUNTIES, N_YEARS, START = 2_800, 15, 2010
COHORTS = {2014: 3 / N_COUNTIES, 2016: 3 / N_COUNTIES, 2018: 3 / N_COUNTIES}


def panel(seed: int = 3) -> pd.DataFrame:
    """The simulated county panel: unit, time, first_treated (0 = never), treated, y."""
    return simulate_staggered(n_units=N_COUNTIES, n_periods=N_YEARS, cohorts=COHORTS, effect=0.5, dynamic=0.05,
                              seed=seed, start=START)


def _timed(f):
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def _peer_cs(df: pd.DataFrame) -> float:
    try:
        import moderndid as md
        import polars as pl
    except ImportError:
        return float("nan")
    d = pl.from_pandas(df[["unit", "time", "first_treated", "y"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        def run():
            m = md.att_gt(d, yname="y", tname="time", idname="unit", gname="first_treated", est_method="reg",
                          boot=False, cband=False)
            return md.aggte(m, type="simple", boot=False, cband=False)

        run()  # warm-up
        return _timed(run)[0]


def _peer_event_studies(df: pd.DataFrame) -> dict[str, float]:
    try:
        import pyfixest as pf
    except ImportError:
        return {}
    d2 = df.copy()
    d2["rel"] = np.where(d2.first_treated > 0, d2.time - d2.first_treated, -1).clip(-5, 5)
    d2["relpost"] = np.where(d2.treated == 1, (d2.time - d2.first_treated).clip(upper=5), -1)
    calls = {
        "twfe": lambda: pf.feols("y ~ i(rel, ref=-1) | unit + time", d2, vcov={"CRV1": "unit"}).coef(),
        "sun_abraham": lambda: pf.event_study(d2, yname="y", idname="unit", tname="time", gname="first_treated",
                                              estimator="saturated").aggregate(),
        "imputation": lambda: pf.did2s(d2, yname="y", first_stage="~ 0 | unit + time",
                                       second_stage="~ i(relpost, ref=-1)", treatment="treated",
                                       cluster="unit").coef(),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, f in calls.items():
            f()
            out[k] = _timed(f)[0]
    return out


def _warm_up() -> None:
    small = simulate_staggered(n_units=40, n_periods=8, n_cohorts=2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        did.callaway_santanna(small, "y", "unit", "time", "first_treated")
        for m in ("twfe", "sun_abraham", "imputation"):
            did.event_study(small, "y", "unit", "time", "first_treated", method=m)
        tu = sorted(small.loc[small.first_treated > 0, "unit"].unique().tolist())
        inference.randomization_test(lambda d: did.twfe(d, "y", "unit", "time", "treated", cluster="unit"), small,
                                     "unit", tu, "treated", n_permutations=50, seed=0, ci=False, progress=False)
        synth.synthetic_control(small, "y", "unit", "time", tu[0], int(small.first_treated.max()))


def rows(n_perm: int = 1_000, peers: bool = True) -> list[dict]:
    """One row per task plus the end-to-end row (``task``, ``primarycare_s``, ``peer_s``, ``note``)."""
    df = panel()
    treated = sorted(df.loc[df.first_treated > 0, "unit"].unique().tolist())
    first = df.groupby("unit").first_treated.first()
    _warm_up()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    t_all = time.perf_counter()
    out: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sec, cs = _timed(lambda: did.callaway_santanna(df, "y", "unit", "time", "first_treated"))
        out.append({"task": "county 2,800x15, 9 treated: Callaway-Sant'Anna (ATT(g,t) + simple)", "primarycare_s": sec,
                    "key": "cs"})
        for m in ("twfe", "sun_abraham", "imputation"):
            sec, _ = _timed(lambda m=m: did.event_study(df, "y", "unit", "time", "first_treated", method=m))
            out.append({"task": f"county: event study ({m})", "primarycare_s": sec, "key": m})

        def ri():
            return inference.randomization_test(
                lambda d: did.twfe(d, "y", "unit", "time", "treated", cluster="unit"), df, "unit", treated,
                "treated", n_permutations=n_perm, seed=0, ci=False, progress=False)

        sec, r = _timed(ri)
        out.append({"task": f"county: {n_perm:,} randomization reassignments (TWFE)", "primarycare_s": sec,
                    "key": "ri", "fast": r.fast})

        def synth_all():
            return [synth.synthetic_control(df, "y", "unit", "time", u, int(first[u])).att for u in treated]

        sec, _ = _timed(synth_all)
        out.append({"task": f"county: synthetic control per treated county ({len(treated)} fits, "
                            f"{N_COUNTIES - 1:,} donors)", "primarycare_s": sec, "key": "synth"})
    total = time.perf_counter() - t_all
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.append({"task": "county: end to end (all of the above)", "primarycare_s": total, "key": "total",
                "note": f"peak memory: process max RSS {rss:,.0f} MiB ({rss0:,.0f} MiB before the county tasks; "
                        "targets: < 30 s, < 2 GB)"})
    if peers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer = {"cs": _peer_cs(df), **_peer_event_studies(df), "ri": _pyfixest_refits(df, treated, n_perm, 10)}
        notes = {"cs": "peer: moderndid att_gt (outcome regression, analytic SE) + aggte simple",
                 "ri": "peer: pyfixest feols refits, 10 timed, extrapolated",
                 "synth": "no peer timed at this size (the pysyncon rows below use 31 units)"}
        for row in out:
            row["peer_s"] = peer.get(row["key"], float("nan"))
            if row["key"] in notes:
                row["note"] = notes[row["key"]]
    for row in out:
        row.pop("key")
        row.pop("fast", None)
    return out


if __name__ == "__main__":  # pragma: no cover
    print(pd.DataFrame(rows()).to_string(index=False))
