"""The simulated teaching panel, a one-reform Monte Carlo simulator and a staggered-adoption simulator.

Nothing produced here is data about China: every value has ``status = "simulated"``. The settings live
in ``data/simulation.yml`` (all of them simulation settings except the calibration targets, which are
quoted there with their sources).

Data-generating process of :func:`simulate_panel` (province p, year t; one indicator at a time)
---------------------------------------------------------------------------------------------
Every indicator is additive IN LEVELS, the scale the chapters analyse::

    y_pt = m_t + a_p + s_t + u_pt + tau_pt

* ``m_t`` common national trend (calibrated, below); ``a_p`` province effect, drawn ``N(0, province_sd)``
  truncated at 3 sd (so every province stays in range);
* ``s_t`` a common shock in 2020 only (``shock_2020``; a simulation setting);
* ``u_pt = rho * u_p,t-1 + e_pt``, ``e_pt ~ N(0, noise_sd)``, ``u_p,2010`` drawn from the stationary
  distribution (AR(1) serially correlated noise);
* ``tau_pt`` the planted reform effect: ``full_effect * min(1, (t - start + 1) / buildup_years)`` for
  ``t >= start``, 0 before (sizes, build-up and assumed start years from ``data/simulation.yml``).
  National reforms are not planted: they move every province and sit in ``m_t``.

So with the planted effects removed every province has the same expected change between any two years:
parallel trends hold in levels by construction, and there are no province-specific trends. (An earlier
version made staff and GPs multiplicative, ``exp(m_t + a_p + u)``, so a province's level predicted its
change and parallel trends failed in levels by construction.)

Parallel trends violated on purpose (``parallel_trends: false`` in the yml, or
``simulate_panel(..., parallel_trends=False)``), for the primer's "when parallel trends fail" lesson::

    y_pt = m_t + a_p + s_t + u_pt + tau_pt + divergence_per_year * (a_p - mean(a)) / province_sd * (t - t0)

with ``t0`` the first simulated year: provinces with higher levels rise faster. The extra term has
mean zero over provinces, so the national calibration is unchanged. The default panel files are written
with parallel trends holding.

Calibration (deterministic given the seed). The national value is the UNWEIGHTED mean over the 31
provinces (the project has no population figures to weight by). At each national target year ``m_t``
is solved so the national value equals the target exactly; between target years ``m_t`` is interpolated
and beyond them extrapolated with the slope of the nearest segment, linearly in levels
(``trend_shape: linear``, the share) or in logs (``log-linear``, GPs, so the extrapolated 2010 level
stays positive). The province effects of provinces with targets are solved so the province passes
through its targets (least squares over its target years); the two steps are iterated to a fixed point.

Calibration rule: a province target must be a level BEFORE every reform planted in that province
(:func:`calibration_targets` refuses anything else). A reported level in or after a planted reform
contains the planted effect, so calibrating through it would choose the effect to reproduce the report;
such figures are kept in the yml under ``reported_not_calibrated`` with the reason. Planted effect sizes
are simulation settings and are never chosen to reproduce a reported figure. Calibration always uses the
default planted effects, so ``simulate_panel(effects=X).panel - simulate_panel(effects=None).panel``
equals the truth table of ``X`` exactly.

Calibration targets (value, year, source) and tolerances checked in ``tests/test_simulate.py``:

* primary-care share of visits, national: 57.4% (2014; derived in public_figures.md from the 2015
  bulletin's 56.4% and "比上年减少1.0个百分点"), 56.4% (2015), 50.2% (2021), NHC statistical bulletins
  as listed in public_figures.md. Tolerance 0.05 pp.
* Beijing share 29.92, 30.09, 28.93, 28.07, 27.99% in 2012-2016 (public_figures.md, derived from the
  Beijing public health information centre's visit counts; no reform is planted in Beijing). Tolerance
  2.0 pp each year (Beijing's reported series is flatter than the national trend, which Beijing follows
  under parallel trends, so the fit is a level fit).
* Chongqing share 50.72% in 2019 (seed 000, derived: 54.73% in 2022, "较2019年提高4.01个百分点"), a
  level before the planted chongqing_ccmc_2020 (2020). Tolerance 2.0 pp. NOT calibrated: 54.73% (2022),
  after the planted reform.
* general practitioners per 10,000, national: 1.38 (2015), 2.61 (2019), 3.08 (2021), 3.28 (2022),
  3.99 (2023) (public_figures.md). Tolerance 0.05. NOT calibrated: Jiangsu 5.38 (2022, seed 000), after
  the reform planted in Jiangsu (jiangsu_first_contact, assumed 2017).
* primary-care staff per 1,000 residents: NO observed calibration figure (no population figures). The
  level is illustrative (3.0 per 1,000 in 2015, a simulation setting); its growth follows the reported
  national head count 360.3万 (2015) -> 455.1万 (2022) (public_figures.md).

Before the first target year the trend is an extrapolation (a simulation assumption, not data).

:func:`simulate_one_reform` draws many small panels with one treated province and a known constant
effect (Monte Carlo of the case pipeline); :func:`simulate_staggered` draws staggered-adoption panels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..errors import UserInputError
from ..paths import DATA
from . import provinces

FLOAT_FORMAT = "%.6f"  # written panels: six decimals, stable across platforms

CONFIG_FILE = DATA / "simulation.yml"
SHOCK_YEAR = 2020
PANEL_INDICATORS = ("primary_care_visit_share", "primary_care_staff_per_1000", "gps_per_10000")
TRUTH_COLUMNS = ["reform_id", "province", "indicator", "year", "effect", "start_year", "full_effect",
                 "buildup_years", "start_year_basis"]
EFFECT_COLUMNS = ["reform_id", "province", "indicator", "start_year", "full_effect", "buildup_years"]
_INDICATOR_OFFSET = {ind: i for i, ind in enumerate(PANEL_INDICATORS)}


@lru_cache(maxsize=4)
def _config_cached(path: str) -> dict[str, Any]:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"The simulation settings file {path} does not exist.") from None
    except yaml.YAMLError as e:
        raise UserInputError(f"The simulation settings file {path} is not valid YAML: {e}") from None


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """The simulation settings (``data/simulation.yml``)."""
    return _config_cached(str(path or CONFIG_FILE))


def _units() -> dict[str, str]:
    from .indicators import unit

    return {ind: unit(ind) for ind in PANEL_INDICATORS}


def default_effects(config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The planted effects of ``data/simulation.yml`` as a table (one row per reform and indicator).

    Columns: reform_id, province, indicator, start_year, full_effect, buildup_years, start_year_basis
    (``policy (stated)``, ``policy (inferred)`` or ``assumed in simulation``).
    """
    cfg = config or load_config()
    pol = pd.read_csv(DATA / "policies.csv").set_index("id")
    rows = []
    for rid, spec in (cfg.get("effects") or {}).items():
        if rid not in pol.index:
            raise UserInputError(f"data/simulation.yml, effects: {rid!r} is not an id in data/policies.csv.")
        row = pol.loc[rid]
        if row["province"] == "national":
            raise UserInputError(f"data/simulation.yml, effects: {rid!r} is a national reform; national "
                                 "reforms are common shocks, not planted province effects.")
        if spec["start_year"] == "policy":
            if pd.isna(row["start_year"]):
                raise UserInputError(f"data/simulation.yml, effects: {rid!r} has start_year 'policy' but its "
                                     "start year is unknown in data/policies.csv; give an assumed year and a "
                                     "start_year_reason.")
            start, basis = int(row["start_year"]), f"policy ({row['certainty']})"
        else:
            if not spec.get("start_year_reason"):
                raise UserInputError(f"data/simulation.yml, effects: {rid!r} sets start_year "
                                     f"{spec['start_year']} without a start_year_reason.")
            start, basis = int(spec["start_year"]), "assumed in simulation"
        for ind, size in spec["full_effect"].items():
            rows.append({"reform_id": rid, "province": provinces.resolve(row["province"]), "indicator": ind,
                         "start_year": start, "full_effect": float(size),
                         "buildup_years": int(spec["buildup_years"]), "start_year_basis": basis})
    return pd.DataFrame(rows)


