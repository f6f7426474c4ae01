"""Loading the project's data: the panel, the planted truth, the reform events and the facts register.

``load_panel()`` is what every analysis reads: the simulated teaching panel (``data/panel/simulated.csv``)
with observed values (``data/panel/observed.csv``, made by ``python -m primarycare import``) replacing the
simulated ones for the same province, year and indicator. The ``status`` column says which is which.

Outcomes that were not imported themselves are derived from imported counts by :func:`derive`, with the
formulas of ``data/derivations.csv`` (defined there once): the primary-care share of visits from the
visit counts, staff per 1,000 and GPs per 10,000 from the head counts and the year-end resident
population. A derived value is ``observed`` only if all its inputs are, and its ``source`` names them.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..errors import UserInputError
from ..paths import DATA, PANEL_DIR
from . import indicators as _indicators
from . import provinces

PANEL_COLUMNS = ["province", "year", "indicator", "value", "unit", "status", "source"]
KEY = ["province", "year", "indicator"]
SIMULATED_FILE = PANEL_DIR / "simulated.csv"
TRUTH_FILE = PANEL_DIR / "truth.csv"
OBSERVED_FILE = PANEL_DIR / "observed.csv"
POLICIES_FILE = DATA / "policies.csv"
DERIVATIONS_FILE = DATA / "derivations.csv"
CERTAINTY = ("stated", "inferred", "unknown")


def _read_csv(path: Path, what: str, regenerate: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"The {what} file {path} does not exist. {regenerate}") from None


@lru_cache(maxsize=2)
def _simulated(path: str) -> pd.DataFrame:
    return _read_csv(Path(path), "simulated panel", "Regenerate it with `python scripts/simulate_panel.py`.")


def _observed(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    df = pd.read_csv(path, encoding="utf-8")
    return df if len(df) else None


def merge_observed(simulated: pd.DataFrame, observed: pd.DataFrame | None) -> pd.DataFrame:
    """Replace simulated rows by observed rows with the same (province, year, indicator); add the rest."""
    if observed is None or observed.empty:
        return simulated.copy()
    obs = observed[PANEL_COLUMNS]
    keys = pd.MultiIndex.from_frame(obs[KEY])
    sim = simulated[~pd.MultiIndex.from_frame(simulated[KEY]).isin(keys)]
    out = pd.concat([sim, obs], ignore_index=True)
    return out.sort_values(KEY, kind="stable").reset_index(drop=True)


def load_panel(observed: bool = True, panel_path: str | Path | None = None, derived: bool = True,
               population: bool = False) -> pd.DataFrame:
    """The panel every analysis uses (long: province, year, indicator, value, unit, status, source).

    With ``observed`` (default) imported values in ``data/panel/observed.csv`` replace simulated ones.
    ``panel_path`` names a user's own tidy CSV, yearbook table or NBS export, validated and used (for this
    call only) on top of the shipped panel, so its values replace simulated or imported ones.
    With ``derived`` (default) outcomes not imported themselves are derived from imported counts
    (:func:`derive`); the year-end resident population comes from the imported values, else from the
    shipped real NBS series (``data/real/series.csv``). ``population`` adds the shipped population rows
    themselves (indicator ``resident_population``, not an analysed outcome).
    """
    panel = _simulated(str(SIMULATED_FILE)).copy()
    if observed:
        panel = merge_observed(panel, _observed(OBSERVED_FILE))
    if panel_path is not None:
        from .importer import read_any

        user = read_any(panel_path)
        panel = merge_observed(panel, user)
    if derived and (observed or panel_path is not None):
        panel = derive(panel)
    if population:
        from .real import real_population

        pop = real_population()
        have = pd.MultiIndex.from_frame(panel[KEY])
        panel = pd.concat([panel, pop[~pd.MultiIndex.from_frame(pop[KEY]).isin(have)]], ignore_index=True)
    return panel.sort_values(KEY, kind="stable").reset_index(drop=True)


@lru_cache(maxsize=1)
def derivations() -> pd.DataFrame:
    """The derived outcomes (``data/derivations.csv``): outcome = numerator / denominator x multiplier."""
    d = pd.read_csv(DERIVATIONS_FILE, encoding="utf-8")
    for row in d.itertuples(index=False):
        for col in ("outcome", "numerator", "denominator"):
            _indicators.check(getattr(row, col))
    return d


def derive(panel: pd.DataFrame, population: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add each outcome of ``data/derivations.csv`` wherever its inputs are in ``panel`` and no observed
    value of the outcome itself is (an imported outcome always wins over a derived one).

    A derived row is ``observed`` only if both inputs are observed (otherwise ``simulated``, and then it
    only fills a gap); its ``source`` is ``derived from <numerator> (<its source>) and <denominator> (<its
    source>)``. The denominator ``resident_population`` is taken from ``panel`` where present, else from
    ``population`` (default: the shipped real NBS series, :func:`primarycare.data.real.real_population`).
    Values are rounded to 6 decimals. Returns a new panel; ``panel`` is not changed.
    """
    defs = derivations()
    pieces = []
    pop = None
    for d in defs.itertuples(index=False):
        num = panel[panel["indicator"] == d.numerator]
        if num.empty:
            continue
        den = panel[panel["indicator"] == d.denominator]
        if d.denominator == "resident_population":
            if pop is None:
                if population is None:
                    from .real import real_population

                    population = real_population()
                pop = population
            extra = pop[~pop.set_index(["province", "year"]).index.isin(den.set_index(["province", "year"]).index)]
            den = pd.concat([den, extra], ignore_index=True)
        j = num.merge(den, on=["province", "year"], suffixes=("_n", "_d"))
        j = j[j["value_d"] > 0]
        if j.empty:
            continue
        observed = (j["status_n"] == "observed") & (j["status_d"] == "observed")
        out = pd.DataFrame({
            "province": j["province"], "year": j["year"], "indicator": d.outcome,
            "value": (j["value_n"] / j["value_d"] * float(d.multiplier)).round(6),
            "unit": _indicators.unit(d.outcome),
            "status": observed.map({True: "observed", False: "simulated"}),
            "source": (f"derived from {d.numerator} (" + j["source_n"] + f") and {d.denominator} ("
                       + j["source_d"] + ")"),
        })
        pieces.append(out)
    if not pieces:
        return panel.copy()
    new = pd.concat(pieces, ignore_index=True)
    key = pd.MultiIndex.from_frame(panel[KEY])
    have_obs = pd.MultiIndex.from_frame(panel.loc[panel["status"] == "observed", KEY])
    new_key = pd.MultiIndex.from_frame(new[KEY])
    # an imported (observed) outcome wins; a derived observed value replaces a simulated one; a derived
    # simulated value only fills a gap
    new = new[~new_key.isin(have_obs) & ((new["status"] == "observed").to_numpy() | ~new_key.isin(key))]
    replaced = key.isin(pd.MultiIndex.from_frame(new[KEY]))
    out = pd.concat([panel[~replaced], new[PANEL_COLUMNS]], ignore_index=True)
    return out.sort_values(KEY, kind="stable").reset_index(drop=True)


