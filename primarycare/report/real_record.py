"""Words and tables for the chapter of the real record (``notebooks/real_record.ipynb``).

Everything here is built from observed figures only: the shipped real series (``data/real/``, each value
with the address where it was read), the facts register (``data/facts.csv``, each figure with its quote),
the reform events (``data/policies.csv``) and the case settings (``data/cases.yml``). Nothing simulated
is read, and nothing is estimated: gaps are shown as gaps, and the only arithmetic is a conversion of a
reported count into a per-resident figure with the real year-end population, which the tables state.
"""

from __future__ import annotations

import pandas as pd

from ..data import indicators, provinces, real

GAP = "—"
# (indicator, column label, divisor for display)
NATIONAL = [("total_visits", "Total visits (100 million)", 1e8),
            ("primary_care_visits", "Primary-care visits (100 million)", 1e8),
            ("primary_care_visit_share", "Primary-care share of visits (%)", 1.0),
            ("gps_per_10000", "GPs per 10,000 residents", 1.0),
            ("physicians_per_1000", "Physicians per 1,000 residents", 1.0)]
YEARS = range(2010, 2026)
# facts-register indicators shown for the case provinces (the outcomes and what bears on them)
CASE_FACT_INDICATORS = ("primary_care_visit_share", "primary_care_visit_share_change", "county_internal_visit_rate",
                        "county_internal_visit_rate_change", "gps_per_10000", "primary_care_staff",
                        "primary_care_staff_share", "family_doctor_signing_rate", "signing_rate_key_groups",
                        "total_visits", "licensed_physicians", "health_technicians", "village_doctors",
                        "outside_county_visit_rate", "primary_care_visit_share_below_county")
# counts a per-resident figure can be made from: indicator -> (per how many residents, label)
PER_CAPITA = {"primary_care_staff": (1000, "primary-care staff per 1,000 residents"),
              "licensed_physicians": (1000, "licensed (assistant) physicians per 1,000 residents"),
              "health_technicians": (1000, "health technicians per 1,000 residents"),
              "total_visits": (1, "visits per resident")}
UNIT_FACTORS = {"万人": 1e4, "万人次": 1e4, "亿人次": 1e8, "人": 1.0, "人次": 1.0}


def _fmt(v: float, divisor: float) -> str:
    x = v / divisor
    return f"{x:.1f}" if divisor > 1 else f"{x:.2f}"


def national_table() -> pd.DataFrame:
    """Years 2010-2025 by national series, as published (gaps shown as a dash, never filled)."""
    s = real.load_series("China")
    out = pd.DataFrame({"Year": list(YEARS)})
    for ind, label, div in NATIONAL:
        vals = s[s["indicator"] == ind].set_index("year")["value"]
        out[label] = [_fmt(vals[y], div) if y in vals.index else GAP for y in YEARS]
    return out


def national_counts() -> dict[str, int]:
    """How many years each national series has between 2010 and 2025 (for the text)."""
    s = real.load_series("China")
    return {ind: int(s[(s["indicator"] == ind) & s["year"].between(2010, 2025)]["year"].nunique())
            for ind, _, _ in NATIONAL}


def reform_events() -> pd.DataFrame:
    """The national pilot and each case's reform year: label, province, year, basis (from data/policies.csv
    and data/cases.yml; an assumed year is labelled so)."""
    from ..case import config as cases
    from ..data import load_policies

    pol = load_policies().set_index("id")
    rows = []
    nat = pol.loc["national_tight_ccmc_pilot_2019"]
    rows.append({"event": "National tight county medical community pilot", "province": "national",
                 "year": int(nat["start_year"]), "basis": f"policy ({nat['certainty']})", "reform_id":
                 "national_tight_ccmc_pilot_2019", "source": nat["source"]})
    for cfg in cases.load_cases().values():
        src = pol.loc[cfg.reform, "source"] if cfg.reform in pol.index else ""
        if "assumed" in cfg.reform_year_source:
            src = "data/cases.yml (reform_year_reasoning); " + src
        rows.append({"event": cfg.reform_name, "province": cfg.province, "year": int(cfg.reform_year),
                     "basis": cfg.reform_year_source, "reform_id": cfg.reform, "source": src})
    return pd.DataFrame(rows)