def _check_effects(effects: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in EFFECT_COLUMNS if c not in effects.columns]
    if missing:
        raise UserInputError(f"The effects table passed to simulate_panel lacks column(s) {', '.join(missing)}; "
                             f"expected {', '.join(EFFECT_COLUMNS)}.")
    out = effects.copy()
    out["province"] = [provinces.resolve(p) for p in out["province"]]
    bad = sorted(set(out["indicator"]) - set(PANEL_INDICATORS))
    if bad:
        raise UserInputError(f"The effects table names indicator {bad[0]!r}; the simulated panel has "
                             f"{', '.join(PANEL_INDICATORS)}.")
    if (out["buildup_years"] < 1).any():
        raise UserInputError("The effects table has buildup_years below 1; use 1 for an immediate effect.")
    if "start_year_basis" not in out.columns:
        out["start_year_basis"] = "user"
    return out


def effect_path(years: np.ndarray, start: Any, full: Any, buildup: Any) -> np.ndarray:
    """Planted effect in each year: 0 before ``start``, then a linear build-up to ``full``. Arrays broadcast:
    ``years[None, :]`` with column vectors of starts, sizes and build-ups give one row per reform."""
    k = np.clip((years - start + 1) / buildup, 0.0, 1.0)
    return full * k


def truth_table(effects: pd.DataFrame, years: Iterable[int]) -> pd.DataFrame:
    """The long truth table (one row per reform, indicator and year) for an effects table: each reform's
    rows in the order of ``effects``, its years in order, the effect from :func:`effect_path` (built for
    all reforms at once: the primer draws a panel fifty times)."""
    years_arr = np.asarray(list(years))
    if len(effects) == 0:
        return pd.DataFrame(columns=TRUTH_COLUMNS)
    n, t = len(effects), len(years_arr)
    start = effects["start_year"].to_numpy().astype(int)
    full = effects["full_effect"].to_numpy().astype(float)
    build = effects["buildup_years"].to_numpy().astype(int)
    return pd.DataFrame({
        "reform_id": np.repeat(effects["reform_id"].to_numpy(), t),
        "province": np.repeat(effects["province"].to_numpy(), t),
        "indicator": np.repeat(effects["indicator"].to_numpy(), t), "year": np.tile(years_arr, n),
        "effect": effect_path(years_arr[None, :], start[:, None], full[:, None], build[:, None]).ravel(),
        "start_year": np.repeat(start, t),
        "full_effect": np.repeat(full, t), "buildup_years": np.repeat(build, t),
        "start_year_basis": np.repeat(effects["start_year_basis"].to_numpy(), t),
    })[TRUTH_COLUMNS]


