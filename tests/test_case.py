"""The case run (primarycare.case): numbers only, data-status gating, claims verdict codes, saving."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from primarycare import cases
from primarycare.case import run as pc
from primarycare.case.result import ESTIMATE_COLUMNS, CaseResult
from primarycare.case.status import check_no_switch, data_status
from primarycare.errors import UserInputError

OUT = "primary_care_visit_share"


def small_panel(status="observed"):
    rows = [("Chongqing", 2019, OUT, 50.72, status), ("Chongqing", 2022, OUT, 60.0, status),
            ("Chongqing", 2021, "gps_per_10000", 2.0, status)]
    return pd.DataFrame(rows, columns=["province", "year", "indicator", "value", "status"]).assign(unit="%", source="t")


def facts_frame():
    base = {"geography_level": "province", "geography": "Chongqing", "source": "s"}
    return pd.DataFrame([
        {**base, "year": 2019, "indicator": OUT, "value": 50.72, "unit": "%", "kind": "derived"},
        {**base, "year": 2022, "indicator": OUT, "value": 54.73, "unit": "%", "kind": "reported"},
        {**base, "year": 2022, "indicator": "fund_raised", "value": 20, "unit": "亿元", "kind": "reported"},
        {**base, "year": 2025, "indicator": OUT, "value": 70, "unit": "%", "kind": "target"},
        {**base, "year": 2022, "indicator": OUT, "value": 93.5, "unit": "%", "kind": "reported",
         "geography_level": "county", "geography": "Changxing 长兴"},
    ])


def test_claims_check_verdict_codes():
    c = cases.load_cases()["chongqing"]
    out = pc.claims_check(facts_frame(), small_panel("observed"), c)
    assert out["verdict"].tolist() == ["agrees", "differs", "nc_no_series", "nc_year", "nc_geography"]
    sim = pc.claims_check(facts_frame(), small_panel("simulated"), c)
    assert sim["verdict"].tolist()[:2] == ["nc_simulated", "nc_simulated"]
    # a county's figure is never checked against the province's series, whatever its value
    assert sim["verdict"].iloc[-1] == "nc_geography"


def test_compare_years_keeps_status_and_ignores_county_figures():
    c = cases.load_cases()["chongqing"]
    t = pc.compare_years(small_panel(), facts_frame(), c)
    r = t[t["outcome"] == OUT].iloc[0]
    assert math.isclose(r["panel_change"], 60.0 - 50.72) and math.isclose(r["reported_change"], 54.73 - 50.72)
    assert r["panel_status"] == "observed"
    assert pc.compare_years(small_panel("simulated"), facts_frame(), c)["panel_status"].iloc[0] == "simulated"


def _panel_for(case, status_of):
    """A tidy panel over the case's provinces and window, with status chosen per (province, year)."""
    rows = []
    for p in [case.province, *case.donors]:
        for y in range(case.window[0], case.window[1] + 1):
            for o in case.outcomes:
                rows.append((p, y, o, 1.0, status_of(p, y), "%", "t"))
    return pd.DataFrame(rows, columns=["province", "year", "indicator", "value", "status", "unit", "source"])


def test_a_series_switching_between_observed_and_simulated_is_refused():
    c = cases.load_cases()["zhejiang"]
    panel = _panel_for(c, lambda p, y: "observed" if (p == "Zhejiang" and y >= 2015) else "simulated")
    with pytest.raises(UserInputError, match=r"Zhejiang switches between observed and simulated.*2015-2023.*2010-2014"):
        check_no_switch(panel, c, "my.csv")


def test_data_status_allows_cross_province_methods_only_within_one_status():
    c = cases.load_cases()["zhejiang"]
    only_treated = _panel_for(c, lambda p, y: "observed" if p == "Zhejiang" else "simulated")
    st = data_status(only_treated, c)
    v = st["by_outcome"][OUT]
    assert (v["treated_status"], v["donor_status"], v["cross_province"]) == ("observed", "simulated", False)
    assert st["any_simulated"] and not st["all_simulated"] and not st["all_observed"]
    all_obs = data_status(_panel_for(c, lambda p, y: "observed"), c)
    assert all_obs["all_observed"] and all_obs["by_outcome"][OUT]["cross_province"]
    all_sim = data_status(_panel_for(c, lambda p, y: "simulated"), c)
    assert all_sim["all_simulated"] and all_sim["by_outcome"][OUT]["cross_province"]