def beijing_table() -> pd.DataFrame:
    """Beijing 2012-2016: visits by institution type (万人次 as published) and the primary-care share."""
    s = real.load_series("Beijing")
    s = s[s["indicator"] != "resident_population"]
    wide = s.pivot(index="year", columns="indicator", values="value")
    out = pd.DataFrame({"Year": wide.index})
    for ind, label in (("total_visits", "Total visits (万人次)"), ("hospital_visits", "Hospitals (万人次)"),
                       ("primary_care_visits", "Primary-care institutions (万人次)"),
                       ("community_centre_station_visits", "Community centres and stations (万人次)")):
        out[label] = [f"{v / 1e4:.1f}" for v in wide[ind]]
    out["Primary-care share (%)"] = [f"{v:.2f}" for v in wide["primary_care_visit_share"]]
    return out.reset_index(drop=True)


def case_fact_rows(facts: pd.DataFrame, case_provinces: list[str]) -> pd.DataFrame:
    """Facts-register rows reported (or derived) for the case provinces on the outcomes and related figures."""
    return facts[facts["province"].isin(case_provinces) & facts["indicator"].isin(CASE_FACT_INDICATORS)
                 & facts["kind"].isin(["reported", "derived"])]


def facts_used(facts: pd.DataFrame, case_provinces: list[str]) -> pd.DataFrame:
    """Every facts-register row the chapter shows (the case provinces' figures and the converted counts)."""
    ids = set(case_fact_rows(facts, case_provinces)["fact_id"]) | set(per_capita(facts)["Fact"])
    return facts[facts["fact_id"].isin(ids)]


def case_facts(facts: pd.DataFrame, case_provinces: list[str]) -> pd.DataFrame:
    """What the facts register reports for the case provinces on the outcomes and related figures."""
    f = case_fact_rows(facts, case_provinces).copy()
    f["Indicator"] = f["indicator"].map(lambda i: indicators.label(i))
    f["Year"] = f["year"].map(lambda y: GAP if pd.isna(y) else str(int(y)))
    f["Value"] = [f"{q + ' ' if q else ''}{v:g} {u}".replace("about ", "about ").strip()
                  for q, v, u in zip(f["qualifier"].fillna(""), f["value"], f["unit"], strict=True)]
    f["Source"] = f["source"] + f["page"].fillna("").map(lambda p: f" ({p})" if p else "")
    essay = f["source"] == "001_118cb11ac7acb443.txt"  # the unattributed essay (facts.ESSAY_SOURCE)
    f.loc[essay, "kind"] = f.loc[essay, "kind"] + " (essay; source not verifiable)"
    cols = {"province": "Province", "Year": "Year", "Indicator": "Indicator", "Value": "Value", "kind": "Kind",
            "quote": "Quote", "Source": "Source"}
    return f.sort_values(["province", "year", "indicator"])[list(cols)].rename(columns=cols).reset_index(drop=True)


def per_capita(facts: pd.DataFrame) -> pd.DataFrame:
    """Reported provincial counts (facts register) turned into per-resident figures with the real year-end
    population of the same province and year (NBS series): count / population x per. Rows without a year
    or a population are left out; the conversion is written in the table."""
    pop = real.real_population().set_index(["province", "year"])["value"]
    rows = []
    for r in facts.itertuples(index=False):
        if r.indicator not in PER_CAPITA or r.geography_level != "province" or pd.isna(r.year):
            continue
        factor = UNIT_FACTORS.get(r.unit)
        key = (r.province, int(r.year))
        if factor is None or key not in pop.index:
            continue
        per, label = PER_CAPITA[r.indicator]
        value = r.value * factor / pop[key] * per
        rows.append({"Province": r.province, "Year": int(r.year), "Fact": r.fact_id,
                     "Reported": f"{r.value:g} {r.unit} ({indicators.label(r.indicator).lower()})",
                     "Population (万人)": f"{pop[key] / 1e4:g}",
                     "Conversion": f"{r.value:g} x {factor:g} / {pop[key]:,.0f}" + (f" x {per:,}" if per > 1 else ""),
                     "Per resident": f"{value:.2f} {label}"})
    return pd.DataFrame(rows).drop_duplicates(["Province", "Year", "Reported"]).reset_index(drop=True)