def _effect_matrix(effects: pd.DataFrame | None, indicator: str, provs: list[str],
                   years: np.ndarray) -> np.ndarray:
    """Planted effect of ``indicator`` by province (rows, in the order of ``provs``) and year: the sum of
    the :func:`effect_path` of its reforms, added in the order of ``effects``."""
    mat = np.zeros((len(provs), len(years)))
    if effects is None or len(effects) == 0:
        return mat
    sel = effects["indicator"].to_numpy() == indicator
    if not sel.any():
        return mat
    idx = {p: i for i, p in enumerate(provs)}
    rows = np.array([idx[p] for p in effects["province"].to_numpy()[sel]])
    start = effects["start_year"].to_numpy()[sel].astype(int)
    full = effects["full_effect"].to_numpy()[sel].astype(float)
    build = effects["buildup_years"].to_numpy()[sel].astype(int)
    paths = effect_path(years[None, :], start[:, None], full[:, None], build[:, None])  # one row per reform
    np.add.at(mat, rows, paths)  # unbuffered: a province's reforms are added one after another
    return mat


def _ar1(rng: np.random.Generator, n: int, t: int, rho: float, sd: float) -> np.ndarray:
    """AR(1) noise, n series of length t, started from the stationary distribution."""
    e = rng.standard_normal(size=(n, t)) * sd
    u = np.empty((n, t))
    u[:, 0] = e[:, 0] / np.sqrt(1 - rho**2)
    for j in range(1, t):
        u[:, j] = rho * u[:, j - 1] + e[:, j]
    return u


def _interp_extrap(years: np.ndarray, knots_x: np.ndarray, knots_y: np.ndarray) -> np.ndarray:
    """Linear interpolation through knots, extrapolated with the slope of the nearest segment."""
    if len(knots_x) == 1:
        return np.full(len(years), knots_y[0], dtype=float)
    out = np.interp(years, knots_x, knots_y)
    lo, hi = years < knots_x[0], years > knots_x[-1]
    s0 = (knots_y[1] - knots_y[0]) / (knots_x[1] - knots_x[0])
    s1 = (knots_y[-1] - knots_y[-2]) / (knots_x[-1] - knots_x[-2])
    out[lo] = knots_y[0] + s0 * (years[lo] - knots_x[0])
    out[hi] = knots_y[-1] + s1 * (years[hi] - knots_x[-1])
    return out


def _targets(spec: Mapping[str, Any] | None) -> dict[int, float]:
    return {int(y): float(v["value"]) for y, v in (spec or {}).items()}


