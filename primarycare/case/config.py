"""Case configurations: read ``data/cases.yml``, merge defaults, validate, and resolve donors.

A case is one provincial chapter: a province, a reform id from ``data/policies.csv`` and analysis
settings. Validation happens before anything runs, so a mistake is reported as one paragraph naming the
case and the key (:class:`~primarycare.errors.UserInputError`). The reform year defaults to the policy's
``start_year``; when that is unknown the case must state an assumed year, why, and neighbouring years for
a robustness check, so no year is ever invented silently.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..data import indicators, provinces
from ..errors import UserInputError
from ..paths import DATA

CASES_FILE = DATA / "cases.yml"
ALLOWED_KEYS = {
    "province", "reform", "reform_name", "reform_year", "reform_year_reasoning", "robustness_years",
    "outcomes", "window", "event_window", "donors_exclude", "n_permutations", "seed", "compare_years",
    "drop_year_check", "title",
}
MIN_PRE_YEARS = 3
RESERVED_IDS = {"data", "synthesis"}  # chapters that share book/cases/ with the case chapters


@dataclass(frozen=True)
class CaseConfig:
    """One validated case. ``excluded`` maps each excluded province to the reason shown in the chapter."""

    case_id: str
    province: str
    reform: str
    reform_name: str
    reform_name_zh: str
    reform_year: int
    reform_year_source: str  # "policy (stated)", "policy (inferred)", "assumed in case config", "user"
    reform_year_reasoning: str
    robustness_years: tuple[int, ...]
    outcomes: tuple[str, ...]
    window: tuple[int, int]
    event_window: tuple[int, int]
    excluded: dict[str, str] = field(default_factory=dict)
    n_permutations: int = 500
    seed: int = 0
    compare_years: tuple[int, ...] = ()
    drop_year_check: int | None = 2020
    title: str = ""

    @property
    def donors(self) -> list[str]:
        """Comparison provinces: all provinces except the treated one and the excluded ones."""
        return [p for p in provinces.names() if p != self.province and p not in self.excluded]

    @property
    def years(self) -> list[int]:
        return list(range(self.window[0], self.window[1] + 1))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaseConfig:
        """Inverse of :meth:`to_dict` (no re-validation: the dict came from a validated config)."""
        d = dict(d)
        for k in ("robustness_years", "outcomes", "window", "event_window", "compare_years"):
            d[k] = tuple(d.get(k) or ())
        return cls(**d)


def _policies() -> pd.DataFrame:
    try:  # the data layer's loader when present (it may validate); the CSV is the source of truth
        from ..data.panel import load_policies

        df = load_policies()
    except ImportError:
        df = pd.read_csv(DATA / "policies.csv")
    return df.set_index("id") if "id" in df.columns else df


@lru_cache(maxsize=1)
def policies() -> pd.DataFrame:
    """Reform events indexed by id (read once)."""
    return _policies()


def auto_exclusions(treated: str) -> dict[str, str]:
    """Other provinces with a province- or city-level reform row, with the reform ids as the reason.

    Their own reforms would move their outcomes during the study window, so they make poor controls.
    """
    pol = policies()
    out: dict[str, list[str]] = {}
    for rid, row in pol.iterrows():
        if row["level"] not in ("province", "city"):
            continue
        try:
            prov = provinces.resolve(row["province"])
        except UserInputError:
            continue
        if prov != treated:
            out.setdefault(prov, []).append(str(rid))
    return {p: "own reform in data/policies.csv: " + ", ".join(ids) for p, ids in sorted(out.items())}


def _err(case_id: str, key: str, msg: str, source: str) -> UserInputError:
    return UserInputError(f"Case {case_id!r} in {source}, key {key!r}: {msg}")


def _int(case_id: str, key: str, value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _err(case_id, key, f"expected a whole number (a year or a count), got {value!r}.", source)
    try:
        f = float(value)
    except ValueError:
        raise _err(case_id, key, f"expected a whole number (a year or a count), got {value!r}.", source) from None
    if f != int(f):
        raise _err(case_id, key, f"expected a whole number, got {value!r}.", source)
    return int(f)


def _int_list(case_id: str, key: str, value: Any, source: str) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        value = [value]
    return tuple(_int(case_id, key, v, source) for v in value)


def _pair(case_id: str, key: str, value: Any, source: str) -> tuple[int, int]:
    vals = _int_list(case_id, key, value, source)
    if len(vals) != 2 or vals[0] >= vals[1]:
        raise _err(case_id, key, f"expected two numbers [first, last] with first < last, got {value!r}.", source)
    return vals  # type: ignore[return-value]


def make_case(case_id: str, spec: dict[str, Any], defaults: dict[str, Any] | None = None,
              source: str = "data/cases.yml") -> CaseConfig:
    """Validate one case spec (merged over ``defaults``) and return a :class:`CaseConfig`."""
    if not isinstance(case_id, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", case_id):
        raise UserInputError(
            f"Case id {case_id!r} in {source} is not valid: use lower-case letters, digits and underscores, "
            "starting with a letter (for example 'anhui' or 'jiangsu_2019')."
        )
    if case_id in RESERVED_IDS:
        raise UserInputError(f"Case id {case_id!r} in {source} is reserved for a chapter of the book "
                             f"({', '.join(sorted(RESERVED_IDS))}); choose another id.")
    if not isinstance(spec, dict):
        raise _err(case_id, "(case)", f"expected a mapping of keys to values, got {spec!r}.", source)
    unknown = sorted(set(spec) - ALLOWED_KEYS)
    if unknown:
        raise _err(case_id, unknown[0], "unknown key. Allowed keys: " + ", ".join(sorted(ALLOWED_KEYS)) + ".",
                   source)
    s = {**(defaults or {}), **{k: v for k, v in spec.items() if v is not None}}
    for required in ("province", "reform"):
        if required not in s:
            raise _err(case_id, required, "missing; every case names a province and a reform id.", source)
    try:
        province = provinces.resolve(s["province"])
    except UserInputError as e:
        raise _err(case_id, "province", str(e), source) from None

    pol = policies()
    reform = str(s["reform"])
    reasoning = str(s.get("reform_year_reasoning") or "").strip()
    robustness = _int_list(case_id, "robustness_years", s.get("robustness_years"), source)
    if reform in pol.index:
        row = pol.loc[reform]
        reform_prov = str(row["province"])
        if reform_prov != "national" and provinces.resolve(reform_prov) != province:
            raise _err(case_id, "reform", f"reform {reform!r} belongs to {reform_prov} in data/policies.csv, "
                       f"not to {province}. Choose a reform of {province} or change the province.", source)
        name, name_zh = str(row["name_en"]), str(row["name_zh"])
        policy_year = None if pd.isna(row["start_year"]) else int(row["start_year"])
        certainty = str(row["certainty"])
        if s.get("reform_year") is None:
            if policy_year is None:
                raise _err(case_id, "reform_year", f"the start year of {reform!r} is unknown in data/policies.csv "
                           f"({row['reasoning']}). Give an assumed `reform_year`, a `reform_year_reasoning` "
                           "saying why, and `robustness_years` (neighbouring years to re-estimate with).", source)
            year, year_source = policy_year, f"policy ({certainty})"
            reasoning = reasoning or str(row["reasoning"])
        else:
            year = _int(case_id, "reform_year", s["reform_year"], source)
            if year != policy_year:
                if not reasoning or not robustness:
                    known = "unknown" if policy_year is None else str(policy_year)
                    raise _err(case_id, "reform_year", f"{year} differs from the policy's start year ({known}) in "
                               "data/policies.csv, so the case must also give `reform_year_reasoning` (why this "
                               "year is assumed) and `robustness_years` (neighbouring years).", source)
                year_source = "assumed in case config"
            else:
                year_source = f"policy ({certainty})"
                reasoning = reasoning or str(row["reasoning"])
    else:
        if s.get("reform_year") is None or not s.get("reform_name"):
            ids = [str(i) for i, r in pol.iterrows() if r["province"] == province]
            raise _err(case_id, "reform", f"{reform!r} is not an id in data/policies.csv. Known reforms of "
                       f"{province}: {', '.join(ids) or 'none'}. For a reform not in the table give "
                       "`reform_name` and an explicit `reform_year` (the chapter then says it is user-specified).",
                       source)
        year = _int(case_id, "reform_year", s["reform_year"], source)
        name, name_zh, year_source = str(s["reform_name"]), "", "user"
        reasoning = reasoning or "Reform and year specified by the user; not in data/policies.csv."

    outcomes = s.get("outcomes") or indicators.ids(panel_only=True)
    if isinstance(outcomes, str):
        outcomes = [outcomes]
    for o in outcomes:
        try:
            indicators.check(str(o))
        except UserInputError as e:
            raise _err(case_id, "outcomes", str(e), source) from None

    window = _pair(case_id, "window", s.get("window", (2010, 2023)), source)
    event_window = _int_list(case_id, "event_window", s.get("event_window", (-5, 5)), source)
    if len(event_window) != 2 or event_window[0] >= 0 or event_window[1] < 0:
        raise _err(case_id, "event_window", f"expected [lead, lag] with lead < 0 <= lag, got {event_window!r}.",
                   source)
    if year - window[0] < MIN_PRE_YEARS:
        raise _err(case_id, "reform_year", f"{year} leaves {max(year - window[0], 0)} pre-reform years in the "
                   f"window {window[0]}-{window[1]}; at least {MIN_PRE_YEARS} are needed. Start the window earlier "
                   "or check the year.", source)
    if year > window[1]:
        raise _err(case_id, "reform_year", f"{year} is after the last year of the window ({window[1]}); there is "
                   "no post-reform year to estimate an effect from.", source)
    for y in robustness:
        if y == year or y - window[0] < MIN_PRE_YEARS or y > window[1]:
            raise _err(case_id, "robustness_years", f"{y} must differ from the reform year ({year}) and leave at "
                       f"least {MIN_PRE_YEARS} pre-years and one post-year in {window[0]}-{window[1]}.", source)
    compare = _int_list(case_id, "compare_years", s.get("compare_years"), source)
    for y in compare:
        if not window[0] <= y <= window[1]:
            raise _err(case_id, "compare_years", f"{y} is outside the window {window[0]}-{window[1]}.", source)

    excl_spec = s.get("donors_exclude", "auto")
    excl_list = [excl_spec] if isinstance(excl_spec, str) else list(excl_spec or [])
    excluded: dict[str, str] = {}
    for item in excl_list:
        if str(item).lower() == "auto":
            excluded.update(auto_exclusions(province))
        elif str(item).lower() == "none":
            continue
        else:
            try:
                p = provinces.resolve(item)
            except UserInputError as e:
                raise _err(case_id, "donors_exclude", str(e), source) from None
            if p != province:
                excluded.setdefault(p, "excluded in the case configuration")
    n_donors = 31 - 1 - len(excluded)
    if n_donors < 2:
        raise _err(case_id, "donors_exclude", f"only {n_donors} comparison province(s) remain after exclusions; "
                   "at least 2 are needed. Exclude fewer provinces.", source)

    n_perm = _int(case_id, "n_permutations", s.get("n_permutations", 500), source)
    if n_perm < 1:
        raise _err(case_id, "n_permutations", f"expected a positive number, got {n_perm}.", source)
    drop = s.get("drop_year_check", 2020)
    drop_year = None if drop in (None, False) else _int(case_id, "drop_year_check", drop, source)
    title = str(s.get("title") or f"{province} ({provinces.chinese(province)}): {name}")
    return CaseConfig(
        case_id=case_id, province=province, reform=reform, reform_name=name, reform_name_zh=name_zh,
        reform_year=year, reform_year_source=year_source, reform_year_reasoning=reasoning,
        robustness_years=robustness, outcomes=tuple(str(o) for o in outcomes), window=window,
        event_window=event_window, excluded=excluded, n_permutations=n_perm,
        seed=_int(case_id, "seed", s.get("seed", 0), source), compare_years=compare,
        drop_year_check=drop_year, title=title,
    )


def read_yaml(path: str | Path | None = None) -> dict[str, Any]:
    """The raw cases file as a dict with ``defaults`` and ``cases`` (readable errors for bad YAML)."""
    path = Path(path or CASES_FILE)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UserInputError(f"The case file {path} does not exist.") from None
    except yaml.YAMLError as e:
        raise UserInputError(f"The case file {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cases"), dict):
        raise UserInputError(f"The case file {path} must have a `cases:` mapping of case ids to settings.")
    return raw


def load_cases(path: str | Path | None = None) -> dict[str, CaseConfig]:
    """All cases in the file, validated, in file order."""
    path = Path(path or CASES_FILE)
    raw = read_yaml(path)
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise UserInputError(f"`defaults` in {path} must be a mapping of keys to values.")
    bad = sorted(set(defaults) - ALLOWED_KEYS)
    if bad:
        raise UserInputError(f"Unknown key {bad[0]!r} under `defaults` in {path}. Allowed: "
                             + ", ".join(sorted(ALLOWED_KEYS)) + ".")
    return {cid: make_case(cid, spec, defaults, source=str(path.name if path == CASES_FILE else path))
            for cid, spec in raw["cases"].items()}


def defaults(path: str | Path | None = None) -> dict[str, Any]:
    """The ``defaults`` block of the cases file (used for cases built from notebook parameters)."""
    return read_yaml(path).get("defaults") or {}


def from_parameters(case_id: str, province: str, reform_id: str, reform_year: int | None = None,
                    outcomes: list[str] | None = None, window: list[int] | None = None,
                    donors_exclude: Any = "auto", n_permutations: int | None = None, seed: int | None = None,
                    **extra: Any) -> CaseConfig:
    """Build a validated case from notebook (Papermill) parameters, over the file's defaults.

    If ``case_id`` is a case in ``data/cases.yml`` its settings (reasoning, robustness years, ...) are
    used under the parameters, so running the notebook for ``guizhou`` keeps the stated assumption.
    """
    raw = read_yaml()
    base = dict(raw["cases"].get(case_id) or {})
    given = {"province": province, "reform": reform_id, "reform_year": reform_year, "outcomes": outcomes,
             "window": window, "donors_exclude": donors_exclude, "n_permutations": n_permutations,
             "seed": seed, **extra}
    spec = {**base, **{k: v for k, v in given.items() if v is not None}}
    return make_case(case_id, spec, raw.get("defaults") or {}, source="notebook parameters")
