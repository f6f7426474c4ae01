"""The real published series the project ships: national visits, GPs, physicians, the primary-care share,
Beijing's 2012-2016 visits, and the year-end resident population of the 31 provinces.

Two committed files, made from ``../shared/reference/real-data/figures.csv`` by :func:`build` (run
``python -m primarycare.data.real`` to regenerate them):

* ``data/real/series.csv``: ``geography, year, indicator, value, unit, status, source``: one row per
  geography, year and indicator, in the vocabulary's unit (``data/indicators.csv``), ``status =
  observed``, ``source`` = the address where the figure was read;
* ``data/real/register.csv``: the same rows with the figure as published (``published_value``,
  ``published_unit``), its ``kind`` (reported, or derived by arithmetic the excerpt shows), the verbatim
  ``excerpt`` that prints it, and a ``note`` (the cautions of the real-data README).

Selection (:func:`build`): a reported figure is preferred to a derived one; among equals, the address of
the repository compilation of the National Health Commission bulletins (``github:...``) is preferred, as
the real-data README advises (so China's 2019 visits are the bulletin's 87.2亿, not the communiqué's
preliminary 85.2亿). Provincial population is the NBS series (one address) from 2010 on, never spliced
with provincial communiqué values (the series breaks at 2010, a census revision). Gaps stay gaps: nothing
is interpolated. The township + community centres share (``thc_chc_outpatient_share``) is not the
primary-care share (it leaves out village clinics) and is not shipped as one.

National rows (geography ``China``) never enter the provincial panel (:func:`primarycare.data.load_panel`);
provincial population joins it only as the ``resident_population`` indicator, a denominator.
"""

from __future__ import annotations

import math
import re
import sys
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..errors import UserInputError
from ..paths import DATA, REFERENCE
from . import indicators, provinces

SERIES_FILE = DATA / "real" / "series.csv"
REGISTER_FILE = DATA / "real" / "register.csv"
FIGURES_FILE = REFERENCE / "real-data" / "figures.csv"
SERIES_COLUMNS = ["geography", "year", "indicator", "value", "unit", "status", "source"]
REGISTER_COLUMNS = ["geography", "year", "indicator", "value", "unit", "published_value", "published_unit", "kind",
                    "address", "excerpt", "note"]
POPULATION_ADDRESS = "github:pik-piam/PyPSA-China-PIK"
FIRST_POPULATION_YEAR = 2010  # the NBS series breaks at 2010 (census revision)

# figures.csv indicator -> (vocabulary id, which geographies): what is shipped
SHIPPED = {
    "total_visits": ("total_visits", {"China", "Beijing"}),
    "hospital_visits": ("hospital_visits", {"China", "Beijing"}),
    "primary_visits": ("primary_care_visits", {"China", "Beijing"}),
    "primary_visits_share": ("primary_care_visit_share", {"China", "Beijing"}),
    "chc_station_visits": ("community_centre_station_visits", {"Beijing"}),
    "gp_per_10k": ("gps_per_10000", {"China"}),
    "physicians_per_1000": ("physicians_per_1000", {"China"}),
    "resident_population": ("resident_population", None),  # all 31 provinces
}
FACTORS = {"亿人次": 1e8, "万人次": 1e4, "万人": 1e4, "%": 1.0, "per 1000": 1.0, "per 10000": 1.0}
NOTES = {
    ("China", 2019, "total_visits"): "the health bulletin's figure; the statistics communiqué's preliminary "
                                     "figure (85.2亿) differs, and the bulletin is used for the visit series",
}


def _geography(name: str) -> str:
    return "China" if name == "China" else provinces.resolve(name)