@pytest.fixture(scope="module")
def shanghai_result():
    c = cases.from_parameters("shanghai", "Shanghai", "shanghai_fd_fee", outcomes=[OUT], n_permutations=20)
    return pc.run_case(c)


def test_run_case_real_panel(shanghai_result, tmp_path):
    r = shanghai_result
    assert r.problems == [], r.problems
    assert list(r.estimates.columns) == ESTIMATE_COLUMNS
    main = r.main_estimates()
    for m in ("TWFE DiD", "Event study (post average)", "Callaway-Sant'Anna", "Synthetic control",
              "Synthetic DiD", "Segmented: level change"):
        assert m in set(main["method"]), m
    assert r.simulated and main["planted"].notna().all()
    assert {"trends", "donors", "event_study", "synth_gap", "synth_weights", "segmented", "claims",
            "pretrend", "position"} <= set(r.tables)
    # every main interval of a cross-province method is design-based or absent (the reading rule)
    cross = main[main["method"].isin(pc.CROSS_PROVINCE_METHODS)]
    assert set(cross["interval_basis"]) <= set(pc.DESIGN_BASED) | {"none"}
    # CRV1 lives only in detail rows
    assert set(r.estimates.loc[r.estimates["interval_basis"] == "crv1", "section"]) <= {"detail"}
    rob = r.estimates[r.estimates["section"] == "robustness"]
    twfe_rob = rob[rob["method"] == "TWFE DiD"]
    assert (twfe_rob["interval_basis"] == "randomization").all() and twfe_rob["ci_low"].notna().all()
    specs = rob["spec"]
    assert specs.str.startswith("reform_year:").any() and (specs == "drop_year:2020").any()
    assert specs.str.startswith("placebo_year:").any() and specs.str.startswith("leave_out:").any()
    r.save(tmp_path)
    back = CaseResult.load(tmp_path)
    pd.testing.assert_frame_equal(back.estimates, r.estimates, check_dtype=False)
    assert back.config == r.config and set(back.tables) == set(r.tables)
    assert (tmp_path / "estimates.csv").exists()


def test_event_study_and_callaway_santanna_coincide_and_are_marked(shanghai_result):
    e = shanghai_result.main_estimates()
    es = e[e["method"] == "Event study (post average)"].iloc[0]
    cs = e[e["method"] == "Callaway-Sant'Anna"].iloc[0]
    assert math.isclose(es["estimate"], cs["estimate"], rel_tol=1e-8)
    assert cs["same_as"] == "Event study (post average)" and math.isnan(cs["ci_low"])


def test_event_study_bands_are_placebo_bands(shanghai_result):
    es = shanghai_result.tables["event_study"]
    row = es[es["rel_time"] == 0].iloc[0]
    assert row["band_low"] <= row["estimate"] <= row["band_high"]
    # the band is symmetric: estimate +/- a placebo order statistic
    assert math.isclose(row["estimate"] - row["band_low"], row["band_high"] - row["estimate"], rel_tol=1e-9)


def test_observed_outcome_has_no_planted_effect_and_skips_cross_province_methods(monkeypatch):
    c = cases.from_parameters("zhejiang", "Zhejiang", "zhejiang_ccmc", outcomes=[OUT], n_permutations=10)
    rng = np.random.default_rng(0)
    panel = _panel_for(c, lambda p, y: "observed" if p == "Zhejiang" else "simulated")
    panel["value"] = 50 + rng.normal(size=len(panel))
    r = pc.run_case(c, panel=panel)
    methods = set(r.estimates["method"])
    assert not methods & set(pc.CROSS_PROVINCE_METHODS)
    assert any(m.startswith("Segmented") for m in methods)
    assert r.estimates["planted"].isna().all()
    assert r.meta["skipped"] == [{"outcome": OUT, "treated_status": "observed", "donor_status": "simulated"}]


