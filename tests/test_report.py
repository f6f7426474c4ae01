"""The reading layer (primarycare.report): wording rules tested against the numbers, tables, facts."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from primarycare.case.result import ESTIMATE_COLUMNS, CaseResult
from primarycare.report import fmt, rules, tables, words

OUT = "primary_care_visit_share"


def est(rows):
    base = dict.fromkeys(ESTIMATE_COLUMNS, np.nan)
    base.update(outcome=OUT, spec="main analysis", section="main", inference="", warnings="", same_as="",
                interval_basis="none", n_obs=10, n_assignments=0)
    return pd.DataFrame([{**base, **r} for r in rows], columns=ESTIMATE_COLUMNS)


def result(e, simulated=True):
    st = "simulated" if simulated else "observed"
    status = {"any_simulated": simulated, "all_simulated": simulated, "all_observed": not simulated,
              "simulated": 10 * simulated, "observed": 10 * (not simulated),
              "by_outcome": {OUT: {"province_simulated": 5 * simulated, "province_observed": 5 * (not simulated),
                                   "treated_status": st, "donor_status": st, "cross_province": True,
                                   "observed": 0, "simulated": 0}}}
    return CaseResult(config={"case_id": "x", "outcomes": [OUT], "reform_year": 2018}, status=status, estimates=e,
                      meta={"alpha": 0.05, "n_donors": 23})


RI = {"method": "TWFE DiD", "interval_basis": "randomization", "n_assignments": 24}
ES = {"method": "Event study (post average)", "interval_basis": "placebo"}
CS = {"method": "Callaway-Sant'Anna", "same_as": "Event study (post average)"}
SC = {"method": "Synthetic control", "interval_basis": "none"}
SD = {"method": "Synthetic DiD", "interval_basis": "placebo_variance"}


def test_all_reject_needs_every_design_based_test_and_one_sign():
    e = est([{**RI, "estimate": 2.0, "ci_low": 1.0, "ci_high": 3.0, "planted": 2.5},
             {**ES, "estimate": 2.6, "ci_low": 0.5, "ci_high": 4.7, "planted": 2.5},
             {**CS, "estimate": 2.6, "planted": 2.5},
             {**SC, "estimate": 1.5, "p_value": 0.04, "planted": 2.5},
             {**SD, "estimate": 1.7, "ci_low": 0.9, "ci_high": 2.4, "planted": 2.5}])
    v = rules.effect_verdict(e, OUT)
    assert v.code == "all_reject" and v.direction == "increase"
    assert v.n_tests == 4 and "Callaway-Sant'Anna" not in v.counted  # counted once
    assert v.covered == ("TWFE DiD", "Event study (post average)") and v.n_intervals == 3
    t = words.effect(result(e), OUT)
    assert "all 4 methods" in t and "evidence of an increase" in t and "Counted once" in t
    assert "2 of the 3 design-based intervals contain it" in t
    assert "synthetic control 1.50 (placebo p = 0.040; no interval)" in t
    assert "weak" not in t


def test_model_based_intervals_are_never_evidence():
    # CRV1 excludes zero, but it is a detail row and model-based: the verdict ignores it
    e = est([{**RI, "estimate": 0.5, "ci_low": -1.0, "ci_high": 2.0},
             {"method": "TWFE DiD", "section": "detail", "interval_basis": "crv1", "estimate": 0.5,
              "ci_low": 0.4, "ci_high": 0.6},
             {"method": "Event study (post average)", "interval_basis": "crv1", "estimate": 0.6, "ci_low": 0.1,
              "ci_high": 1.1}])
    v = rules.effect_verdict(e, OUT)
    assert v.code == "none_reject" and v.n_tests == 1
    t = words.effect(result(e, simulated=False), OUT)
    assert "no evidence of an effect" in t and "weak" not in t and "simulated" not in t


def test_unbounded_interval_includes_zero_and_some_reject_is_mixed():
    e = est([{**RI, "estimate": 1.0, "ci_low": 0.2, "ci_high": 1.8},
             {**ES, "estimate": 1.2, "ci_low": -math.inf, "ci_high": math.inf}])
    v = rules.effect_verdict(e, OUT)
    assert v.code == "some_reject" and v.n_reject == 1
    assert "1 of 2" in words.effect(result(e), OUT)
    assert fmt.ci(-math.inf, math.inf) == "(−∞, ∞)"


def test_conflict_and_no_inference():
    e = est([{**RI, "estimate": 1.0, "ci_low": 0.2, "ci_high": 1.8},
             {**SD, "estimate": -1.0, "ci_low": -1.8, "ci_high": -0.2}])
    assert rules.effect_verdict(e, OUT).code == "conflict"
    e2 = est([{**SC, "estimate": 1.0}])
    v = rules.effect_verdict(e2, OUT)
    assert v.code == "no_inference"
    assert "nothing can be said" in words.effect(result(e2), OUT)


def test_design_based_interval_shown_in_main_column_model_based_in_secondary():
    e = est([{**RI, "estimate": 1.0, "ci_low": 0.2, "ci_high": 1.8, "p_value": 0.04},
             {"method": "Segmented: level change", "interval_basis": "hac", "estimate": 0.3, "ci_low": 0.1,
              "ci_high": 0.5, "p_value": 0.01},
             {**CS, "estimate": 1.1}])
    t = tables.estimate_table(e, simulated=False)
    assert t.loc[0, "95% interval"] == "[0.200, 1.800]" and t.loc[0, "model-based interval"] == ""
    assert t.loc[1, "95% interval"] == "—" and t.loc[1, "model-based interval"] == "[0.100, 0.500], p = 0.010"
    assert t.loc[1, "p"] == ""  # a model-based p-value is not shown as a main result
    assert t.loc[2, "95% interval"].startswith("same as") and t.loc[2, "p"] == ""
    assert "randomization test (24 assignments)" in t.loc[0, "method"]
    assert "planted" not in t.columns


def pretrend_row(**kw):
    base = {"outcome": OUT, "statistic": 61.4, "p_value": 0.0001, "placebo_p_value": 1.0, "n_assignments": 24,
            "n_treated": 1, "n_leads": 4, "leads_above_zero": 2, "leads_below_zero": 2,
            "leads_band_excludes_zero": 0}
    base.update(kw)
    return base


def test_pretrend_never_reads_a_non_rejection_as_evidence_for_parallel_trends():
    v = rules.pretrend_verdict(pretrend_row())
    assert v.code == "not_reject" and v.which == "placebo" and v.disagree
    r = result(est([]))
    r.tables["pretrend"] = pd.DataFrame([pretrend_row()])
    t = words.pretrend(r, OUT)
    assert "does not reject" in t and "not evidence that the trends were parallel" in t
    assert "CRV1 F-test points the other way (p < 0.001)" in t
    assert "weak evidence for" not in t and "evidence for them" not in t
    r.tables["pretrend"] = pd.DataFrame([pretrend_row(leads_above_zero=4, leads_below_zero=0,
                                                      leads_band_excludes_zero=4)])
    t = words.pretrend(r, OUT)
    assert "All 4 pre-reform coefficients lie above zero" in t and "4 of the 4" in t
    r.tables["pretrend"] = pd.DataFrame([pretrend_row(placebo_p_value=0.04, p_value=0.2)])
    t = words.pretrend(r, OUT)
    assert "rejects parallel pre-trends" in t and rules.pretrend_verdict(pretrend_row(placebo_p_value=0.04)).code == "reject"


def test_pretrend_with_several_treated_uses_the_f_test():
    v = rules.pretrend_verdict(pretrend_row(n_treated=3, p_value=0.01, placebo_p_value=0.5))
    assert v.which == "crv1" and v.code == "reject"


def test_claims_display_folds_rows_that_cannot_be_checked():
    claims = pd.DataFrame({"fact_id": list("abcd"), "year": [2019, 2020, 2021, 2022], "indicator": [OUT] * 4,
                           "reported": [1, 2, 3, 4], "unit": "%", "kind": "reported", "source": "000_x.txt",
                           "geography_level": "province", "geography": "Z",
                           "panel_value": [1.0, np.nan, np.nan, 5.0], "panel_status": ["observed", "", "", "simulated"],
                           "verdict": ["agrees", "nc_year", "nc_year", "nc_simulated"]})
    shown, folded = tables.claims_display(claims, [OUT])
    assert len(shown) == 2 and folded == {"year not in panel": 2}
    assert "cannot be checked because the panel value for the same year is simulated" in words.claims_summary(claims, True)


def test_facts_keep_county_period_direction_conflict_and_reliability():
    from primarycare.data import facts as F

    f = F.load_facts()
    zj = F.for_province(f, "Zhejiang")
    main, rest = tables.facts_tables(zj, ["primary_care_visit_share", "county_internal_visit_rate"])
    allf = pd.concat([main, rest])
    county = allf[allf["Value"] == "93.5"]
    assert len(county) == 1 and county["Where"].iloc[0] == "Changxing 长兴 (county)"
    assert (allf["Where"] == "a county (unnamed)").sum() >= 3  # pay, its growth and turnover
    conflict = allf[allf["Notes"].str.contains("conflicting figures")]
    assert {"91.5", "92.5"} <= set(conflict["Value"])
    assert allf["Notes"].str.contains("January 2011 only").any()
    assert allf["Notes"].str.contains("January–August 2022 cumulative").any()
    assert allf["Notes"].str.contains("source not verifiable").any()
    sh = pd.concat(tables.facts_tables(F.for_province(f, "Shanghai"), [OUT]))
    fall = sh[sh["Figure"].str.contains("omplication", case=False)]
    assert len(fall) == 1 and fall["Value"].iloc[0] == "−11" and "a fall" in fall["Notes"].iloc[0]


def test_compare_sets_reports_beside_the_panel_only_when_observed():
    row = {"from": 2019, "to": 2022, "reported_change": 4.01, "panel_change": -0.1, "panel_status": "simulated"}
    t = words.compare(row, OUT)
    assert "4.01 percentage points" in t and "-0.10" not in t and "are simulated" in t
    row["panel_status"] = "observed"
    assert "-0.10" in words.compare(row, OUT)


def test_units_of_effects_on_shares_are_percentage_points():
    assert fmt.effect_unit(OUT) == "pp" and fmt.effect_unit_words(OUT) == "percentage points"
    assert rules.difference_unit("%") == "pp" and rules.difference_unit("per 1000 residents") == "per 1000 residents"


# ---------------------------------------------------------------- an independent audit of a real run


@pytest.fixture(scope="module")
def zhejiang():
    from primarycare import cases
    from primarycare.case.run import run_case

    return run_case(cases.load_cases()["zhejiang"], n_permutations=20)


NUM = re.compile(r"-?\d+\.\d+")


def test_generated_text_does_not_contradict_the_numbers(zhejiang):
    """Re-derive each verdict from the estimates without the rules module and check the sentences."""
    r = zhejiang
    e = r.estimates
    for o in r.config["outcomes"]:
        text = words.effect(r, o)
        m = e[(e["outcome"] == o) & (e["section"] == "main") & e["method"].isin(rules.CROSS_PROVINCE)]
        m = m[m["same_as"].fillna("") == ""]
        design = m[m["interval_basis"].isin(["randomization", "placebo", "placebo_variance", "conformal"])]
        excl = [(lo > 0) or (hi < 0) for lo, hi in zip(design["ci_low"], design["ci_high"], strict=True)]
        sc_p = m.loc[m["method"] == "Synthetic control", "p_value"]
        tests = excl + [bool(p <= 0.05) for p in sc_p if not math.isnan(p)]
        if "evidence of an increase" in text or "evidence of a decrease" in text:
            assert all(tests) and len(set(np.sign(m["estimate"]))) == 1
        if "no evidence of an effect" in text:
            assert not any(tests)
        assert "weak" not in text
        # every number printed in the estimates list is one of the row's numbers, rounded
        printed = {f"{x:.2f}" for x in pd.concat([m["estimate"], design["ci_low"], design["ci_high"]])}
        listed = text.split("Design-based results:")[1].split(".")[0] if "Design-based results:" in text else ""
        for n in NUM.findall(listed):
            assert n in printed or f"{float(n):.2f}" in printed, (n, listed)
        # the planted count uses only design-based intervals and is right
        mt = re.search(r"(\d+) of the (\d+) design-based intervals contain it", text)
        if mt:
            pl = float(m["planted"].dropna().iloc[0])
            cov = sum(lo <= pl <= hi for lo, hi in zip(design["ci_low"], design["ci_high"], strict=True))
            assert (int(mt.group(1)), int(mt.group(2))) == (cov, len(design))
        # no "interval" for a synthetic control without one
        if (m.loc[m["method"] == "Synthetic control", "interval_basis"] == "none").all():
            sc_text = words.synth(r, o)
            assert "Conformal 95% interval" not in sc_text and not re.search(r"\[[-\d.]+, [-\d.]+\]", sc_text)


def test_at_a_glance_says_simulated_and_matches_verdicts(zhejiang):
    t = words.at_a_glance(zhejiang, "Zhejiang (浙江)", "County medical communities")
    assert "**Simulated data.**" in t
    for o in zhejiang.config["outcomes"]:
        code = rules.effect_verdict(zhejiang.estimates, o).code
        phrase = {"all_reject": "evidence of", "some_reject": "mixed evidence", "none_reject": "no evidence of an effect",
                  "conflict": "conflicting", "no_inference": "no valid interval"}[code]
        line = next(ln for ln in t.splitlines() if ln.startswith("- " + fmt.label(o)))
        assert phrase in line


# --------------------------------------------------------------------------------------------------
# the "SIMULATED DATA" mark of one axes (primer figures) stays off what the figure shows


def _axes_mark(ax):
    from primarycare.report import plots

    plots.stamp(ax)
    (mark,) = [t for t in ax.texts if t.get_text() == "SIMULATED DATA"]
    ax.get_figure().draw_without_rendering()
    return mark


def _covers(mark, ax) -> int:
    from primarycare.report import plots

    renderer = ax.get_figure().canvas.get_renderer()
    box = mark.get_window_extent(renderer).padded(2)
    return sum(int(np.any((p[:, 0] >= box.x0) & (p[:, 0] <= box.x1) & (p[:, 1] >= box.y0) & (p[:, 1] <= box.y1)))
               for p in plots._occupied(ax, renderer))


def test_the_axes_mark_stays_in_the_lower_right_corner_when_it_is_free():
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    ax.plot([0, 1], [0.5, 1])
    mark = _axes_mark(ax)
    assert mark.get_position() == (0.99, 0.02) and (mark.get_ha(), mark.get_va()) == ("right", "bottom")


def test_the_axes_mark_moves_off_lines_that_fill_its_corner():
    """Primer figure 1's shape: two falling series, the lower one ending in the lower right corner."""
    from matplotlib.figure import Figure

    fig = Figure(layout="constrained")
    ax = fig.subplots()
    years = np.arange(2010, 2024)
    ax.plot(years, 67 - 0.8 * (years - 2010), "o-", label="treated")
    ax.plot(years, 60.5 - 1.0 * (years - 2010), "s--", label="comparison")
    ax.axvline(2017.5, color="k")
    fig.legend(loc="outside lower center")
    mark = _axes_mark(ax)
    assert mark.get_position() != (0.99, 0.02)
    # the mark's own text is one of the axes' texts: it covers only itself
    assert _covers(mark, ax) == 1


def test_the_axes_mark_moves_off_bars_and_reference_lines():
    """Primer figure 6's shape: a histogram, the estimate and the planted effect near the right edge."""
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    rng = np.random.default_rng(0)
    ax.hist(np.r_[rng.normal(0, 0.5, 30), 1.7], bins=15, label="placebo estimates")
    ax.axvline(1.84, lw=2, label="actual")
    ax.axvline(2.5, ls="--", label="planted effect")
    ax.legend()
    mark = _axes_mark(ax)
    assert mark.get_position() != (0.99, 0.02)
    assert _covers(mark, ax) == 1


def test_a_full_axes_still_gets_one_mark():
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    ax.fill_between([0, 1], [0, 0], [1, 1])
    ax.bar(np.linspace(0, 1, 30), 1.0, width=0.05)
    mark = _axes_mark(ax)
    assert sum(t.get_text() == "SIMULATED DATA" for t in ax.texts) == 1 and mark.get_visible()