def build(figures_path: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(series, register) from ``figures.csv``, by the selection rules of the module docstring."""
    path = Path(figures_path or FIGURES_FILE)
    if not path.exists():
        raise UserInputError(f"The real-data figures {path} do not exist; they are in ../shared/reference/"
                             "real-data/figures.csv beside the clone (or set PRIMARYCARE_REFERENCE).")
    f = pd.read_csv(path, dtype={"excerpt": str, "address": str}, keep_default_na=False)
    f = f[f["indicator"].isin(SHIPPED)].copy()
    f["row"] = range(len(f))
    keep = []
    for r in f.itertuples(index=False):
        vocab, geos = SHIPPED[r.indicator]
        if r.indicator == "resident_population":
            ok = r.address.startswith(POPULATION_ADDRESS) and int(r.year) >= FIRST_POPULATION_YEAR
        else:
            ok = r.geography in geos
        if ok and r.unit in FACTORS:
            keep.append(r.row)
    f = f[f["row"].isin(keep)].copy()
    f["geography"] = f["geography"].map(_geography)
    f["vocab"] = f["indicator"].map(lambda i: SHIPPED[i][0])
    f["rank_kind"] = (f["kind"] != "reported").astype(int)
    f["rank_addr"] = (~f["address"].str.startswith("github:")).astype(int)
    f = f.sort_values(["geography", "vocab", "year", "rank_kind", "rank_addr", "row"], kind="stable")
    f = f.drop_duplicates(["geography", "vocab", "year"], keep="first")
    values = []
    for r in f.itertuples(index=False):
        factor = FACTORS[r.unit]
        v = float(r.value) * factor
        values.append(round(v) if factor > 1 else round(v, 6))
    register = pd.DataFrame({
        "geography": f["geography"], "year": f["year"].astype(int), "indicator": f["vocab"], "value": values,
        "unit": f["vocab"].map(indicators.unit), "published_value": f["value"].astype(float),
        "published_unit": f["unit"], "kind": f["kind"], "address": f["address"], "excerpt": f["excerpt"],
        "note": [NOTES.get((g, int(y), i), "") for g, y, i in zip(f["geography"], f["year"], f["vocab"],
                                                                    strict=True)],
    })
    order = register["geography"].ne("China").astype(int)
    register = register.assign(_o=order).sort_values(["_o", "geography", "indicator", "year"], kind="stable")
    register = register.drop(columns="_o").reset_index(drop=True)
    series = register.assign(status="observed", source=register["address"])[SERIES_COLUMNS]
    return series, register[REGISTER_COLUMNS]


@lru_cache(maxsize=1)
def _series() -> pd.DataFrame:
    return pd.read_csv(SERIES_FILE, encoding="utf-8", dtype={"year": "int64", "value": "float64"})


def load_series(geography: str | None = None, indicator: str | None = None) -> pd.DataFrame:
    """The shipped real series (``data/real/series.csv``), optionally one geography (``China`` or a province,
    any spelling) and one indicator. All rows are ``observed``; ``source`` is the address."""
    df = _series()
    if geography is not None:
        df = df[df["geography"] == _geography(geography)]
    if indicator is not None:
        df = df[df["indicator"] == indicators.check(indicator)]
    return df.reset_index(drop=True)


def load_register() -> pd.DataFrame:
    """The register of the shipped series: published value and unit, kind, address, verbatim excerpt."""
    return pd.read_csv(REGISTER_FILE, encoding="utf-8", keep_default_na=False,
                       dtype={"year": "int64", "value": "float64", "published_value": "float64"})


def national(indicator: str) -> pd.DataFrame:
    """One national series (year, value, unit, source), gaps left as gaps."""
    return load_series("China", indicator)[["year", "value", "unit", "source"]]


@lru_cache(maxsize=1)
def _population() -> pd.DataFrame:
    df = _series()
    pop = df[df["indicator"] == "resident_population"].rename(columns={"geography": "province"})
    return pop[["province", "year", "indicator", "value", "unit", "status", "source"]].reset_index(drop=True)


def real_population() -> pd.DataFrame:
    """Year-end resident population of the 31 provinces (persons), 2010-2024, as observed panel rows."""
    return _population().copy()


_NOT_ARITHMETIC = re.compile(r"[^0-9.+\-*/() ]")


def printed(excerpt: str) -> list[float]:
    """Numbers printed in an excerpt, read both with and without thousands commas (CSV excerpts such as
    ``Tibet,365,371`` separate values by commas)."""
    from .facts import numbers_in

    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", excerpt)] + numbers_in(excerpt)


def derived_value(excerpt: str) -> float | None:
    """The arithmetic written after ``derived:`` in an excerpt (Chinese labels dropped), or None when it
    names no number other than 100 (``primary_visits/total_visits*100 from the same table``)."""
    from .facts import evaluate

    m = re.search(r"derived:\s*([^;]*)", excerpt)
    if not m:
        return None
    expr = _NOT_ARITHMETIC.sub("", m.group(1)).strip()
    operands = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", expr) if float(x) != 100]
    return evaluate(expr) if operands else None


def check_register(register: pd.DataFrame) -> pd.DataFrame:
    """Rows of the register failing the facts-register check, with a ``problem`` column (empty if none).

    A reported row fails when its published value is not printed in its excerpt; a derived row when the
    arithmetic in its excerpt does not round to it (a share derived "from the same table" is recomputed
    from the register's own counts for that place and year); every row when ``value`` is not the
    published value in the vocabulary's unit.
    """
    from .facts import _decimals

    counts = register.set_index(["geography", "indicator", "year"])["published_value"]
    problems = []
    for r in register.itertuples(index=False):
        problem = ""
        factor = FACTORS.get(r.published_unit)
        if factor is None or abs(r.published_value * factor - r.value) > 1e-6 * (1 + abs(r.value)):
            problem = f"value {r.value:g} is not {r.published_value:g} {r.published_unit} in {r.unit}"
        elif r.kind == "reported":
            if not any(math.isclose(n, r.published_value, abs_tol=1e-9) for n in printed(r.excerpt)):
                problem = f"{r.published_value:g} not printed in the excerpt"
        else:
            v = derived_value(r.excerpt)
            if v is None and r.indicator == "primary_care_visit_share":
                try:
                    v = (counts[(r.geography, "primary_care_visits", r.year)]
                         / counts[(r.geography, "total_visits", r.year)] * 100)
                except KeyError:
                    v = None
            if v is None:
                problem = "derived without arithmetic or the counts it was derived from"
            elif abs(v - r.published_value) > 0.5 * 10 ** -_decimals(r.published_value) + 1e-9:
                problem = f"the arithmetic gives {v:.6g}, which does not round to {r.published_value:g}"
        problems.append(problem)
    out = register.assign(problem=problems)
    return out[out["problem"] != ""].reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    """Regenerate ``data/real/series.csv`` and ``data/real/register.csv`` from figures.csv."""
    from ..files import atomic_write

    args = list(sys.argv[1:] if argv is None else argv)
    series, register = build(args[0] if args else None)
    for df, target in ((series, SERIES_FILE), (register, REGISTER_FILE)):
        with atomic_write(target) as fh:
            df.to_csv(fh, index=False, lineterminator="\n")
        print(f"{target}: {len(df)} rows")
    return 0


if __name__ == "__main__":
    from ..cli import run

    run(main)