def test_analysis_frame_treatment():
    c = cases.load_cases()["zhejiang"]
    wide = pd.DataFrame({"province": ["Zhejiang"] * 3 + ["Beijing"] * 3, "year": [2017, 2018, 2019] * 2, OUT: 1.0})
    df = pc.analysis_frame(wide, c)
    z = df[df["province"] == "Zhejiang"]
    assert z["treated"].tolist() == [0, 1, 1] and set(df.loc[df["province"] == "Beijing", "treated"]) == {0}
    assert set(z["first_treated"]) == {2018} and set(df.loc[df["province"] == "Beijing", "first_treated"]) == {0}


def test_missing_saved_result(tmp_path):
    with pytest.raises(UserInputError, match="No saved case result"):
        CaseResult.load(tmp_path / "nothing")


def test_figures_carry_the_simulated_stamp_only_when_simulated(shanghai_result):
    from primarycare.report import plots

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
    seg = plots.segmented(r.tables["segmented"], OUT, 2018, simulated=True)
    legend = [t.get_text() for t in seg.axes[0].get_legend().get_texts()]
    assert "Simulated series" in legend and not any("Observed" in t for t in legend)
    es = plots.event_study(r.tables["event_study"], OUT, None, 2018, simulated=True)
    assert es.axes[0].get_ylabel() == "Effect (pp)"


def test_synth_placebo_plot_leaves_out_poor_fits(shanghai_result):
    from primarycare.report import plots

    g = shanghai_result.tables["synth_gap"]
    st = shanghai_result.tables["synth_stats"].iloc[0]
    pl = g[g["placebo"].astype(bool)]
    assert pl.groupby("unit")["poor_fit"].first().sum() == st["n_poor_fit"]
    fig = plots.synth_gap(g, OUT, "Shanghai", 2018)
    grey = [ln for ln in fig.axes[0].get_lines() if ln.get_color() == plots.PALETTE["placebo"] and len(ln.get_xdata())]
    assert len(grey) == pl[~pl["poor_fit"].astype(bool)]["unit"].nunique()


def test_segmented_models_the_2020_shock_in_both_paths(shanghai_result):
    seg = shanghai_result.estimates[shanghai_result.estimates["method"].astype(str).str.startswith("Segmented")]
    assert set(seg["spec"]) == {"shock_pulse:2020"}
    t = shanghai_result.tables["segmented"]
    # the counterfactual keeps the shock: it departs from the pre-reform line in 2020 exactly as the fit does
    cf = t.set_index("year")["counterfactual"]
    line = cf.loc[[2019, 2021]].mean()
    assert abs(cf.loc[2020] - line) > 1e-6


