"""Words and tables for the chapter of the real record (``notebooks/real_record.ipynb``).

Everything here is built from observed figures only: the shipped real series (``data/real/``, each value
with the address where it was read), the facts register (``data/facts.csv``, each figure with its quote),
the reform events (``data/policies.csv``) and the case settings (``data/cases.yml``). Nothing simulated
is read, and nothing is estimated: gaps are shown as gaps, and the only arithmetic is a conversion of a
reported count into a per-resident figure with the real year-end population, which the tables state.
"""

from __future__ import annotations

import pandas as pd

from ..data import provinces, real
from .fmt import label as _label
from .fmt import province as _province
from .i18n import N_, _, is_zh

GAP = "—"
# (indicator, column label, divisor for display)
NATIONAL = [("total_visits", N_("Total visits (100 million)"), 1e8),
            ("primary_care_visits", N_("Primary-care visits (100 million)"), 1e8),
            ("primary_care_visit_share", N_("Primary-care share of visits (%)"), 1.0),
            ("gps_per_10000", N_("GPs per 10,000 residents"), 1.0),
            ("physicians_per_1000", N_("Physicians per 1,000 residents"), 1.0)]
YEARS = range(2010, 2026)
# facts-register indicators shown for the case provinces (the outcomes and what bears on them)
CASE_FACT_INDICATORS = ("primary_care_visit_share", "primary_care_visit_share_change", "county_internal_visit_rate",
                        "county_internal_visit_rate_change", "gps_per_10000", "primary_care_staff",
                        "primary_care_staff_share", "family_doctor_signing_rate", "signing_rate_key_groups",
                        "total_visits", "licensed_physicians", "health_technicians", "village_doctors",
                        "outside_county_visit_rate", "primary_care_visit_share_below_county")
# counts a per-resident figure can be made from: indicator -> (per how many residents, label)
PER_CAPITA = {"primary_care_staff": (1000, N_("primary-care staff per 1,000 residents")),
              "licensed_physicians": (1000, N_("licensed (assistant) physicians per 1,000 residents")),
              "health_technicians": (1000, N_("health technicians per 1,000 residents")),
              "total_visits": (1, N_("visits per resident"))}
# words read from the registries, translated where shown (listed here so the catalogue has them)
VOCABULARY = (N_("stated"), N_("inferred"), N_("unknown"), N_("policy (stated)"), N_("policy (inferred)"),
              N_("assumed in case config"), N_("user"), N_("reported"), N_("derived"), N_("target"))
UNIT_FACTORS = {"万人": 1e4, "万人次": 1e4, "亿人次": 1e8, "人": 1.0, "人次": 1.0}


def _fmt(v: float, divisor: float) -> str:
    x = v / divisor
    return f"{x:.1f}" if divisor > 1 else f"{x:.2f}"


def national_table() -> pd.DataFrame:
    """Years 2010-2025 by national series, as published (gaps shown as a dash, never filled)."""
    s = real.load_series("China")
    out = pd.DataFrame({_("Year"): list(YEARS)})
    for ind, label, div in NATIONAL:
        vals = s[s["indicator"] == ind].set_index("year")["value"]
        out[_(label)] = [_fmt(vals[y], div) if y in vals.index else GAP for y in YEARS]
    return out


def national_counts() -> dict[str, int]:
    """How many years each national series has between 2010 and 2025 (for the text)."""
    s = real.load_series("China")
    return {ind: int(s[(s["indicator"] == ind) & s["year"].between(2010, 2025)]["year"].nunique())
            for ind, _, _ in NATIONAL}


def reform_events() -> pd.DataFrame:
    """The national pilot and each case's reform year: label, province, year, basis, whether the year is
    assumed (from data/policies.csv and data/cases.yml; an assumed year is labelled so)."""
    from ..case import config as cases
    from ..data import load_policies

    pol = load_policies().set_index("id")
    rows = []
    nat = pol.loc["national_tight_ccmc_pilot_2019"]
    rows.append({"event": _("National tight county medical community pilot"), "province": "national",
                 "year": int(nat["start_year"]), "basis": _("policy ({certainty})").format(
                     certainty=_(str(nat["certainty"]))), "assumed": False, "reform_id":
                 "national_tight_ccmc_pilot_2019", "source": nat["source"]})
    for cfg in cases.load_cases().values():
        src = pol.loc[cfg.reform, "source"] if cfg.reform in pol.index else ""
        assumed = "assumed" in cfg.reform_year_source  # told from the registry's code, not the translated basis
        if assumed:
            src = "data/cases.yml (reform_year_reasoning); " + src
        rows.append({"event": (cfg.reform_name_zh or cfg.reform_name) if is_zh() else cfg.reform_name,
                     "province": cfg.province, "year": int(cfg.reform_year),
                     "basis": _(str(cfg.reform_year_source)), "reform_id": cfg.reform, "source": src,
                     "assumed": assumed})
    return pd.DataFrame(rows)


def beijing_table() -> pd.DataFrame:
    """Beijing 2012-2016: visits by institution type (万人次 as published) and the primary-care share."""
    s = real.load_series("Beijing")
    s = s[s["indicator"] != "resident_population"]
    wide = s.pivot(index="year", columns="indicator", values="value")
    out = pd.DataFrame({_("Year"): wide.index})
    for ind, label in (("total_visits", _("Total visits (万人次)")), ("hospital_visits", _("Hospitals (万人次)")),
                       ("primary_care_visits", _("Primary-care institutions (万人次)")),
                       ("community_centre_station_visits", _("Community centres and stations (万人次)"))):
        out[label] = [f"{v / 1e4:.1f}" for v in wide[ind]]
    out[_("Primary-care share (%)")] = [f"{v:.2f}" for v in wide["primary_care_visit_share"]]
    return out.reset_index(drop=True)


