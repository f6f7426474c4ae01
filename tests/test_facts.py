"""Tests of the facts register (data/facts.csv) and primarycare.facts.

The quote checks need the five seed documents and public_figures.md (../shared beside the clone, or
PRIMARYCARE_SEEDS / PRIMARYCARE_REFERENCE); they are skipped with a reason when those are missing.
The validation tests run on small edited copies of the register and need nothing else.
"""

from __future__ import annotations

import pandas as pd
import pytest

from primarycare import facts as F
from primarycare import indicators
from primarycare.errors import UserInputError
from primarycare.paths import DATA, REFERENCE, SEEDS

needs_sources = pytest.mark.skipif(
    not (SEEDS.is_dir() and (REFERENCE / F.REFERENCE_FILE).exists()),
    reason=f"seed documents not found at {SEEDS} or {REFERENCE} (set PRIMARYCARE_SEEDS / PRIMARYCARE_REFERENCE)",
)


@pytest.fixture(scope="module")
def facts() -> pd.DataFrame:
    return F.load_facts()


@pytest.fixture()
def raw() -> pd.DataFrame:
    return pd.read_csv(DATA / "facts.csv", dtype=str, keep_default_na=False)


def _write(tmp_path, df: pd.DataFrame):
    path = tmp_path / "facts.csv"
    df.to_csv(path, index=False)
    return path


# ---- the register itself ----------------------------------------------------------------------

def test_register_is_large_and_typed(facts):
    assert len(facts) >= 100
    assert list(facts.columns) == F.COLUMNS
    assert str(facts["year"].dtype) == "Int64" and facts["value"].dtype == "float64"
    assert facts["fact_id"].is_unique


def test_vocabularies_are_valid(facts):
    assert set(facts["indicator"]) <= set(indicators.ids())
    assert set(facts["kind"]) <= set(F.KINDS)
    assert set(facts["qualifier"]) <= set(F.QUALIFIERS)
    assert set(facts["geography_level"]) <= set(F.LEVELS)
    assert (facts.loc[facts["geography_level"] == "national", "geography"] == "China").all()
    assert {"reported", "target", "derived"} <= set(facts["kind"])


@needs_sources
def test_every_source_file_exists(facts):
    for source in facts["source"].unique():
        folder = REFERENCE if source == F.REFERENCE_FILE else SEEDS
        assert (folder / source).is_file(), source


@needs_sources
def test_quotes_verbatim_values_printed_and_derived_arithmetic(facts):
    bad = F.check_quotes(facts)
    assert bad.empty, "\n" + bad[["fact_id", "source", "quote", "value", "problem"]].to_string()


def test_derived_rows_state_checkable_arithmetic(facts):
    derived = facts[facts["kind"] == "derived"]
    assert len(derived) >= 10
    for row in derived.itertuples():
        expr = F.derived_expression(row.note)
        assert expr is not None, row.fact_id
        decimals = F._decimals(row.value)
        assert abs(F.evaluate(expr) - row.value) <= 0.5 * 10 ** -decimals + 1e-9, (row.fact_id, expr)


def test_key_derived_values(facts):
    def one(**kw):
        sel = facts
        for k, v in kw.items():
            sel = sel[sel[k] == v]
        assert len(sel) == 1, kw
        return sel.iloc[0]

    cq = one(geography="Chongqing", year=2019, indicator="primary_care_visit_share")
    assert cq["kind"] == "derived" and cq["value"] == pytest.approx(50.72)
    cn = one(geography="China", year=2014, indicator="primary_care_visit_share")
    assert cn["kind"] == "derived" and cn["value"] == pytest.approx(57.4)
    assert one(geography="Jiangsu", year=2022, indicator="gps_per_10000")["value"] == pytest.approx(5.38)
    sh = one(geography="Shanghai", year=2025, indicator="family_doctor_signing_rate")
    assert sh["kind"] == "target" and sh["value"] == 45
    bj = facts[(facts["geography"] == "Beijing") & (facts["indicator"] == "primary_care_visit_share")]
    assert sorted(bj["year"].tolist()) == [2012, 2013, 2014, 2015, 2016]


def test_conflicts_are_found_and_flagged(facts):
    found = F.conflicts(facts)
    zj = found[(found["geography"] == "Zhejiang") & (found["indicator"] == "county_internal_visit_rate")]
    assert sorted(zj["value"]) == [91.5, 92.5]
    unflagged = found[found["conflict_group"] == ""]
    assert unflagged.empty, "disagreements without conflict_group:\n" + unflagged.to_string()
    # every flag marks a real disagreement, and each group is one disagreement
    flagged = facts[facts["conflict_group"] != ""]
    assert set(flagged["fact_id"]) == set(found["fact_id"])
    assert (found.groupby("conflict_group")["conflict_key"].nunique() == 1).all()


def test_conflicts_ignore_targets_vs_outcomes_and_unknown_years():
    base = dict(geography_level="province", geography="Anhui", province="Anhui", indicator="beds", unit="张")
    rows = pd.DataFrame([
        {**base, "fact_id": "A", "year": 2020, "value": 1.0, "kind": "reported"},
        {**base, "fact_id": "B", "year": 2020, "value": 2.0, "kind": "target"},
        {**base, "fact_id": "C", "year": None, "value": 3.0, "kind": "reported"},
        {**base, "fact_id": "D", "year": None, "value": 4.0, "kind": "reported"},
        {**base, "fact_id": "E", "year": 2021, "value": 5.0, "kind": "reported"},
        {**base, "fact_id": "F", "year": 2021, "value": 6.0, "kind": "derived"},
    ]).astype({"year": "Int64"})
    assert F.conflicts(rows)["fact_id"].tolist() == ["E", "F"]


