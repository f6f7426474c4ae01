"""The shipped real series (data/real/series.csv and register.csv): every value printed in its excerpt, every
row traceable to the shared figures file, the selection rules (bulletin for 2019 visits, one population
source from 2010, no interpolation) and the wall between national series and the provincial panel.

The checks against ../shared/reference/real-data/figures.csv are skipped with a reason when it is missing.
"""

from __future__ import annotations

import pandas as pd
import pytest

from primarycare.data import load_panel, provinces, real

needs_figures = pytest.mark.skipif(not real.FIGURES_FILE.exists(),
                                   reason=f"{real.FIGURES_FILE} not found (set PRIMARYCARE_REFERENCE)")


@pytest.fixture(scope="module")
def register() -> pd.DataFrame:
    return real.load_register()


def test_value_is_published_value_in_vocabulary_unit_and_printed_in_its_excerpt(register):
    bad = real.check_register(register)
    assert bad.empty, bad[["geography", "year", "indicator", "published_value", "problem"]].to_string()


@pytest.mark.parametrize("row,change,phrase", [
    (0, {"published_value": 1.08, "value": 1.08}, "not printed in the excerpt"),
    (0, {"value": 1.17}, "is not 1.07"),
])
def test_register_check_can_fail(register, row, change, phrase):
    bad = register.copy()
    for col, v in change.items():
        bad.loc[row, col] = v
    problems = real.check_register(bad)
    assert len(problems) == 1 and phrase in problems["problem"].iloc[0]


def test_register_check_recomputes_derived_shares(register):
    i = register.index[(register["geography"] == "Beijing") & (register["indicator"] == "primary_care_visit_share")
                       & (register["year"] == 2012)][0]
    bad = register.copy()
    bad.loc[i, ["published_value", "value"]] = [29.5, 29.5]  # the table gives 5905.8 / 19738.5 = 29.92%
    assert "does not round to 29.5" in real.check_register(bad)["problem"].iloc[0]
    j = register.index[(register["indicator"] == "primary_care_visit_share") & (register["year"] == 2014)][0]
    bad = register.copy()
    bad.loc[j, ["published_value", "value"]] = [57.9, 57.9]  # the excerpt's arithmetic is 56.4 + 1.0
    assert "does not round to 57.9" in real.check_register(bad)["problem"].iloc[0]


@needs_figures
def test_committed_files_are_what_the_selection_rules_give():
    series, register = real.build()
    pd.testing.assert_frame_equal(series, real.load_series(), check_dtype=False)
    pd.testing.assert_frame_equal(register, real.load_register(), check_dtype=False)


@needs_figures
def test_every_row_is_verbatim_in_the_shared_figures(register):
    fig = pd.read_csv(real.FIGURES_FILE, keep_default_na=False, dtype=str)
    fig["geography"] = fig["geography"].map(lambda g: "China" if g == "China" else provinces.resolve(g))
    keys = set(zip(fig["geography"], fig["year"].astype(int), fig["value"].astype(float), fig["address"],
                   fig["excerpt"], strict=True))
    for r in register.itertuples(index=False):
        assert (r.geography, r.year, r.published_value, r.address, r.excerpt) in keys, r


def test_national_series_complete_where_published_and_gaps_kept():
    visits = real.national("total_visits")
    assert visits["year"].tolist() == list(range(2010, 2026))
    # README caution: the 2019 visit series uses the health bulletin (87.2亿), not the communiqué (85.2亿)
    assert visits.set_index("year").loc[2019, "value"] == 87.2e8
    share = real.national("primary_care_visit_share")
    assert share["year"].tolist() == [2014, 2015, 2021, 2022, 2023, 2024, 2025]  # 2016-2020 stay gaps
    assert real.national("gps_per_10000")["year"].tolist() == [2013, *range(2015, 2026)]
    assert 2012 not in real.national("physicians_per_1000")["year"].tolist()
    s = real.load_series()
    assert (s["status"] == "observed").all() and s["source"].str.len().gt(10).all()
    # the township + community centre share is not the primary-care share and is not shipped
    assert not s["source"].str.contains("thc_chc").any()


def test_population_31_provinces_2010_2024_one_source():
    pop = real.real_population()
    assert pop["province"].nunique() == 31 and set(pop["province"]) == set(provinces.names())
    assert sorted(pop["year"].unique()) == list(range(2010, 2025)) and len(pop) == 31 * 15
    assert pop["source"].str.startswith(real.POPULATION_ADDRESS).all()  # never spliced with communiqués
    assert pop["unit"].eq("persons").all()
    assert pop.set_index(["province", "year"]).loc[("Beijing", 2019), "value"] == 2190 * 1e4


def test_national_series_never_enter_the_provincial_panel():
    panel = load_panel()
    assert "China" not in set(panel["province"])
    assert "resident_population" not in set(panel["indicator"])
    with_pop = load_panel(population=True)
    added = with_pop[with_pop["indicator"] == "resident_population"]
    assert len(added) == 31 * 15 and (added["status"] == "observed").all()
    assert len(with_pop) == len(panel) + len(added)  # nothing else from the real series joins the panel