def case_fact_rows(facts: pd.DataFrame, case_provinces: list[str]) -> pd.DataFrame:
    """Facts-register rows reported (or derived) for the case provinces on the outcomes and related figures."""
    return facts[facts["province"].isin(case_provinces) & facts["indicator"].isin(CASE_FACT_INDICATORS)
                 & facts["kind"].isin(["reported", "derived"])]


def facts_used(facts: pd.DataFrame, case_provinces: list[str]) -> pd.DataFrame:
    """Every facts-register row the chapter shows (the case provinces' figures and the converted counts)."""
    ids = set(case_fact_rows(facts, case_provinces)["fact_id"]) | set(per_capita(facts)[_("Fact")])
    return facts[facts["fact_id"].isin(ids)]


def case_facts(facts: pd.DataFrame, case_provinces: list[str]) -> pd.DataFrame:
    """What the facts register reports for the case provinces on the outcomes and related figures."""
    f = case_fact_rows(facts, case_provinces).copy()
    f["Indicator"] = f["indicator"].map(_label)
    f["province"] = f["province"].map(_province)
    f["Year"] = f["year"].map(lambda y: GAP if pd.isna(y) else str(int(y)))
    f["Value"] = [f"{q + ' ' if q else ''}{v:g} {u}".replace("about ", "about ").strip()
                  for q, v, u in zip(f["qualifier"].fillna(""), f["value"], f["unit"], strict=True)]
    f["Source"] = f["source"] + f["page"].fillna("").map(lambda p: f" ({p})" if p else "")
    essay = f["source"] == "001_118cb11ac7acb443.txt"  # the unattributed essay (facts.ESSAY_SOURCE)
    f["kind"] = f["kind"].map(lambda k: _(str(k)))
    f.loc[essay, "kind"] = f.loc[essay, "kind"] + _(" (essay; source not verifiable)")
    cols = {"province": _("Province"), "Year": _("Year"), "Indicator": _("Indicator"), "Value": _("Value"),
            "kind": _("Kind"), "quote": _("Quote"), "Source": _("Source")}
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
        rows.append({"Province": _province(r.province), "Year": int(r.year), "Fact": r.fact_id,
                     "Reported": f"{r.value:g} {r.unit} ({_label(r.indicator) if is_zh() else _label(r.indicator).lower()})",
                     "Population (万人)": f"{pop[key] / 1e4:g}",
                     "Conversion": f"{r.value:g} x {factor:g} / {pop[key]:,.0f}" + (f" x {per:,}" if per > 1 else ""),
                     "Per resident": f"{value:.2f} {_(label)}"})
    heads = {"Province": _("Province"), "Year": _("Year"), "Fact": _("Fact"), "Reported": _("Reported"),
             "Population (万人)": _("Population (万人)"), "Conversion": _("Conversion"),
             "Per resident": _("Per resident")}
    out = pd.DataFrame(rows).drop_duplicates(["Province", "Year", "Reported"]).reset_index(drop=True)
    return out.rename(columns=heads) if len(out) else out


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
            name = (_("China") if geo == "China" else provinces.chinese(geo)) if is_zh() else (
                geo if geo == "China" else provinces.chinese(geo) + " " + geo)
            what.append(f"{name}: {_label(ind) if is_zh() else _label(ind).lower()} ({span})")
        if g["indicator"].eq("resident_population").all():
            what = [_("year-end resident population, {n} provinces, {y0}-{y1}").format(
                n=g["geography"].nunique(), y0=g["year"].min(), y1=g["year"].max())]
        rows.append({_("Address"): addr, _("What was read there"): "; ".join(what)})
    if facts_shown is not None and len(facts_shown):
        f = facts_shown.assign(where=[pg if isinstance(pg, str) and pg else src
                                      for pg, src in zip(facts_shown["page"], facts_shown["source"], strict=True)])
        for where, g in f.groupby("where", sort=True):
            kind = _("seed document") if where.endswith(".txt") else _("page named in public_figures.md")
            rows.append({_("Address"): where, _("What was read there"): _("{kind}: facts {ids}").format(
                kind=kind, ids=", ".join(sorted(g["fact_id"])))})
    return pd.DataFrame(rows)


def intro() -> str:
    n = national_counts()
    return _(
        "This chapter shows only **observed** figures: values printed in public statistical bulletins, "
        "yearbook tables and the National Bureau of Statistics (NBS) population series, each with the address "
        "where it was read (the sources table at the end). It uses none of the teaching panel's values. It "
        "draws the national series as far as they are published: total visits in {visits} of the "
        "16 years 2010-2025, GPs per 10,000 residents in {gps}, physicians per 1,000 residents "
        "in {physicians}, and the primary-care share of visits in only "
        "{share}. Missing years are left as gaps: no line is drawn across them and "
        "no value is interpolated. No reform effect is estimated here: a national series with one pilot "
        "year and a handful of provincial fragments cannot carry an estimate."
    ).format(visits=n["total_visits"], gps=n["gps_per_10000"], physicians=n["physicians_per_1000"],
             share=n["primary_care_visit_share"])


def cautions() -> str:
    return _(
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
    parts = [f"{_province(r.province)} {r.year}, {r.basis}" for r in events.itertuples(index=False)
             if r.province != "national"]
    return _("Reform timeline drawn on the figures: the national tight county medical community pilot (2019, "
             "the National Health Commission notice of 2019-05-28) and the case provinces' reform years as the "
             "case chapters use them: {events}. A year marked *assumed* is a setting of the case, "
             "not a reported date. Lines on a national series only mark when reforms began; the national figures "
             "cannot say what any one province's reform did.").format(events="; ".join(parts))
