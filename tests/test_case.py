"""Case runner and its text helpers (primarycare.case) on small inputs and on one real case."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from primarycare import cases
from primarycare.case import run as pc

OUT = "primary_care_visit_share"


def est(rows):
    base = {"outcome": OUT, "spec": "main analysis", "section": "main", "se": np.nan, "p_value": np.nan,
            "n_obs": 0, "inference": "", "warnings": "", "planted": np.nan}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_interpretation_agreeing_positive_with_planted():
    e = est([{"method": "TWFE DiD", "estimate": 2.0, "ci_low": 1.0, "ci_high": 3.0, "planted": 2.5},
             {"method": "Callaway-Sant'Anna", "estimate": 2.2, "ci_low": 1.5, "ci_high": 2.4, "planted": 2.5},
             {"method": "Synthetic control", "estimate": 1.8, "ci_low": np.nan, "ci_high": np.nan, "p_value": 0.04,
              "planted": 2.5}])
    t = pc.interpretation(e, OUT, simulated=True)
    assert "all 3 methods point to an increase" in t
    assert "every interval excludes zero" in t
    assert "2.50" in t and "1 of 2 intervals contain it (TWFE DiD)" in t
    assert "not an estimate of the reform's real effect" in t
    assert "0.040" in t  # the synthetic-control p-value


def test_interpretation_weak_and_disagreeing():
    weak = est([{"method": "TWFE DiD", "estimate": -0.5, "ci_low": -1.5, "ci_high": 0.5},
                {"method": "Synthetic control", "estimate": -0.2, "ci_low": np.nan, "ci_high": np.nan}])
    t = pc.interpretation(weak, OUT, simulated=False)
    assert "agree on the sign (a decrease" in t and "1 of 1 intervals include zero" in t and "weak" in t
    assert "simulated" not in t
    mixed = est([{"method": "TWFE DiD", "estimate": 0.5, "ci_low": -1.0, "ci_high": 2.0},
                 {"method": "Synthetic control", "estimate": -0.3, "ci_low": np.nan, "ci_high": np.nan}])
    assert "disagree on the direction" in pc.interpretation(mixed, OUT, simulated=False)
    assert "No average-effect estimate" in pc.interpretation(est([])[:0].reindex(columns=weak.columns), OUT, False)


def test_interpretation_flags_unreliable_se():
    e = est([{"method": "Event study (post average)", "estimate": 1.0, "ci_low": 0.5, "ci_high": 1.5,
              "warnings": "fewer than 2 treated clusters"}])
    assert "unreliable with one reforming province" in pc.interpretation(e, OUT, simulated=False)


def small_panel(status="observed"):
    rows = [("Chongqing", 2019, OUT, 50.72, status), ("Chongqing", 2022, OUT, 60.0, status),
            ("Chongqing", 2021, "gps_per_10000", 2.0, status)]
    return pd.DataFrame(rows, columns=["province", "year", "indicator", "value", "status"]).assign(unit="%", source="t")


def facts_frame():
    return pd.DataFrame([
        {"year": 2019, "indicator": OUT, "value": 50.72, "unit": "%", "kind": "derived", "source": "s"},
        {"year": 2022, "indicator": OUT, "value": 54.73, "unit": "%", "kind": "reported", "source": "s"},
        {"year": 2022, "indicator": "fund_raised", "value": 20, "unit": "亿元", "kind": "reported", "source": "s"},
        {"year": 2025, "indicator": OUT, "value": 70, "unit": "%", "kind": "target", "source": "s"},
    ])


def test_claims_check_verdicts():
    c = cases.load_cases()["chongqing"]
    out = pc.claims_check(facts_frame(), small_panel("observed"), c)
    assert out["verdict"].tolist() == ["agrees", "differs", "not checkable (indicator not in panel)",
                                       "not checkable (year not in panel)"]
    sim = pc.claims_check(facts_frame(), small_panel("simulated"), c)
    assert sim["verdict"].iloc[0] == "not checkable (panel value simulated)"
    assert sim["verdict"].iloc[1] == "not checkable (panel value simulated)"


def test_compare_years_uses_reports():
    c = cases.load_cases()["chongqing"]
    t = pc.compare_years(small_panel(), facts_frame(), c)
    r = t[t["outcome"] == OUT].iloc[0]
    assert math.isclose(r["panel_change"], 60.0 - 50.72) and math.isclose(r["reported_change"], 54.73 - 50.72)


def test_data_status_text():
    status = {"panel_source": "p", "simulated": 10, "observed": 0, "any_simulated": True, "all_simulated": True,
              "by_outcome": {OUT: {"observed": 0, "simulated": 10, "province_observed": 0, "province_simulated": 5}}}
    t = pc.data_status_text(status)
    assert "Every value here is simulated" in t and "not** estimates of the reform's real effect" in t
    status.update(simulated=0, observed=10, any_simulated=False, all_simulated=False)
    assert "All values are observed" in pc.data_status_text(status)


def test_year_text_says_assumed():
    g = cases.load_cases()["guizhou"].to_dict()
    t = pc.year_text(g)
    assert "assumption" in t and "2018" in t


@pytest.fixture(scope="module")
def shanghai_result():
    c = cases.from_parameters("shanghai", "Shanghai", "shanghai_fd_fee", outcomes=[OUT], n_permutations=20)
    return pc.run_case(c)


def test_run_case_real_panel(shanghai_result, tmp_path):
    r = shanghai_result
    assert r.problems == [], r.problems
    main = r.main_estimates()
    for m in ("TWFE DiD", "Event study (post average)", "Callaway-Sant'Anna", "Synthetic control",
              "Segmented: level change"):
        assert m in set(main["method"]), m
    assert r.simulated and main["planted"].notna().any()
    assert {"trends", "donors", "event_study", "synth_gap", "synth_weights", "segmented", "claims"} <= set(r.tables)
    rob = r.estimates[r.estimates["section"] == "robustness"]["spec"]
    assert rob.str.contains("alternative reform year 2019").any() and rob.str.contains("dropping 2020").any()
    assert rob.str.contains("placebo reform year").any() and rob.str.contains("leave out").any()
    r.save(tmp_path)
    back = pc.CaseResult.load(tmp_path)
    pd.testing.assert_frame_equal(back.estimates, r.estimates, check_dtype=False)
    assert back.config == r.config and set(back.tables) == set(r.tables)
    assert (tmp_path / "estimates.csv").exists()


def test_analysis_frame_treatment():
    c = cases.load_cases()["zhejiang"]
    wide = pd.DataFrame({"province": ["Zhejiang"] * 3 + ["Beijing"] * 3, "year": [2017, 2018, 2019] * 2, OUT: 1.0})
    df = pc.analysis_frame(wide, c)
    z = df[df["province"] == "Zhejiang"]
    assert z["treated"].tolist() == [0, 1, 1] and set(df.loc[df["province"] == "Beijing", "treated"]) == {0}
    assert set(z["first_treated"]) == {2018} and set(df.loc[df["province"] == "Beijing", "first_treated"]) == {0}


def test_missing_saved_result(tmp_path):
    from primarycare.errors import UserInputError

    with pytest.raises(UserInputError, match="No saved case result"):
        pc.CaseResult.load(tmp_path / "nothing")


def test_figures_carry_the_simulated_stamp(shanghai_result):
    from primarycare import plots

    r = shanghai_result
    figs = [plots.trends(r.tables["trends"], OUT, 2018, r.tables.get("facts"), simulated=True),
            plots.event_study(r.tables["event_study"], OUT, r.tables["planted"], 2018, simulated=True),
            plots.synth_gap(r.tables["synth_gap"], OUT, "Shanghai", 2018, simulated=True),
            plots.segmented(r.tables["segmented"], OUT, 2018, simulated=True),
            plots.forest(r.main_estimates().assign(label=lambda d: d["method"]), simulated=True)]
    for f in figs:
        assert any(t.get_text() == plots.STAMP for t in f.texts)
    plain = plots.trends(r.tables["trends"], OUT, 2018, simulated=False)
    assert not any(t.get_text() == plots.STAMP for t in plain.texts)


# ---------------------------------------------------------------- chapter text and tables (readability pass)


def test_interpretation_judges_on_design_based_intervals_with_one_treated_province():
    e = est([{"method": "TWFE DiD", "estimate": 2.0, "ci_low": -0.5, "ci_high": 4.0, "p_value": 0.2,
              "inference": "randomization test (placebo in space)"},
             {"method": "Event study (post average)", "estimate": 2.1, "ci_low": 1.9, "ci_high": 2.3,
              "warnings": "fewer than 2 treated clusters"}])
    t = pc.interpretation(e, OUT, simulated=False)
    assert "1 of 1 design-based intervals include zero" in t and "weak" in t
    assert "randomization-test p-value of the TWFE estimate is 0.200" in t
    assert "does not rely on them" in t


def test_pretrend_text_relies_on_placebo_with_one_treated_province():
    row = {"statistic": 54.6, "p_value": 1e-11, "placebo_p_value": 0.1667, "n_assignments": 24, "n_treated": 1}
    t = pc.pretrend_text(row, "Share")
    assert "placebo p-value 0.167" in t and "CRV1 F-test p-value 0.000" in t
    assert "no evidence against parallel pre-trends" in t
    t2 = pc.pretrend_text({**row, "n_treated": 3}, "Share")
    assert "evidence of diverging pre-trends" in t2
    assert "{doc}`/primer/06_one_treated_province`" in pc.pretrend_note(1)


def test_facts_tables_put_outcome_figures_first_and_print_values():
    f = pd.DataFrame({
        "indicator": ["fund_raised", "primary_care_visit_share", "primary_care_visit_share_change",
                      "family_doctor_teams", "primary_care_visit_share"],
        "year": [2023, 2022, 2022, np.nan, 2019], "value": [20.0, 54.73, 4.01, 8711.0, 50.72],
        "qualifier": ["more_than", np.nan, np.nan, np.nan, np.nan], "unit": ["亿元", "%", "percentage points", "个", "%"],
        "kind": ["reported", "reported", "reported", "reported", "derived"],
        "source": ["000_ab11b8548eff36b6.txt"] * 4 + ["public_figures.md"]})
    main, rest = pc.facts_tables(f, [OUT])
    assert list(main.columns) == ["Figure", "Value", "Unit", "Year", "Kind", "Source"]
    assert main["Figure"].iloc[0] == "Primary-care share of visits" and main["Year"].tolist()[:3] == ["2019", "2022", "2022"]
    assert "Change in primary-care share of visits" in main["Figure"].iloc[2]
    assert main["Value"].tolist()[:2] == ["50.72", "54.73"] and "8711" in main["Value"].tolist()
    assert main.loc[main["Value"] == "8711", "Year"].iloc[0] == "—"
    assert rest["Value"].tolist() == ["more than 20"] and rest["Source"].tolist() == ["seed 000"]
    assert not main["Figure"].str.contains("_").any()


def test_link_glossary_links_first_use_once_per_page():
    seen: set = set()
    t = pc.link_glossary("Tight county medical communities and county medical communities; `fund pools`", seen)
    assert t.startswith("{term}`Tight county medical communities <紧密型县域医共体>`")
    assert "{term}`county medical communities <医共体>`" in t and "`fund pools`" in t and "资金池" not in seen
    again = pc.link_glossary("village clinics and county medical communities", seen)
    assert again == "{term}`village clinics <村卫生室>` and county medical communities"


def test_short_inference_labels_and_weights_table():
    assert pc.short_inference("CRV1 by province (24 clusters, ssc nonnested), t(23)") == "CRV1, 24 clusters"
    assert pc.short_inference("randomization test (placebo in space)", 24) == "randomization (24 assignments)"
    assert pc.short_inference("analytic influence function (with ...)") == "analytic IF"
    note = pc.inference_note([("CRV1, 24 clusters", "x"), ("analytic IF", "y")])
    assert "Conley and Taber" in note and "Callaway and Sant'Anna" in note
    w = pd.DataFrame({"donor": ["A", "B", "C", "A", "B", "C"], "weight": [0.7, 0.3, 0.0, 0.0, 0.4, 0.6],
                      "outcome": ["o1"] * 3 + ["o2"] * 3})
    wt = pc.weights_table(w, {"o1": "One", "o2": "Two"})
    assert list(wt.columns) == ["comparison province", "One", "Two"]
    assert wt["comparison province"].tolist() == ["A", "C", "B"]
    assert math.isnan(wt.loc[0, "Two"]) and wt.loc[0, "One"] == 0.7


def robustness_estimates():
    base = {"section": "robustness", "se": np.nan, "n_obs": 0, "inference": "", "warnings": ""}
    rows = [("TWFE DiD", "placebo reform year 2015 (pre-period only)", -0.7633, -0.99, -0.53, 4e-7, 0.0),
            ("TWFE DiD", "alternative reform year 2019", 3.2127, 2.985, 3.44, 0.0123, 4.2),
            ("TWFE DiD", "dropping 2020", 5.07, 4.81, 5.33, 0.2, 5.25),
            ("Synthetic control", "leave out Beijing", 4.648, np.nan, np.nan, np.nan, 5.25),
            ("Synthetic control", "leave out Gansu", 4.166, np.nan, np.nan, np.nan, 5.25),
            ("Synthetic control", "leave out Qinghai", 4.861, np.nan, np.nan, np.nan, 5.25),
            ("Synthetic control", "placebo in time: reform moved to 2017", -0.164, np.nan, np.nan, np.nan, 0.0)]
    e = pd.DataFrame([{**base, "outcome": OUT, "method": m, "spec": s, "estimate": est_, "ci_low": lo, "ci_high": hi,
                       "p_value": p, "planted": pl} for m, s, est_, lo, hi, p, pl in rows])
    main = est([{"method": "TWFE DiD", "estimate": 1.0, "ci_low": 0.0, "ci_high": 2.0}])
    return pd.concat([main, e, e.assign(outcome="gps_per_10000")], ignore_index=True)


def test_robustness_views_are_compact_and_keep_every_loo_estimate():
    e = robustness_estimates()
    views = pc.robustness_views(e, {OUT: "Visits share"}, simulated=True)
    assert [v.outcome for v in views] == [OUT, "gps_per_10000"]  # one table per outcome, main rows left out
    v = views[0]
    assert v.label == "Visits share" and views[1].label == "gps_per_10000"
    assert list(v.table.columns) == ["check", "method", "estimate", "95% CI", "p", "planted"]
    assert v.table["check"].tolist() == ["placebo year 2015", "reform year 2019", "drop 2020",
                                         "leave one donor out (3 donors)", "placebo in time 2017"]
    loo = v.table.iloc[3]
    assert loo["estimate"] == "4.166 to 4.861" and loo["95% CI"] == "—" and loo["planted"] == "5.250"
    assert v.table.iloc[0][["estimate", "95% CI", "p"]].tolist() == ["-0.763", "[-0.990, -0.530]", "<0.001"]
    assert v.table.iloc[1]["p"] == "0.012"
    assert v.loo.to_dict("list") == {"donor left out": ["Beijing", "Gansu", "Qinghai"],
                                     "estimate": ["4.648", "4.166", "4.861"]}
    assert "planted" not in pc.robustness_views(e, simulated=False)[0].table.columns
    assert pc.robustness_views(e[e["section"] == "main"]) == []


def test_robustness_html_groups_by_method_marks_simulated_and_collapses_loo():
    e = robustness_estimates()
    h = pc.robustness_html(e, {OUT: "Visits share"}, simulated=True)
    assert h.count("<table class='pc-table pc-robustness'>") == 2
    assert h.count("SIMULATED DATA") == 4  # each table caption and each collapsed list
    assert "<th>method</th>" not in h and "scope='colgroup'>TWFE DiD<" in h and ">Synthetic control<" in h
    first = h.split("</details>")[0]
    assert first.index("placebo year 2015") < first.index("<details") < first.index("Qinghai")
    assert "leave out" not in first.split("<details")[0]  # donors only in the collapsed list
    assert "observed data" in pc.robustness_html(e, simulated=False) and "SIMULATED" not in pc.robustness_html(
        e, simulated=False)
    assert pc.robustness_html(e[e["section"] == "main"]) == ""


def test_short_check_and_ci_text():
    assert pc.short_check("placebo in time: reform moved to 2017") == "placebo in time 2017"
    assert pc.short_check("leave out Inner Mongolia") == "leave out Inner Mongolia"
    assert pc.short_check("something new") == "something new"
    assert pc.ci_text(1, np.nan) == "—" and pc.ci_text(-1.23456, 2, 2) == "[-1.23, 2.00]"
    assert pc.p_text(None) == "—" and pc.p_text(0.0004) == "<0.001" and pc.p_text(0.5) == "0.500"


def test_compact_estimate_tables_group_by_outcome_with_one_ci_column():
    e = est([{"method": "TWFE DiD", "estimate": 1.23456, "ci_low": 0.5, "ci_high": 2.0, "p_value": 0.0001,
              "planted": 1.5, "inference": "randomization test (placebo in space)"},
             {"method": "Segmented: level change", "estimate": -0.5, "ci_low": -1.0, "ci_high": 0.0, "p_value": 0.2,
              "planted": 0.0, "inference": "OLS, Newey-West HAC se (2 lags), t(10)"}])
    t = pc.estimate_table(e, {OUT: "Visits share"}, simulated=True, n_assignments={OUT: 24}, with_inference=True)
    assert list(t.columns) == ["outcome", "method", "estimate", "95% CI", "p", "planted"]
    assert t.iloc[0].tolist() == ["Visits share", "TWFE DiD\nrandomization (24 assignments)", "1.235",
                                  "[0.500, 2.000]", "<0.001", "1.500"]
    assert t.iloc[1]["method"] == "level change\nNewey-West HAC"
    assert "planted" not in pc.estimate_table(e, simulated=False).columns
    h = pc.did_html(e, {OUT: "Visits share"}, simulated=True, n_assignments={OUT: 24})
    assert h.count("scope='colgroup'>Visits share<") == 1 and "<th>outcome</th>" not in h
    assert "<th>95% CI</th>" in h and "<th>se</th>" not in h and "SIMULATED DATA" in h
    assert "TWFE DiD<span class='pc-sub'>randomization (24 assignments)</span>" in h
    p = pc.planted_html(e, {OUT: "Visits share"})
    assert "95% CI" not in p and "<th>planted</th>" in p and ">level change<" in p
    s = pc.segmented_html(e, OUT, "Visits share", simulated=False)
    assert "<th>term</th>" in s and "TWFE" not in s and "observed data" in s and "planted" not in s
    assert pc.segmented_html(e, "gps_per_10000", "GPs") == "" and pc.did_html(e.iloc[:0]) == ""


def test_compare_html_puts_panel_and_reports_on_two_rows():
    cmp_ = pd.DataFrame({"outcome": [OUT, "gps_per_10000"], "from": [2019, 2019], "to": [2022, 2022],
                         "panel_from": [51.2967, 2.3], "panel_to": [54.15, 2.79], "panel_change": [2.8565, 0.49],
                         "panel_status": ["simulated", "simulated"], "reported_from": [50.72, np.nan],
                         "reported_to": [54.73, np.nan], "reported_change": [4.01, np.nan]})
    h = pc.compare_html(cmp_, {OUT: "Visits share"})
    assert "Change 2019 to 2022" in h and "SIMULATED DATA" in h and "<th>2019</th><th>change</th>" not in h
    assert "<td>panel (simulated)</td><td>51.30</td><td>54.15</td><td>2.86</td>" in h
    assert "<td>reported</td><td>50.72</td><td>54.73</td><td>4.01</td>" in h
    assert "<td>reported</td><td>—</td><td>—</td><td>—</td>" in h and h.count("pc-group") == 2
    assert pc.compare_html(cmp_.iloc[:0]) == ""


def test_short_method():
    assert pc.short_method("Segmented: effect in 2023") == "effect in 2023"
    assert pc.short_method("Event study (post average)") == "event study (post avg.)"
    assert pc.short_method("TWFE DiD") == "TWFE DiD" and pc.short_method("new") == "new"