def first_planted_start(effects: pd.DataFrame) -> dict[str, tuple[int, str]]:
    """Earliest planted start year in each province, with the reform id: ``{province: (year, reform_id)}``.

    Every planted row counts, whatever its indicator and size: a calibration target must predate all of
    the province's planted reforms (the calibration rule in ``data/simulation.yml``).
    """
    out: dict[str, tuple[int, str]] = {}
    for r in effects.sort_values(["start_year", "reform_id"]).itertuples(index=False):
        out.setdefault(r.province, (int(r.start_year), str(r.reform_id)))
    return out


def calibration_targets(config: Mapping[str, Any] | None = None) -> dict[str, dict[str, dict[int, float]]]:
    """The province calibration targets of ``data/simulation.yml``, checked against the calibration rule.

    Returns ``{indicator: {province: {year: value}}}``. A province target in or after the earliest reform
    planted in that province raises :class:`UserInputError`: a level after a planted reform contains the
    planted effect, so calibrating through it would tune the simulation to reproduce the report (such
    figures belong under ``reported_not_calibrated``, with a reason). National targets are not checked:
    national reforms are not planted, they are part of the common trend.
    """
    cfg = config or load_config()
    first = first_planted_start(default_effects(cfg))
    out: dict[str, dict[str, dict[int, float]]] = {}
    for ind in PANEL_INDICATORS:
        spec = cfg["indicators"][ind]
        out[ind] = {}
        for prov, tg in (spec.get("province_targets") or {}).items():
            key = provinces.resolve(prov)
            targets = _targets(tg)
            for year in sorted(targets):
                if key in first and year >= first[key][0]:
                    start, rid = first[key]
                    raise UserInputError(
                        f"data/simulation.yml, indicators.{ind}.province_targets.{prov}: the target for {year} "
                        f"is in or after {start}, the start of the reform planted in {key} ({rid}). A calibration "
                        "target must be a level before every reform planted in its province; otherwise the "
                        "planted effect would be tuned to reproduce a reported figure. Move it to "
                        "reported_not_calibrated with a reason.")
            out[ind][key] = targets
        for prov, tg in (spec.get("reported_not_calibrated") or {}).items():
            for year, entry in (tg or {}).items():
                if not isinstance(entry, Mapping) or not entry.get("reason"):
                    raise UserInputError(f"data/simulation.yml, indicators.{ind}.reported_not_calibrated.{prov}."
                                         f"{year}: give value, source and the reason it is not a target.")
    return out