def sources_table(facts_shown: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every address the chapter's numbers come from, with what was read there: the real series' addresses
    and, for ``facts_shown`` (facts-register rows on the page), their seed documents or pages."""
    reg = real.load_register()
    rows = []
    for addr, g in reg.groupby("address", sort=False):
        what = []
        for (geo, ind), gg in g.groupby(["geography", "indicator"], sort=False):
            ys = sorted(gg["year"])
            span = f"{ys[0]}-{ys[-1]}" if len(ys) > 2 and ys[-1] - ys[0] + 1 == len(ys) else ", ".join(map(str, ys))
            what.append(f"{geo if geo == 'China' else provinces.chinese(geo) + ' ' + geo}: "
                        f"{indicators.label(ind).lower()} ({span})")
        if g["indicator"].eq("resident_population").all():
            what = [f"year-end resident population, {g['geography'].nunique()} provinces, "
                    f"{g['year'].min()}-{g['year'].max()}"]
        rows.append({"Address": addr, "What was read there": "; ".join(what)})
    if facts_shown is not None and len(facts_shown):
        f = facts_shown.assign(where=[pg if isinstance(pg, str) and pg else src
                                      for pg, src in zip(facts_shown["page"], facts_shown["source"], strict=True)])
        for where, g in f.groupby("where", sort=True):
            kind = "seed document" if where.endswith(".txt") else "page named in public_figures.md"
            rows.append({"Address": where, "What was read there": f"{kind}: facts " + ", ".join(sorted(g["fact_id"]))})
    return pd.DataFrame(rows)


def intro() -> str:
    n = national_counts()
    return (
        "This chapter shows only **observed** figures: values printed in public statistical bulletins, "
        "yearbook tables and the National Bureau of Statistics (NBS) population series, each with the address "
        "where it was read (the sources table at the end). It uses none of the teaching panel's values. It "
        f"draws the national series as far as they are published: total visits in {n['total_visits']} of the "
        f"16 years 2010-2025, GPs per 10,000 residents in {n['gps_per_10000']}, physicians per 1,000 residents "
        f"in {n['physicians_per_1000']}, and the primary-care share of visits in only "
        f"{n['primary_care_visit_share']}. Missing years are left as gaps: no line is drawn across them and "
        "no value is interpolated. No reform effect is estimated here: a national series with one pilot "
        "year and a handful of provincial fragments cannot carry an estimate."
    )


def cautions() -> str:
    return (
        "Cautions from the sources. (1) For 2019 the health bulletin gives 87.2亿 visits and the statistics "
        "communiqué's preliminary figure is 85.2亿; the visit series uses the bulletin. (2) The primary-care "
        "shares for 2014 and 2022-2025 are derived by the compilers (2014 from the 2015 bulletin's change of "
        "-1.0 point; 2022-2025 as primary-care visits / total visits x 100), marked *derived* in the register. "
        "(3) The share of township and community health centres in outpatient visits (about 23% in 2015-2019) "
        "is a different, narrower figure: it leaves out village clinics, and it is not shown as the "
        "primary-care share. (4) The NBS population series breaks at 2010 (a census revision), so it is used "
        "from 2010 only and never combined with provincial communiqué figures."
    )


def timeline_text(events: pd.DataFrame) -> str:
    parts = [f"{r.province} {r.year}, {r.basis}" for r in events.itertuples(index=False) if r.province != "national"]
    return ("Reform timeline drawn on the figures: the national tight county medical community pilot (2019, "
            "the National Health Commission notice of 2019-05-28) and the case provinces' reform years as the "
            "case chapters use them: " + "; ".join(parts) + ". A year marked *assumed* is a setting of the case, "
            "not a reported date. Lines on a national series only mark when reforms began; the national figures "
            "cannot say what any one province's reform did.")
