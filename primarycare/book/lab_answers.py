"""Expected answers of the teachers' lab and problem set, computed by running the primer's code.

The numbers on ``book/teachers/02-lab.md`` and ``book/teachers/03-problems.md`` are never typed: they sit
between ``% computed: NAME`` and ``% end computed: NAME`` comment lines (MyST drops ``%`` lines from
the page) and are written by

    python -m primarycare.book.lab_answers --write

which runs the same calls, with the same settings and seeds, as the primer notebooks. ``--check`` (and
``tests/test_readers.py``) recompute them and fail when a page is stale, for example after a change to
an estimator or to the simulated panel. Answer keys of the problem set are the effects planted in the
simulated panel (:func:`primarycare.case.teaching.teaching_data`: ``.truth`` and ``.att``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..paths import ROOT

TEACHERS = ROOT / "book" / "teachers"
PAGES = {"lab": TEACHERS / "02-lab.md", "problems": TEACHERS / "03-problems.md"}
_BLOCK = re.compile(r"(% computed: (?P<name>[\w-]+)\n)(?P<body>.*?)(% end computed: (?P=name)\n)", re.S)


def _twfe(frame, outcome):
    from .. import did

    return did.twfe(frame, outcome=outcome, unit="province", time="year", treatment="treated")


def _did_2x2(td) -> float:
    df = td.frame
    after = df["year"] >= td.reform_year
    treated = df["first_treated"] > 0
    y = df[td.outcome]
    return float((y[treated & after].mean() - y[treated & ~after].mean())
                 - (y[~treated & after].mean() - y[~treated & ~after].mean()))


def _randomization_p(td, seed: int = 0) -> float:
    from .. import inference

    ri = inference.randomization_test(lambda d: _twfe(d, td.outcome), td.frame, unit="province",
                                      treated_units=[td.province], treatment="treated", seed=seed,
                                      progress=False)
    return float(ri.p_value)


def _pretest_rejection_rate(slope: float, n_draws: int) -> tuple[float, int]:
    """Primer 2's Monte Carlo: share of simulated staggered panels whose joint pre-trend test rejects at 5%."""
    from .. import did, simulate

    rejections = 0
    for seed in range(n_draws):
        p = simulate.simulate_staggered(n_units=40, n_periods=12, cohorts={2016: 0.5}, effect=1.0, seed=seed)
        treated_unit = p["first_treated"] > 0
        p.loc[treated_unit, "y"] += slope * (p.loc[treated_unit, "time"] - 2016)
        r = did.event_study(p, outcome="y", unit="unit", time="time", first_treated="first_treated", window=(-5, 5))
        rejections += r.pretrend["p_value"] < 0.05
    return rejections / n_draws, n_draws


def compute_lab() -> dict[str, Any]:
    """The lab's expected answers: primer chapters 1, 2, 4 and 6 with their default settings and seeds."""
    from .. import did, inference, synth
    from ..case.teaching import teaching_data

    td = teaching_data("zhejiang", outcome="primary_care_visit_share")
    y = td.outcome
    out: dict[str, Any] = {"province": td.province, "reform_year": td.reform_year, "n_donors": len(td.donors),
                           "att": td.att, "did_2x2": _did_2x2(td)}
    fit = _twfe(td.frame, y)
    out["twfe"] = fit.estimate
    # primer 1, "breaking the assumption" with extra_slope = -0.3 (exercise ex-did-2)
    bent = td.frame.copy()
    is_t = bent["first_treated"] > 0
    bent.loc[is_t, y] += -0.3 * (bent.loc[is_t, "year"] - bent["year"].min())
    out["twfe_slope_m03"] = _twfe(bent, y).estimate
    after = bent["year"] >= td.reform_year
    out["predicted_shift_m03"] = -0.3 * (bent.loc[after, "year"].mean() - bent.loc[~after, "year"].mean())
    # primer 2
    es = did.event_study(td.frame, outcome=y, unit="province", time="year", first_treated="first_treated",
                         window=(-5, 5), reference=-1)
    out["pretrend_F"] = float(es.pretrend["statistic"])
    out["pretrend_p"] = float(es.pretrend["p_value"])
    # primer 2, exercise ex-es-1: the Monte Carlo cell with slope = 0 (its 60 panels and seeds)
    out["es_null_reject"], out["es_null_draws"] = _pretest_rejection_rate(slope=0.0, n_draws=60)
    # primer 4
    sc = synth.synthetic_control(td.frame, outcome=y, unit="province", time="year", treated_unit=td.province,
                                 treatment_time=td.reform_year)
    pl = sc.placebo_in_space()
    out.update(sc_att=sc.att, sc_rmspe=sc.pre_rmspe, sc_p=float(pl.p_value), sc_rank=int(pl.rank),
               sc_n=len(pl.ratios))
    for n in (5, 3, 10):  # the "try it" cell's default and the values exercise ex-sc-1 asks for
        small = synth.synthetic_control(td.frame, outcome=y, unit="province", time="year", treated_unit=td.province,
                                        treatment_time=td.reform_year, donors=list(td.donors[:n]))
        out[f"sc{n}_att"], out[f"sc{n}_rmspe"] = small.att, small.pre_rmspe
    # primer 6
    crv = did.twfe(td.frame, outcome=y, unit="province", time="year", treatment="treated", cluster="province")
    out["crv1_p"] = float(crv.p_value)
    out["ri_p"] = _randomization_p(td, seed=0)
    out["ri_min_p"] = 1.0 / (len(td.donors) + 1)  # one reassignment per province: the smallest p it can give
    wb = inference.wild_cluster_bootstrap(td.frame, outcome=y, unit="province", time="year", treatment="treated",
                                          cluster="province", B=999, weights="webb", seed=0)
    out["wild_p"] = float(wb.p_value)
    return out