def _province_effects(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    """Province effects ``N(0, sd)`` truncated at 3 sd (redrawn beyond), so levels stay in range."""
    z = rng.standard_normal(n)
    bad = np.abs(z) > 3
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 3
    return sd * z


def _trend_from_knots(years: np.ndarray, knot_years: np.ndarray, knots: np.ndarray, shape: str,
                      ind: str) -> np.ndarray:
    if shape == "linear":
        return _interp_extrap(years, knot_years, knots)
    if shape == "log-linear":
        if np.any(knots <= 0):
            raise UserInputError(f"data/simulation.yml, indicators.{ind}: trend_shape log-linear needs a positive "
                                 "common level at every national target year; use trend_shape: linear.")
        return np.exp(_interp_extrap(years, knot_years, np.log(knots)))
    raise UserInputError(f"data/simulation.yml, indicators.{ind}: trend_shape must be 'linear' or 'log-linear', "
                         f"got {shape!r}.")


def _simulate_indicator(ind: str, spec: Mapping[str, Any], provs: list[str], years: np.ndarray,
                        rng: np.random.Generator, calib_eff: np.ndarray, prov_t: Mapping[str, dict[int, float]],
                        parallel_trends: bool = True, noise_scale: float = 1.0) -> np.ndarray:
    """Baseline (no planted effects) matrix provinces x years, calibrated with ``calib_eff`` planted.

    Additive in levels: ``m_t + a_p + s_t + u_pt`` (+ the divergent trends ``d_pt`` when
    ``parallel_trends`` is False). See the module docstring.
    """
    n, t = len(provs), len(years)
    sd = float(spec["province_sd"])
    a = _province_effects(rng, n, sd)
    u = _ar1(rng, n, t, float(spec["rho"]), float(spec["noise_sd"]) * noise_scale)
    shock = np.where(years == SHOCK_YEAR, float(spec.get("shock_2020", 0.0)), 0.0)
    kappa = 0.0 if parallel_trends else float(spec.get("divergence_per_year", 0.0)) / sd
    dt = (years - years[0]).astype(float)
    nat = _targets(spec.get("national_targets"))
    pidx = {p: i for i, p in enumerate(provs)}
    col = {int(y): j for j, y in enumerate(years)}
    fyears = years.astype(float)

    if not nat:  # illustrative trend (staff per 1,000): no national calibration figure exists
        tr = spec["illustrative_trend"]
        g = tr["growth_from"]
        growth = (float(g[2022]) / float(g[2015])) ** (1 / 7)
        m = float(tr["level_2015"]) * growth ** (fyears - 2015)
        a = a - a.mean()  # the trend is the expected unweighted mean level
    nat_years = np.array(sorted(y for y in nat if y in col))
    for _ in range(500):
        a_old = a.copy()
        if nat:
            knots = np.array([nat[y] - shock[col[y]] - calib_eff[:, col[y]].mean() - a.mean() - u[:, col[y]].mean()
                              for y in nat_years])
            m = _trend_from_knots(fyears, nat_years.astype(float), knots, spec.get("trend_shape", "linear"), ind)
        for p, tg in prov_t.items():
            i = pidx[p]
            js = np.array([col[y] for y in tg if y in col])
            if len(js) == 0:
                continue
            vals = np.array([tg[y] for y in tg if y in col])
            div = kappa * (a[i] - a.mean()) * dt[js]
            a[i] = np.mean(vals - m[js] - shock[js] - u[i, js] - calib_eff[i, js] - div)
        if np.max(np.abs(a - a_old)) < 1e-12:
            break
    diverge = kappa * (a - a.mean())[:, None] * dt[None, :]
    return m[None, :] + a[:, None] + shock[None, :] + u + diverge


@dataclass
class SimulatedPanel:
    """A simulated panel: ``panel`` (long), ``truth`` (planted effects, long), ``seed``, ``effects``.

    ``parallel_trends`` says whether the baseline satisfies parallel trends in levels (the default) or
    carries the deliberate province-specific trends of the "when parallel trends fail" lesson.
    """

    panel: pd.DataFrame
    truth: pd.DataFrame
    seed: int
    effects: pd.DataFrame | None
    parallel_trends: bool = True

    def wide(self) -> pd.DataFrame:
        """One row per province-year, one column per indicator (plus ``<indicator>_status``)."""
        from .panel import wide

        return wide(self.panel)


def _settings_stamp() -> tuple:
    """Which settings files :func:`_file_settings` read, and their versions (path, mtime, size)."""
    from ..files import versions

    return versions(CONFIG_FILE, DATA / "policies.csv", DATA / "provinces.csv")


@lru_cache(maxsize=2)
def _file_settings(stamp: tuple) -> tuple[pd.DataFrame, dict[str, dict[str, dict[int, float]]]]:
    """:func:`default_effects` and :func:`calibration_targets` of the settings file, read and checked once
    per version of the files (a lesson simulates dozens of panels in a loop)."""
    cfg = load_config()
    return default_effects(cfg), calibration_targets(cfg)


def simulate_panel(seed: int = 2024, years: Iterable[int] = range(2010, 2024),
                   effects: str | pd.DataFrame | None = "default",
                   config: Mapping[str, Any] | None = None, parallel_trends: bool | None = None,
                   noise_scale: float = 1.0, indicators: Iterable[str] | None = None) -> SimulatedPanel:
    """Simulate the 31-province teaching panel (see the module docstring for the DGP and calibration).

    ``effects="default"`` plants the effects of ``data/simulation.yml``; ``None`` plants none (for size
    checks under the null); a DataFrame with columns reform_id, province, indicator, start_year,
    full_effect, buildup_years plants those instead. ``parallel_trends`` (default: the ``parallel_trends``
    setting of the config, True) set to False adds province-specific linear trends correlated with the
    level, so parallel trends fail on purpose (the primer's lesson); the source column says so.
    ``noise_scale`` multiplies every AR(1) innovation sd (0 gives the noise-free expected paths of the
    same simulated world: same province effects, same calibration). Deterministic given ``seed``.
    ``indicators`` draws only those of :data:`PANEL_INDICATORS` (and their planted truth): each indicator
    has a random stream of its own, so its values are the ones the full panel has (a lesson that draws
    dozens of panels of one outcome skips the others).
    """
    cfg = config or load_config()
    years_arr = np.asarray(list(years), dtype=int)
    if len(years_arr) < 2 or np.any(np.diff(years_arr) != 1):
        raise UserInputError(f"simulate_panel: years must be consecutive (at least two), got {list(years_arr)}.")
    if not (np.isfinite(noise_scale) and noise_scale >= 0):
        raise UserInputError(f"simulate_panel: noise_scale must be a number >= 0 (1 = the configured noise), "
                             f"got {noise_scale!r}.")
    if isinstance(indicators, str):
        indicators = [indicators]
    drawn = PANEL_INDICATORS if indicators is None else tuple(dict.fromkeys(indicators))
    unknown = [i for i in drawn if i not in PANEL_INDICATORS]
    if unknown or not drawn:
        raise UserInputError(f"simulate_panel: indicators must be some of {', '.join(PANEL_INDICATORS)}, got "
                             f"{', '.join(map(repr, unknown)) if unknown else 'none'}.")
    pt = bool(cfg.get("parallel_trends", True)) if parallel_trends is None else bool(parallel_trends)
    if config is None:  # the settings file: its planted effects and targets do not depend on the seed
        default, prov_targets = _file_settings(_settings_stamp())
        default = default.copy()
    else:
        default, prov_targets = default_effects(cfg), calibration_targets(cfg)
    if isinstance(effects, str):
        if effects != "default":
            raise UserInputError(f"simulate_panel: effects must be 'default', None or a DataFrame, got {effects!r}.")
        planted: pd.DataFrame | None = default
    elif effects is None:
        planted = None
    else:
        planted = _check_effects(effects)
    provs = provinces.names()
    units = _units()
    source = f"simulated: primarycare.simulate seed={seed}"
    if not pt:
        source += " (parallel trends violated on purpose)"
    if noise_scale != 1:
        source += f" noise_scale={noise_scale:g}"
    frames = []
    for ind in (i for i in PANEL_INDICATORS if i in drawn):  # the panel's order, whatever the argument's
        spec = cfg["indicators"][ind]
        rng = np.random.default_rng([int(seed), _INDICATOR_OFFSET[ind]])
        base = _simulate_indicator(ind, spec, provs, years_arr, rng, _effect_matrix(default, ind, provs, years_arr),
                                   prov_targets[ind], parallel_trends=pt, noise_scale=float(noise_scale))
        values = base + _effect_matrix(planted, ind, provs, years_arr)
        frames.append(pd.DataFrame({
            "province": np.repeat(provs, len(years_arr)), "year": np.tile(years_arr, len(provs)),
            "indicator": ind, "value": values.ravel(), "unit": units[ind],
            "status": "simulated", "source": source,
        }))
    panel = pd.concat(frames, ignore_index=True)
    if planted is not None and indicators is not None:
        planted = planted[planted["indicator"].isin(drawn)].reset_index(drop=True)
    truth = truth_table(planted, years_arr) if planted is not None else pd.DataFrame(columns=TRUTH_COLUMNS)
    return SimulatedPanel(panel=panel, truth=truth, seed=int(seed), effects=planted, parallel_trends=pt)


def national(panel: pd.DataFrame) -> pd.DataFrame:
    """The simulation's national value: unweighted mean over provinces, by indicator and year."""
    return panel.groupby(["indicator", "year"], as_index=False)["value"].mean()


# --------------------------------------------------------------------------------------------------
# Generic staggered adoption
# --------------------------------------------------------------------------------------------------

def simulate_staggered(n_units: int = 31, n_periods: int = 14, cohorts: Mapping[int, float] | None = None,
                       n_cohorts: int | None = None, effect: float = 1.0, dynamic: float = 0.0,
                       heterogeneous: bool | Mapping[int, float] = False, never_share: float = 0.3,
                       rho: float = 0.5, sigma: float = 1.0, unit_sd: float = 1.0, trend: float = 0.1,
                       drop_share: float = 0.0, seed: int = 0, start: int = 2010) -> pd.DataFrame:
    """A generic staggered-adoption panel for Monte Carlo checks of DiD estimators.

    ``y_it = alpha_i + lambda_t + tau_it + u_it`` with unit effects ``alpha_i ~ N(0, unit_sd)``, a common
    time path ``lambda_t = trend * (t - start) + N(0, 0.5)`` shocks, AR(1) noise ``u`` (``rho``,
    innovation sd ``sigma``) and treatment effect ``tau_it = effect_g + dynamic * (t - g)`` for
    ``t >= g`` (0 before and for never-treated units). Designs: homogeneous constant effects (defaults),
    dynamic build-up (``dynamic``), cohort-heterogeneous effects (``heterogeneous=True``: earlier cohorts
    get larger effects, averaging ``effect``; or a dict cohort -> effect), unbalanced panels
    (``drop_share`` of unit-periods dropped at random) and the null (``effect=0``). This is the setting
    where two-way fixed effects is biased (Goodman-Bacon 2021; de Chaisemartin and D'Haultfoeuille 2020).

    ``cohorts`` maps first-treated times (calendar, e.g. 2015) to the share of units adopting then; the
    rest are never treated. Otherwise ``n_cohorts`` evenly spaced cohorts share ``1 - never_share``.
    Returns columns unit, time, first_treated (0 = never), treated (0/1), y, true_effect.
    """
    if n_units < 2 or n_periods < 3:
        raise UserInputError(f"simulate_staggered: need n_units >= 2 and n_periods >= 3, got {n_units}, {n_periods}.")
    times = np.arange(start, start + n_periods)
    if cohorts is None:
        k = n_cohorts if n_cohorts is not None else 3
        if k < 1 or not 0 <= never_share < 1:
            raise UserInputError("simulate_staggered: n_cohorts must be >= 1 and never_share in [0, 1).")
        first, last = start + 2, start + n_periods - 2
        gs = np.unique(np.round(np.linspace(first, max(first, last), k)).astype(int))
        cohorts = {int(g): (1 - never_share) / len(gs) for g in gs}
    total = sum(cohorts.values())
    if total > 1 + 1e-9 or any(s < 0 for s in cohorts.values()):
        raise UserInputError(f"simulate_staggered: cohort shares must be >= 0 and sum to at most 1, got {cohorts}.")
    bad = [g for g in cohorts if not start < g <= times[-1]]
    if bad:
        raise UserInputError(f"simulate_staggered: cohort {bad[0]} is outside ({start}, {times[-1]}]: every cohort "
                             "needs at least one pre-period and one treated period.")
    rng = np.random.default_rng(seed)
    gs = sorted(cohorts)
    counts = np.floor(np.array([cohorts[g] for g in gs]) * n_units).astype(int)
    first_treated = np.zeros(n_units, dtype=int)
    first_treated[: counts.sum()] = np.repeat(gs, counts)
    first_treated = rng.permutation(first_treated)

    if isinstance(heterogeneous, Mapping):
        eff_g = {int(g): float(heterogeneous.get(g, effect)) for g in gs}
    elif heterogeneous:
        k = len(gs)
        eff_g = {g: effect * 2 * (k - i) / (k + 1) for i, g in enumerate(gs)}
    else:
        eff_g = {g: effect for g in gs}
    base_eff = np.array([eff_g.get(int(g), 0.0) for g in first_treated])

    alpha = rng.normal(0.0, unit_sd, size=n_units)
    lam = trend * (times - start) + rng.normal(0.0, 0.5, size=n_periods)
    u = _ar1(rng, n_units, n_periods, rho, sigma)
    ft = first_treated[:, None]
    treated = (ft > 0) & (times[None, :] >= ft)
    tau = np.where(treated, base_eff[:, None] + dynamic * (times[None, :] - ft), 0.0)
    y = alpha[:, None] + lam[None, :] + tau + u
    df = pd.DataFrame({
        "unit": np.repeat(np.arange(n_units), n_periods), "time": np.tile(times, n_units),
        "first_treated": np.repeat(first_treated, n_periods), "treated": treated.ravel().astype(int),
        "y": y.ravel(), "true_effect": tau.ravel(),
    })
    if drop_share > 0:
        keep = rng.random(len(df)) >= drop_share
        df = df[keep].reset_index(drop=True)
    return df


def simulate_one_reform(n_provinces: int = 25, years: tuple[int, int] = (2010, 2023), reform_year: int = 2017,
                        effect: float = 1.0, seed: int = 0, rho: float = 0.6, noise_sd: float = 0.5,
                        province_sd: float = 2.0, trend: float = 0.2, shock_2020: float = -1.0,
                        n_draws: int | None = None) -> pd.DataFrame:
    """Panels with ONE treated province and a known constant effect, for Monte Carlo checks of a case.

    The one-treated-unit design of the provincial chapters, with the truth known:
    ``y_pt = a_p + trend * (t - first year) + s_t + u_pt + effect * D_pt``, where ``a_p ~ N(0,
    province_sd)``, ``s_t`` a common shock in 2020 only (``shock_2020``, if 2020 is in the window),
    ``u_pt`` AR(1) noise (coefficient ``rho``, innovation sd ``noise_sd``, started from the stationary
    distribution) and ``D_pt = 1`` for the treated province (``P01``) from ``reform_year`` on. Parallel
    trends hold in levels by construction (no province-specific trend), so an estimator's error comes
    from the noise only: the setting of Conley and Taber (2011) and Ferman and Pinto (2019), where
    inference with one treated unit is the hard part. Provinces are labelled ``P01``, ``P02``, ...

    ``n_draws=None`` returns one panel with columns province, year, outcome, treated, first_treated
    (``reform_year`` for the treated province, 0 otherwise). ``n_draws=k`` returns ``k`` independent
    panels stacked, with a leading ``draw`` column (0..k-1), generated in one vectorised pass (200
    panels of 25 x 14 take a few milliseconds). ``noise_sd=0`` gives the noise-free panel of the same
    draw (same province effects). Deterministic given ``seed``.
    """
    first, last = int(years[0]), int(years[1])
    if n_provinces < 2:
        raise UserInputError(f"simulate_one_reform: n_provinces must be at least 2 (one treated, one or more "
                             f"comparison provinces), got {n_provinces}.")
    if last <= first:
        raise UserInputError(f"simulate_one_reform: years must be (first, last) with last > first, got {years}.")
    if not first < reform_year <= last:
        raise UserInputError(f"simulate_one_reform: reform_year {reform_year} must be after the first year "
                             f"{first} and at most the last year {last} (at least one pre- and one post-year).")
    if not -1 < rho < 1:
        raise UserInputError(f"simulate_one_reform: rho must be strictly between -1 and 1, got {rho}.")
    if noise_sd < 0 or province_sd < 0:
        raise UserInputError(f"simulate_one_reform: noise_sd and province_sd must be >= 0, got {noise_sd} and "
                             f"{province_sd}.")
    if n_draws is not None and n_draws < 1:
        raise UserInputError(f"simulate_one_reform: n_draws must be None or at least 1, got {n_draws}.")
    k = 1 if n_draws is None else int(n_draws)
    n, yrs = int(n_provinces), np.arange(first, last + 1)
    t = len(yrs)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, n)) * province_sd
    e = rng.standard_normal((k, n, t)) * noise_sd
    u = np.empty((k, n, t))
    u[..., 0] = e[..., 0] / np.sqrt(1 - rho**2)
    for j in range(1, t):
        u[..., j] = rho * u[..., j - 1] + e[..., j]
    common = trend * (yrs - first) + np.where(yrs == SHOCK_YEAR, shock_2020, 0.0)
    treated = np.zeros((n, t), dtype=int)
    treated[0] = (yrs >= reform_year).astype(int)
    y = a[..., None] + common[None, None, :] + u + effect * treated[None, ...]
    width = max(2, len(str(n)))
    labels = np.array([f"P{i + 1:0{width}d}" for i in range(n)])
    first_treated = np.where(np.arange(n) == 0, int(reform_year), 0)
    out = pd.DataFrame({
        "province": np.tile(np.repeat(labels, t), k), "year": np.tile(yrs, k * n), "outcome": y.ravel(),
        "treated": np.tile(treated.ravel(), k), "first_treated": np.tile(np.repeat(first_treated, t), k),
    })
    if n_draws is not None:
        out.insert(0, "draw", np.repeat(np.arange(k), n * t))
    return out


