"""Benchmark the estimators against their peers and print a table (task, seconds, peer seconds, ratio).

Usage: ``python -m primarycare bench`` (or ``python scripts/benchmark.py``), ``--quick`` for a short run.
The peers are test dependencies: ``pip install -r requirements-dev.txt`` first.

Tasks (all on simulated panels from ``primarycare.simulate.simulate_staggered``; simulation settings,
not data):

* 10,000 placebo reassignments of four staggered provincial reforms with TWFE on a 31 x 14 panel,
  with the estimator passed three ways (a function calling ``did.twfe`` with keyword arguments,
  ``functools.partial``, a lambda). pyfixest has no permutation routine, so its time is for refitting
  ``pf.feols`` on permuted data: a subsample of refits is timed and extrapolated (the table says so).
* Event study on a 2,800 x 15 county panel, three methods, against pyfixest's equivalent (``feols`` with
  ``i()`` leads/lags, the saturated Sun-Abraham event study, ``did2s``).
* Synthetic-control rows from :mod:`primarycare.bench.synth_rows` against pysyncon.
* County scale (:mod:`primarycare.bench.county`): 2,800 simulated counties x 15 years with 9 treated
  counties, Callaway-Sant'Anna (peer: moderndid), the three event studies (peer: pyfixest), 1,000
  randomization reassignments (peer: pyfixest refits, extrapolated) and a synthetic control per treated
  county, with an end-to-end row that prints peak memory (targets: under 30 s and 2 GB).

* Building the book (:mod:`primarycare.bench.build_rows`): a clean full build of both editions, a rebuild
  with nothing changed and one case chapter, in a temporary copy of the repository, against the speed
  targets (clean build under 60 s on 2 cores, one chapter at most 8 s). Printed as a second table.

``--only placebo,event,county,synth,book`` runs a subset (the default runs all).

``ratio`` = peer seconds / primarycare seconds (above 1: primarycare is faster); the peer is pyfixest
unless the row's footnote names another (pysyncon for synthetic control, moderndid for
Callaway-Sant'Anna). BLAS runs single-threaded for both sides unless
OPENBLAS_NUM_THREADS is set. Timings depend on the
machine and its load; pyfixest's first call includes JIT compilation, so it is warmed up first.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
import warnings

# single-threaded BLAS for both sides unless the caller says otherwise: on a shared 2-core machine
# multithreaded OpenBLAS contends with itself and the timings become noise (set before numpy loads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..data.simulate import simulate_staggered  # noqa: E402
from ..methods import did, inference  # noqa: E402

REFORMS = {2014: 1 / 31, 2016: 1 / 31, 2018: 1 / 31, 2020: 1 / 31}


def _timed(f) -> tuple[float, object]:
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def placebo_rows(n_perm: int, n_pf: int) -> list[dict]:
    df = simulate_staggered(n_units=31, n_periods=14, cohorts=REFORMS, effect=0.5, seed=1)
    treated = sorted(df.loc[df.treated == 1, "unit"].unique())

    def with_kwargs(d):
        return did.twfe(data=d, outcome="y", unit="unit", time="time", treatment="treated", cluster="unit")

    ways = {
        "did.twfe with kwargs": with_kwargs,
        "functools.partial": functools.partial(did.twfe, outcome="y", unit="unit", time="time",
                                               treatment="treated", cluster="unit"),
        "lambda": lambda d: did.twfe(d, "y", "unit", "time", "treated", cluster="unit"),
    }
    pf_s = _pyfixest_refits(df, treated, n_perm, n_pf)
    rows = []
    for label, est in ways.items():
        sec, res = _timed(lambda est=est: inference.randomization_test(
            est, df, "unit", treated, "treated", n_permutations=n_perm, seed=0, ci=False))
        rows.append({"task": f"{n_perm:,} placebo reassignments, 4 staggered reforms, TWFE 31x14 ({label})",
                     "primarycare_s": sec, "pyfixest_s": pf_s,
                     "note": f"fast kernel={res.fast}; pyfixest: {n_pf} refits timed, x{n_perm / n_pf:g}"})
    sec, _ = _timed(lambda: inference.randomization_test(ways["lambda"], df, "unit", treated, "treated",
                                                         n_permutations=n_perm, seed=0))
    rows.append({"task": "  same, lambda, with CI by test inversion", "primarycare_s": sec,
                 "pyfixest_s": float("nan"), "note": "pyfixest: no equivalent"})
    return rows


def _pyfixest_refits(df: pd.DataFrame, treated: list, n_perm: int, n_pf: int) -> float:
    """Seconds pyfixest would take for ``n_perm`` placebo reassignments: ``n_pf`` refits of ``feols`` on
    permuted treatment paths are timed (after a warm-up for its JIT) and extrapolated. Shared with the
    county benchmark (:mod:`primarycare.bench.county`)."""
    try:
        import pyfixest as pf
    except ImportError:
        return float("nan")
    rng = np.random.default_rng(0)
    units = np.sort(df.unit.unique())
    paths = df.pivot(index="unit", columns="time", values="treated").loc[treated].to_numpy()
    padded = np.vstack([paths, np.zeros(paths.shape[1])])
    tcode = pd.Index(np.sort(df.time.unique())).get_indexer(df.time)
    ucode = pd.Index(units).get_indexer(df.unit)
    pf.feols("y ~ treated | unit + time", df, vcov={"CRV1": "unit"})  # warm-up (JIT)
    t = time.perf_counter()
    for _ in range(n_pf):
        pos = np.full(len(units), len(treated))
        pos[rng.permutation(len(units))[: len(treated)]] = np.arange(len(treated))
        d = df.copy()
        d["treated"] = padded[pos[ucode], tcode]
        pf.feols("y ~ treated | unit + time", d, vcov={"CRV1": "unit"}).coef()
    return (time.perf_counter() - t) * n_perm / n_pf


def event_study_rows(n_units: int) -> list[dict]:
    df = simulate_staggered(n_units=n_units, n_periods=15, n_cohorts=4, effect=1.0, dynamic=0.1, seed=2)
    try:
        import pyfixest as pf
    except ImportError:
        pf = None
    d2 = df.copy()
    d2["rel"] = np.where(d2.first_treated > 0, d2.time - d2.first_treated, -1).clip(-5, 5)
    d2["relpost"] = np.where(d2.treated == 1, (d2.time - d2.first_treated).clip(upper=5), -1)
    pf_calls = {
        "twfe": lambda: pf.feols("y ~ i(rel, ref=-1) | unit + time", d2, vcov={"CRV1": "unit"}).coef(),
        "sun_abraham": lambda: pf.event_study(d2, yname="y", idname="unit", tname="time",
                                              gname="first_treated", estimator="saturated").aggregate(),
        "imputation": lambda: pf.did2s(d2, yname="y", first_stage="~ 0 | unit + time",
                                       second_stage="~ i(relpost, ref=-1)", treatment="treated",
                                       cluster="unit").coef(),
    }
    rows = []
    for method, pf_call in pf_calls.items():
        did.event_study(df, "y", "unit", "time", "first_treated", method=method)  # warm-up
        sec, _ = _timed(lambda method=method: did.event_study(df, "y", "unit", "time", "first_treated",
                                                              method=method))
        pf_s = float("nan")
        if pf is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pf_call()
                pf_s, _ = _timed(pf_call)
        rows.append({"task": f"event study ({method}) on {n_units:,} x 15 county panel", "primarycare_s": sec,
                     "pyfixest_s": pf_s, "note": ""})
    return rows


def synth_rows(quick: bool) -> list[dict]:
    from . import synth_rows as mod

    return list(mod.rows())  # one size: the pysyncon side is the slow part either way


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="primarycare bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer placebo draws and pyfixest refits")
    ap.add_argument("--only", default="placebo,event,county,synth,book",
                    help="comma-separated subset of: placebo, event, county, synth, book")
    args = ap.parse_args(argv)
    n_perm, n_pf = (1_000, 20) if args.quick else (10_000, 200)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - {"placebo", "event", "county", "synth", "book"}
    if unknown:
        ap.error(f"--only: unknown part(s) {sorted(unknown)}")
    rows: list[dict] = []
    if "county" in only:  # first, so the process's maximum resident set size is this task's own
        from . import county

        rows += county.rows()
    if "placebo" in only:
        rows += placebo_rows(n_perm, n_pf)
    if "event" in only:
        rows += event_study_rows(2_800)
    if "synth" in only:
        rows += synth_rows(args.quick)
    if rows:
        _print_peer_table(rows)
    if "book" in only:
        from . import build_rows

        book = pd.DataFrame(build_rows.rows())
        book["met"] = np.where(book["target_s"].isna(), "", np.where(book["seconds"] <= book["target_s"], "yes", "no"))
        if rows:
            print()
        with pd.option_context("display.max_colwidth", 90, "display.width", 250):
            print(book.to_string(index=False, float_format=lambda x: f"{x:.1f}", na_rep=""))
    flags = (" --quick" if args.quick else "") + (
        f" --only {args.only}" if args.only != ap.get_default("only") else "")
    print(f"\ncommand: python -m primarycare bench{flags}  (simulated panels; ratio = peer / primarycare; "
          f"{os.cpu_count()} cores)")
    return 0


def _print_peer_table(rows: list[dict]) -> None:
    """The estimator rows: task, seconds, the peer's seconds and their ratio, long notes as footnotes."""
    tab = pd.DataFrame(rows)
    # one peer column: pyfixest for the placebo and event-study rows; other rows name their peer
    # (pysyncon, moderndid) in their note
    pyf = tab["pyfixest_s"] if "pyfixest_s" in tab else pd.Series(np.nan, index=tab.index)
    tab["peer_s"] = pyf.fillna(tab["peer_s"]) if "peer_s" in tab else pyf
    tab["ratio"] = tab["peer_s"] / tab["primarycare_s"]
    # The long notes go below the table as numbered footnotes, so the table stays narrow.
    notes = tab.get("note", pd.Series("", index=tab.index)).fillna("").astype(str)
    marks, footnotes = [], []
    for note in notes:
        if note and note not in footnotes:
            footnotes.append(note)
        marks.append(f"[{footnotes.index(note) + 1}]" if note else "")
    tab["task"] = [f"{t} {m}".strip() for t, m in zip(tab["task"], marks, strict=True)]
    cols = ["task", "primarycare_s", "peer_s", "ratio"]
    with pd.option_context("display.max_colwidth", 90, "display.width", 250):
        print(tab.reindex(columns=cols).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if footnotes:
        print()
        for k, note in enumerate(footnotes, 1):
            print(f"[{k}] {note}")