def compute_problems() -> dict[str, dict[str, Any]]:
    """The problem set's answer keys (planted truth) and the estimates the intended solution code gives."""
    from .. import did
    from ..case.teaching import teaching_data

    out: dict[str, dict[str, Any]] = {}
    sh = teaching_data("shanghai", outcome="primary_care_visit_share")
    out["p1"] = {"province": sh.province, "reform_year": sh.reform_year, "att": sh.att, "did_2x2": _did_2x2(sh),
                 "twfe": _twfe(sh.frame, sh.outcome).estimate}
    ah = teaching_data("anhui", outcome="primary_care_visit_share")
    es = did.event_study(ah.frame, outcome=ah.outcome, unit="province", time="year",
                         first_treated="first_treated", window=(-5, 5), reference=-1)
    tab = es.table
    post = tab[tab["rel_time"] >= 0].copy()
    post["planted"] = post["rel_time"].map(ah.truth.rename(lambda yr: yr - ah.reform_year)).astype(float)
    post["covers"] = (post["ci_low"] <= post["planted"]) & (post["planted"] <= post["ci_high"])
    out["p2"] = {"province": ah.province, "reform_year": ah.reform_year,
                 "rows": post[["rel_time", "estimate", "ci_low", "ci_high", "planted", "covers"]].to_dict("records")}
    cq = teaching_data("chongqing", outcome="primary_care_staff_per_1000")
    out["p3"] = {"province": cq.province, "reform_year": cq.reform_year, "att": cq.att,
                 "twfe": _twfe(cq.frame, cq.outcome).estimate, "ri_p": _randomization_p(cq, seed=0)}
    errors = []
    for seed in range(10):
        d = teaching_data("zhejiang", outcome="primary_care_visit_share", seed=seed)
        errors.append(_twfe(d.frame, d.outcome).estimate - d.att)
    e = np.asarray(errors)
    out["p4"] = {"n": len(e), "mean_error": float(e.mean()), "sd_error": float(e.std(ddof=1)),
                 "min_error": float(e.min()), "max_error": float(e.max())}
    return out


def _f(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}"


def _p(x: float) -> str:
    """A p-value as printed on the pages: three decimals, or "< 0.001"."""
    return "< 0.001" if x < 0.0005 else f"= {x:.3f}"


def _vs_nominal(rate: float, n: int, level: float = 0.05) -> str:
    """How a Monte Carlo rejection rate compares with the test's level, allowing two binomial standard errors."""
    se = (level * (1 - level) / n) ** 0.5
    if abs(rate - level) <= 2 * se:
        return f"close to the test's {level:.0%} level, up to Monte Carlo noise"
    return f"{'above' if rate > level else 'below'} the test's {level:.0%} level by more than Monte Carlo noise"


def _same(a: float, b: float, tol: float = 0.005) -> bool:
    return abs(a - b) < tol