def load_truth() -> pd.DataFrame:
    """The planted reform effects of the simulated panel (``data/panel/truth.csv``)."""
    return _read_csv(TRUTH_FILE, "truth", "Regenerate it with `python scripts/simulate_panel.py`.")


@lru_cache(maxsize=1)
def _policies() -> pd.DataFrame:
    df = pd.read_csv(POLICIES_FILE, encoding="utf-8", dtype={"start_year": "Int64"})
    for i, row in enumerate(df.itertuples(index=False), start=2):
        where = f"data/policies.csv, line {i} (id {row.id!r})"
        if row.province != "national":
            try:
                provinces.resolve(row.province)
            except UserInputError as e:
                raise UserInputError(f"{where}, column province: {e}") from None
        if row.certainty not in CERTAINTY:
            raise UserInputError(f"{where}, column certainty: {row.certainty!r} is not one of "
                                 f"{', '.join(CERTAINTY)}.")
        unknown_year = pd.isna(row.start_year)
        if unknown_year != (row.certainty == "unknown"):
            raise UserInputError(f"{where}: start_year must be empty exactly when certainty is 'unknown' "
                                 f"(found start_year={row.start_year!r}, certainty={row.certainty!r}).")
    if df["id"].duplicated().any():
        dup = df.loc[df["id"].duplicated(), "id"].iloc[0]
        raise UserInputError(f"data/policies.csv: the id {dup!r} appears more than once; ids must be unique.")
    return df


def load_policies() -> pd.DataFrame:
    """Reform events (``data/policies.csv``), validated: provinces resolve, certainty is stated /
    inferred / unknown, and start_year is empty exactly when certainty is unknown."""
    return _policies().copy()


def policy(reform_id: str) -> pd.Series:
    """One reform event by id; an unknown id raises an error listing the known ids."""
    df = _policies().set_index("id")
    if reform_id not in df.index:
        raise UserInputError(f"Unknown reform id {reform_id!r}. Known ids (data/policies.csv): "
                             + ", ".join(df.index) + ".")
    return df.loc[reform_id]


def load_facts() -> pd.DataFrame:
    """The facts register (``data/facts.csv``), re-exported from :mod:`primarycare.facts`."""
    from .facts import load_facts as _load_facts

    return _load_facts()


def wide(panel: pd.DataFrame, indicators: Iterable[str] | None = None) -> pd.DataFrame:
    """Province-year rows with one column per indicator plus ``<indicator>_status``."""
    df = panel
    if indicators is not None:
        wanted = [_indicators.check(i) for i in indicators]
        df = df[df["indicator"].isin(wanted)]
    values = df.pivot(index=["province", "year"], columns="indicator", values="value")
    status = df.pivot(index=["province", "year"], columns="indicator", values="status")
    status.columns = [f"{c}_status" for c in status.columns]
    out = pd.concat([values, status], axis=1)
    order = [c for pair in zip(values.columns, status.columns, strict=True) for c in pair]
    out = out[order].reset_index()
    out.columns.name = None
    return out


def status_summary(panel: pd.DataFrame, province: str | None = None) -> pd.DataFrame:
    """Counts of observed and simulated values by province and indicator (with year ranges)."""
    df = panel
    if province is not None:
        df = df[df["province"] == provinces.resolve(province)]
    g = df.groupby(["province", "indicator", "status"])["year"]
    out = g.agg(n="count", first_year="min", last_year="max").reset_index()
    return out