def test_sensitivity_uses_placebo_covariance_and_reports_breakdown(shanghai_result):
    s = shanghai_result.tables["sensitivity"]
    assert set(s["kind"]) == {"power", "breakdown", "grid"}
    b = s[s["kind"] == "breakdown"].set_index("method")["value"]
    assert set(b.index) == {"relative_magnitudes", "smoothness"} and (b >= 0).all()
    g = s[(s["kind"] == "grid") & (s["method"] == "relative_magnitudes")].sort_values("M")
    assert (np.diff(g["upper"] - g["lower"]) >= -1e-9).all()  # intervals widen with Mbar
    # the breakdown value is where the interval first includes zero
    inc = (g["lower"] <= 0) & (g["upper"] >= 0)
    if inc.any() and b["relative_magnitudes"] > 0:
        assert g.loc[inc, "M"].min() >= b["relative_magnitudes"] - 1e-6


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_case_figures_fit_their_canvas_and_are_drawn_once(shanghai_result, lang):
    """The book shows figures uncropped (inline backend with ``bbox_inches=None``): nothing may reach past
    a figure's edge, in either language; and a chapter figure has no layout engine, so showing it draws it
    once (no layout pass, no second draw to measure a tight bounding box)."""
    from IPython.core.pylabtools import print_figure
    from PIL import Image

    from primarycare.report import fmt, i18n, plots

    if lang == "zh" and plots.cjk_font_path() is None:
        pytest.skip("Noto Sans CJK SC is not installed (apt-get install fonts-noto-cjk)")
    r = shanghai_result
    i18n.set_language(lang)
    try:
        pos = r.tables["position"]
        pos = pos[(pos["outcome"] == OUT) & (pos["year"] == pos["year"].max())]
        figs = [plots.trends(r.tables["trends"], OUT, 2018, r.tables.get("facts"), simulated=True,
                             title="Shanghai: " + fmt.label(OUT), province="Shanghai"),
                plots.province_position(pos.rename(columns={"value": OUT, "status": f"{OUT}_status"}), OUT,
                                        "Shanghai", int(pos["year"].max())),
                plots.segmented(r.tables["segmented"], OUT, 2018, simulated=True),
                plots.event_study(r.tables["event_study"], OUT, r.tables["planted"], 2018, simulated=True),
                plots.synth_gap(r.tables["synth_gap"], OUT, "Shanghai", 2018, simulated=True),
                plots.permutation(r.tables["perm"], OUT, 1.0, simulated=True),
                plots.forest(r.main_estimates().assign(label=lambda d: "Shanghai · " + d["method"]), simulated=True)]
        for f in figs:
            name = f.axes[0].get_title() or f.axes[0].get_title(loc="left")
            assert f.get_layout_engine() is None, name
            assert plots.overflow_px(f) < 0.5, (name, plots.overflow_px(f))
            png = Image.open(io.BytesIO(print_figure(f, "png", bbox_inches=None)))
            assert png.size == tuple(int(round(v)) for v in f.bbox.size), name
    finally:
        i18n.set_language("en")


def test_case_figures_are_readable_on_a_phone(shanghai_result):
    """Every text on every case figure is at least 9 CSS px when the image is shown 390 px wide."""
    from primarycare.report import plots

    r = shanghai_result
    figs = [plots.trends(r.tables["trends"], OUT, 2018, r.tables.get("facts"), simulated=True, province="Shanghai"),
            plots.event_study(r.tables["event_study"], OUT, r.tables["planted"], 2018, simulated=True),
            plots.synth_gap(r.tables["synth_gap"], OUT, "Shanghai", 2018, simulated=True),
            plots.segmented(r.tables["segmented"], OUT, 2018, simulated=True),
            plots.permutation(r.tables["perm"], OUT, 1.0, simulated=True),
            plots.forest(r.main_estimates().assign(label=lambda d: d["method"]), simulated=True)]
    for f in figs:
        assert plots.min_text_px(f, 390) >= 9.0, (f.axes[0].get_title(), plots.min_text_px(f, 390))


def _rising_trends(outcome: str) -> pd.DataFrame:
    """Three series that rise to the top right, as general practitioners per 10,000 did: the legend goes to
    the top left, where the label of an early reform year is."""
    import numpy as np

    years = np.arange(2010, 2024)
    base = 0.6 + 3.6 * ((years - 2010) / 13) ** 1.6
    return pd.concat([pd.DataFrame({"outcome": outcome, "series": s, "year": years, "value": base * k,
                                    "region": "central"})
                      for s, k in (("province", 1.05), ("national_mean", 1.0), ("region_mean", 0.97))])


@pytest.mark.parametrize("year", [2012, 2015, 2018, 2021])
def test_the_reform_label_is_not_under_the_legend(shanghai_result, year):
    """The trends figure's "reform" label moves where the legend, once placed, leaves it readable."""
    from primarycare.report import plots

    r = shanghai_result
    for table in (r.tables["trends"], _rising_trends(OUT)):
        fig = plots.trends(table, OUT, year, r.tables.get("facts"), simulated=True, province="Shanghai")
        ax = fig.axes[0]
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        (mark,) = [t for t in ax.texts if t.get_text() == "reform"]
        assert not ax.get_legend().get_window_extent(renderer).overlaps(mark.get_window_extent(renderer)), year
        assert ax.get_window_extent(renderer).contains(*mark.get_window_extent(renderer).get_points().mean(axis=0))
        assert abs(mark.xyann[0] - (year - 0.5)) < 0.1  # beside its line
        assert plots.overflow_px(fig) < 0.5
