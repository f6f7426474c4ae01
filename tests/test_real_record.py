"""The chapter of the real record: observed figures only, gaps kept, conversions stated, every address listed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from primarycare.data import facts as F
from primarycare.data import real
from primarycare.report import plots
from primarycare.report import real_record as rr

ROOT = Path(__file__).resolve().parent.parent


def test_national_table_shows_gaps_as_gaps():
    t = rr.national_table().set_index("Year")
    share = t["Primary-care share of visits (%)"]
    assert [y for y in share.index if share[y] != rr.GAP] == [2014, 2015, 2021, 2022, 2023, 2024, 2025]
    assert (t["Total visits (100 million)"] != rr.GAP).all()
    assert t.loc[2019, "Total visits (100 million)"] == "87.2" and t.loc[2012, "Physicians per 1,000 residents"] == rr.GAP


def test_reform_events_national_pilot_and_every_case():
    from primarycare.case import config

    ev = rr.reform_events()
    nat = ev[ev["province"] == "national"]
    assert nat["year"].tolist() == [2019]
    cases = config.load_cases()
    assert len(ev) == len(cases) + 1
    for cfg in cases.values():
        row = ev[ev["reform_id"] == cfg.reform].iloc[0]
        assert row["year"] == cfg.reform_year and row["basis"] == cfg.reform_year_source


def test_per_capita_conversion_uses_the_real_population_of_that_year():
    facts = F.load_facts()
    t = rr.per_capita(facts)
    pop = real.real_population().set_index(["province", "year"])["value"]
    row = t[(t["Province"] == "Jiangsu") & (t["Year"] == 2022)].iloc[0]
    assert row["Per resident"] == f"{30.77e4 / pop[('Jiangsu', 2022)] * 1000:.2f} primary-care staff per 1,000 residents"
    assert "30.77 x 10000 / " in row["Conversion"] and row["Fact"] == "F0015"
    assert set(t["Province"]) <= set(pop.index.get_level_values(0))


def test_sources_table_lists_every_address_of_the_register():
    t = rr.sources_table()
    assert set(t["Address"]) == set(real.load_register()["address"])


def test_national_figure_breaks_lines_at_gaps():
    ev = rr.reform_events()
    fig = plots.observed_national({"GPs": real.national("gps_per_10000")}, ev)
    ax = fig.axes[0]
    x, y = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    assert list(x) == list(range(2010, 2026))
    assert np.isnan(y[list(x).index(2014)]) and y[list(x).index(2013)] == pytest.approx(1.07)
    assert not any("SIMULATED" in t.get_text() for t in fig.texts + ax.texts)
    labels = " ".join(t.get_text() for t in ax.texts)
    assert "national pilot" in labels and "Guizhou (assumed)" in labels


def test_observed_figures_fit_their_canvas():
    """The book shows figures uncropped: the event names and titles stay inside the figure."""
    ev = rr.reform_events()
    series = {"Total visits\n(100 million)": real.national("total_visits").assign(value=lambda d: d["value"] / 1e8),
              "GPs per 10,000\nresidents": real.national("gps_per_10000")}
    share = real.national("primary_care_visit_share")
    for fig in (plots.observed_national(series, ev),
                plots.observed_shares(share, real.load_series("Beijing", "primary_care_visit_share"), ev)):
        assert plots.overflow_px(fig) < 0.5, plots.overflow_px(fig)


def test_chapter_reads_no_simulated_values():
    nb = json.loads((ROOT / "notebooks" / "real_record.ipynb").read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    for forbidden in ("load_panel", "simulated", "simulate", "truth", "teaching"):
        assert forbidden not in code, forbidden
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")  # no outputs committed


def test_chapter_is_planned_and_listed_near_the_front():
    from primarycare.book import build
    from primarycare.case import config

    jobs = build.plan(config.load_cases(), 5)
    rec = next(j for j in jobs if j.name == "real record")
    assert rec.output == build.BOOK / "cases" / "real_record.ipynb"
    keyed = {j.name: j.key for j in build.keyed_plan(config.load_cases(), 5)}
    fewer = dict(list(config.load_cases().items())[:-1])
    assert {j.name: j.key for j in build.keyed_plan(fewer, 5)}["real record"] != keyed["real record"]


def test_sources_table_names_the_facts_shown():
    from primarycare.case import config

    facts = F.load_facts()
    provs = sorted({c.province for c in config.load_cases().values()})
    used = rr.facts_used(facts, provs)
    assert "F0015" in set(used["fact_id"])  # Jiangsu's staff count, converted per 1,000 residents
    t = rr.sources_table(used)
    listed = " ".join(t["What was read there"])
    for fid in used["fact_id"]:
        assert fid in listed