def test_essay_rows_are_marked_and_filterable(facts):
    essay = F.essay_rows(facts)
    assert len(essay) >= 20
    assert essay["note"].str.contains(F.ESSAY_NOTE, regex=False).all()
    others = facts[facts["source"] != F.ESSAY_SOURCE]
    assert not others["note"].str.contains(F.ESSAY_NOTE, regex=False).any()


def test_for_province_accepts_any_spelling(facts):
    zj = F.for_province(facts, "浙江")
    assert len(zj) == len(F.for_province(facts, "Zhejiang")) == len(F.for_province(facts, "33")) > 5
    assert set(zj["province"]) == {"Zhejiang"}
    assert "Changxing 长兴" in set(zj["geography"])
    with pytest.raises(UserInputError, match="Did you mean Zhejiang"):
        F.for_province(facts, "Zhejaing")


def test_main_provinces_have_core_figures(facts):
    core = {"primary_care_visit_share", "primary_care_staff", "gps_per_10000", "county_internal_visit_rate",
            "family_doctor_signing_rate", "primary_care_staff_per_1000", "signing_rate_key_groups",
            "county_medical_subcentres", "population_covered"}
    for prov in ["Anhui", "Zhejiang", "Chongqing", "Guizhou", "Jiangsu", "Shanghai"]:
        assert core & set(F.for_province(facts, prov)["indicator"]), prov
    national = facts[facts["geography"] == "China"]
    assert {"primary_care_visit_share", "gps_per_10000", "primary_care_staff"} <= set(national["indicator"])


# ---- the checks can fail --------------------------------------------------------------------

@needs_sources
def test_check_quotes_catches_tampering(facts):
    t = facts.copy()
    first = t.index[(t["kind"] == "reported")][0]
    t.loc[first, "value"] = t.loc[first, "value"] + 1
    second = t.index[(t["kind"] == "reported")][1]
    t.loc[second, "quote"] = t.loc[second, "quote"] + "X虚构"
    third = t.index[t["kind"] == "derived"][0]
    t.loc[third, "value"] = t.loc[third, "value"] + 0.5
    bad = F.check_quotes(t).set_index("fact_id")["problem"]
    assert "not printed in the quote" in bad[t.loc[first, "fact_id"]]
    assert "not found verbatim" in bad[t.loc[second, "fact_id"]]
    assert "does not round" in bad[t.loc[third, "fact_id"]]
    missing = F.check_quotes(t.head(1), seeds_dir=SEEDS / "nowhere", reference_dir=SEEDS / "nowhere")
    assert "not found" in missing["problem"].iloc[0]


def test_evaluate_is_safe():
    assert F.evaluate("(54.73 - 4.01) * 2") == pytest.approx(101.44)
    with pytest.raises(ValueError):
        F.evaluate("__import__('os')")
    assert F.derived_expression("derived: 1 + 2; text") == "1 + 2"
    assert F.derived_expression("derived: one plus two") is None


@pytest.mark.parametrize(
    "column, bad_value, expected",
    [
        ("indicator", "visit_share_typo", "column 'indicator'"),
        ("province", "Zhejaing", "Did you mean Zhejiang"),
        ("kind", "estimate", "column 'kind'"),
        ("qualifier", "roughly", "column 'qualifier'"),
        ("year", "20x2", "column 'year'"),
        ("value", "4,500", "column 'value'"),
        ("source", "notes.txt", "column 'source'"),
        ("quote", "abc", "column 'quote'"),
        ("geography_level", "village", "column 'geography_level'"),
    ],
)
def test_load_facts_names_row_and_column(tmp_path, raw, column, bad_value, expected):
    i = raw.index[raw["geography_level"] == "province"][0]
    raw.loc[i, column] = bad_value
    with pytest.raises(UserInputError) as err:
        F.load_facts(_write(tmp_path, raw))
    message = str(err.value)
    assert expected in message
    assert f"row {i + 2}" in message and raw.loc[i, "fact_id"] in message


def test_load_facts_rejects_bad_columns_duplicates_and_bare_derived(tmp_path, raw):
    with pytest.raises(UserInputError, match="wrong columns"):
        F.load_facts(_write(tmp_path, raw.drop(columns="quote")))
    dup = raw.copy()
    dup.loc[1, "fact_id"] = dup.loc[0, "fact_id"]
    with pytest.raises(UserInputError, match="duplicated"):
        F.load_facts(_write(tmp_path, dup))
    bare = raw.copy()
    j = bare.index[bare["kind"] == "derived"][0]
    bare.loc[j, "note"] = "derived from the figures above"
    with pytest.raises(UserInputError, match="derived: <expression>"):
        F.load_facts(_write(tmp_path, bare))
    with pytest.raises(UserInputError, match="does not exist"):
        F.load_facts(tmp_path / "missing.csv")