def render(values_lab: dict[str, Any], values_problems: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Markdown for every computed block, by block name."""
    v = values_lab
    lab = "\n".join([
        "| Chapter and cell | What students should get |",
        "|---|---|",
        f"| 1, first cell | {v['province']}, reform year {v['reform_year']}, {v['n_donors']} comparison provinces; "
        f"planted effect {_f(v['att'])} percentage points |",
        f"| 1, two-by-two table | DiD = {_f(v['did_2x2'])} |",
        f"| 1, regression | TWFE estimate {_f(v['twfe'], 3)}"
        + (" (the same as the two-by-two DiD)" if _same(v["twfe"], v["did_2x2"]) else "") + " |",
        f"| 1, exercise ex-did-2 (`extra_slope = -0.3`) | estimate {_f(v['twfe_slope_m03'])}; the estimate moves by "
        f"{_f(v['twfe_slope_m03'] - v['twfe'])}; the printed formula predicts {_f(v['predicted_shift_m03'])} |",
        f"| 2, pre-trend test | F = {_f(v['pretrend_F'])}, p {_p(v['pretrend_p'])} |",
        f"| 2, exercise ex-es-1 (`slope = 0`) | the test rejects in {v['es_null_reject']:.0%} of {v['es_null_draws']} "
        f"panels ({_vs_nominal(v['es_null_reject'], v['es_null_draws'])}) |",
        f"| 4, synthetic control | ATT {_f(v['sc_att'])}, pre-reform RMSPE {_f(v['sc_rmspe'])} |",
        f"| 4, placebos in space | rank {v['sc_rank']} of {v['sc_n']}, p {_p(v['sc_p'])} |",
        *[f"| 4, `n_donors = {n}`{' (exercise ex-sc-1)' if n != 5 else ''} | ATT {_f(v[f'sc{n}_att'])}, "
          f"pre-reform RMSPE {_f(v[f'sc{n}_rmspe'])} |" for n in (5, 3, 10)],
        f"| 6, cluster-robust (CRV1) | p {_p(v['crv1_p'])} (not to be trusted with one treated province) |",
        f"| 6, randomization test | p {_p(v['ri_p'])}; the smallest p it can give here is {_f(v['ri_min_p'], 3)} |",
        f"| 6, wild cluster bootstrap (Webb weights) | p {_p(v['wild_p'])} |",
    ]) + "\n"
    p = values_problems
    p1 = (f"Planted effect (the answer key, `td.att`): **{_f(p['p1']['att'])}** percentage points for "
          f"{p['p1']['province']} from {p['p1']['reform_year']}. The two-by-two DiD gives {_f(p['p1']['did_2x2'])} "
          f"and TWFE {_f(p['p1']['twfe'])}"
          + (": equal, because there is one reform date and the panel is balanced.\n"
             if _same(p["p1"]["did_2x2"], p["p1"]["twfe"]) else ".\n"))
    rows = ["| Years since reform | Estimate | 95% CI | Planted (`td.truth`) | CI covers it |", "|---|---|---|---|---|"]
    for r in p["p2"]["rows"]:
        rows.append(f"| {int(r['rel_time'])} | {_f(r['estimate'])} | {_f(r['ci_low'])} to {_f(r['ci_high'])} | "
                    f"{_f(r['planted'])} | {'yes' if r['covers'] else 'no'} |")
    n_cov = sum(bool(r["covers"]) for r in p["p2"]["rows"])
    p2 = "\n".join(rows) + f"\n\n{n_cov} of {len(p['p2']['rows'])} intervals contain the planted effect.\n"
    p3 = (f"The planted effect on this outcome is **{_f(p['p3']['att'])}** (`td.att`)"
          + (": the simulator planted none. " if _same(p["p3"]["att"], 0.0, 1e-12) else ". ")
          + f"TWFE gives {_f(p['p3']['twfe'], 3)} and the randomization test p {_p(p['p3']['ri_p'])}"
          + ("; the estimate is well within the spread of the placebo estimates, so no effect should be claimed.\n"
             if p["p3"]["ri_p"] > 0.1 else "; the test rejects at the 10% level: compare with the planted effect "
             "before claiming anything.\n"))
    p4 = (f"Over {p['p4']['n']} draws (seeds 0 to {p['p4']['n'] - 1}) the TWFE estimate minus the planted effect has "
          f"mean {_f(p['p4']['mean_error'])} and standard deviation {_f(p['p4']['sd_error'])} (smallest "
          f"{_f(p['p4']['min_error'])}, largest {_f(p['p4']['max_error'])}) percentage points.\n")
    return {"lab": lab, "p1": p1, "p2": p2, "p3": p3, "p4": p4}


def fill(text: str, blocks: dict[str, str]) -> str:
    """``text`` with every ``% computed: NAME`` block's body replaced by ``blocks[NAME]``."""
    def sub(m: re.Match) -> str:
        name = m.group("name")
        return m.group(1) + blocks[name] + m.group(4) if name in blocks else m.group(0)

    return _BLOCK.sub(sub, text)


def blocks_in(text: str) -> dict[str, str]:
    return {m.group("name"): m.group("body") for m in _BLOCK.finditer(text)}


def stale_pages(blocks: dict[str, str]) -> list[Path]:
    return [p for p in PAGES.values() if p.exists() and fill(p.read_text(encoding="utf-8"), blocks)
            != p.read_text(encoding="utf-8")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m primarycare.book.lab_answers", description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="rewrite the computed blocks of the teachers' pages")
    ap.add_argument("--check", action="store_true", help="exit 1 when a page's computed blocks are stale")
    args = ap.parse_args(argv)
    blocks = render(compute_lab(), compute_problems())
    if args.write:
        for p in PAGES.values():
            p.write_text(fill(p.read_text(encoding="utf-8"), blocks), encoding="utf-8")
        print("updated " + ", ".join(str(p.relative_to(ROOT)) for p in PAGES.values()))
        return 0
    stale = stale_pages(blocks)
    if stale:
        print("stale: " + ", ".join(str(p.relative_to(ROOT)) for p in stale)
              + " (run python -m primarycare.book.lab_answers --write)", file=sys.stderr)
        return 1
    print("teachers' pages are current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