def write_outputs(out_dir: Path, seed: int) -> tuple[Path, Path]:
    """Simulate with ``seed`` and write simulated.csv and truth.csv into ``out_dir`` (atomically)."""
    from ..files import atomic_write

    cfg = load_config()
    years = range(int(cfg["years"][0]), int(cfg["years"][1]) + 1)
    sp = simulate_panel(seed=seed, years=years)
    out_dir.mkdir(parents=True, exist_ok=True)
    panel_path, truth_path = out_dir / "simulated.csv", out_dir / "truth.csv"
    with atomic_write(panel_path) as fh:
        sp.panel.to_csv(fh, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    with atomic_write(truth_path) as fh:
        sp.truth.to_csv(fh, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return panel_path, truth_path


def main(argv: list[str] | None = None) -> int:
    """``primarycare simulate``: write the simulated teaching panel and its planted effects."""
    import argparse

    from ..paths import PANEL_DIR

    parser = argparse.ArgumentParser(
        prog="primarycare simulate",
        description="Write the simulated teaching panel (data/panel/simulated.csv) and its planted effects "
                    "(data/panel/truth.csv) from data/simulation.yml. Every value is simulated.")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the one in data/simulation.yml)")
    parser.add_argument("--out-dir", type=Path, default=PANEL_DIR, help="output folder (default data/panel)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(load_config()["seed"])
    for p in write_outputs(args.out_dir, seed):
        print(f"wrote {p} (SIMULATED data, seed={seed})")
    return 0

