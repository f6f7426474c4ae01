"""Run one provincial case (a new province, other settings, or your own data) and add it to the book.

    python scripts/run_case.py --province 江苏 --reform jiangsu_first_contact --reform-year 2019
    python scripts/run_case.py --province Jiangsu --reform-year 2019 --reform-name "My reform" --dry-run
    python scripts/run_case.py --province 安徽 --reform anhui_ccmc --panel my_panel.csv --case-id anhui_mine

Steps, one progress line each: (1) validate everything before running: the province (English or
Chinese), the reform (an id in ``data/policies.csv``, or ``--reform-year`` with ``--reform-name`` for a
reform that is not there: the chapter then says it is user-specified), the reform year against the panel
(at least 3 pre-reform years and one post year), the outcomes, the comparison provinces, the case id,
the panel file (``--panel``: a tidy CSV or an NBS export, checked with the panel schema and used for
this run only) and that every output folder can be written; (2) execute ``notebooks/case_study.ipynb``
for this case only, into a staging folder; (3) move the chapter and its results into place, add the
chapter to ``book/_toc.yml`` and rebuild the site with ``jupyter-book`` (execution off, so no other
chapter is re-run). A failure or Ctrl-C at any step rolls back: the previous chapters, results, table of
contents and site are left exactly as they were. The synthesis chapter is re-executed (it only reads
saved results) so it includes the new case. ``--save`` then adds the case to ``data/cases.yml``
(appended as text, so the file's comments and other cases are kept) and ``--dry-run`` stops after (1).
The build's cache records the chapter under the key the full build computes for the same settings, so a
saved case is not re-executed by the next ``python scripts/build_book.py``.

Crash safety. A run holds the book's lock (``book/_generated/.book.lock``, shared with the full build:
the two never interleave); a second run is refused at once with the first one's pid and command, or
waits with ``--wait``. The commit in step (3) is a journaled transaction (:class:`primarycare.files.
Transaction`): before anything is moved, ``book/_generated/.transaction.json`` lists every target and
where its previous content is kept, so a run killed at any point (even with SIGKILL) is undone by the
next run of this command or of the build, which puts back every replaced output, removes half-placed
ones and the staging folders, and says so in one line before it goes on. ``--save`` and the build cache
are part of the same transaction, so nothing is left half saved either. Ctrl-C exits with 130 and SIGTERM
with 143 (128 + the signal number, what a shell reports for a process the signal killed), each after
rolling everything back and printing one line. File-system errors (a read-only folder, a full disk, a
file name too long) are reported in one paragraph naming the file.

Testing hooks: ``PRIMARYCARE_TEST_FAIL_CELL=N`` inserts a cell raising an error at position N of the
notebook (used by tests/test_bad_inputs.py to check that a notebook failing mid-run changes nothing).
``PRIMARYCARE_TEST_PAUSE_AT=STAGE[,STAGE...]`` makes the run print ``PAUSED at STAGE`` and sleep there, so
a test can kill it at a known point: ``validated`` (lock taken, staging folder made, nothing run),
``commit:N`` after step N of the commit, ``commit:N-`` between moving target N aside and moving its
replacement in, ``commit:done`` with everything in place but the journal not yet deleted; and
``notebook:N`` inserts a cell at position N that writes ``PAUSED`` into the staging folder's ``nb/``
and sleeps (the notebook runs in a child process).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..case import config as cases_mod
from ..data import provinces
from ..errors import UserInputError
from ..files import RollbackIncomplete, Transaction, atomic_write, describe_os_error, signals_ignored
from ..paths import ROOT
from . import build as bb

FAIL_ENV = "PRIMARYCARE_TEST_FAIL_CELL"
PAUSE_ENV = "PRIMARYCARE_TEST_PAUSE_AT"
MAX_CASE_ID = 64  # the id names files (book/cases/ID.ipynb, its results folder, logs, backups): keep it short
SIGTERM_EXIT = 143  # 128 + SIGTERM, what a shell reports for a process that SIGTERM killed
_CHILD = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from primarycare.book import build as bb
spec = json.loads(sys.argv[2])
for k in ("source", "output", "results_dir"):
    spec[k] = None if spec.get(k) is None else Path(spec[k])
print("RESULT " + json.dumps(bb.execute(bb.Job(**spec))), flush=True)
"""


# --------------------------------------------------------------------------------------------------
# command line


class _Parser(argparse.ArgumentParser):
    """argparse with one-paragraph errors (no usage dump) that end with the fix."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserInputError(f"Command line: {message}. Run `python scripts/run_case.py --help` for the options "
                             "and an example.")


def _whole(what: str, example: str, minimum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} such as {example}, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what} of at least {minimum}, got {value}")
        return value
    return parse


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="primarycare case", description=__doc__.split("\n\n")[0],
                 formatter_class=argparse.RawDescriptionHelpFormatter,
                 epilog="Example: python scripts/run_case.py --province 江苏 --reform jiangsu_first_contact "
                        "--reform-year 2019 --permutations 200")
    ap.add_argument("--province", required=True, help="English or Chinese name, or 2-digit code (江苏, Jiangsu, 32)")
    ap.add_argument("--reform", help="reform id in data/policies.csv; omit it and give --reform-year and "
                    "--reform-name for a reform that is not in the table")
    ap.add_argument("--reform-year", type=_whole("a year", "2019"), help="first year the reform applies")
    ap.add_argument("--reform-name", help="name of a user-specified reform (one not in data/policies.csv)")
    ap.add_argument("--reasoning", help="why this reform year (shown in the chapter) when the source gives none")
    ap.add_argument("--robustness-years", nargs="+", type=_whole("a year", "2018"), metavar="YEAR",
                    help="other plausible reform years to re-estimate with (default: the year before and after)")
    ap.add_argument("--outcomes", nargs="+", metavar="INDICATOR", help="indicator ids (data/indicators.csv)")
    ap.add_argument("--panel", help="your own tidy panel CSV or NBS export, used for this run only")
    ap.add_argument("--donors-exclude", nargs="+", metavar="PROVINCE", default=[],
                    help="comparison provinces to leave out, on top of those with their own reforms")
    ap.add_argument("--donors", nargs="+", metavar="PROVINCE",
                    help="the comparison provinces to use (replaces the automatic choice)")
    ap.add_argument("--permutations", type=_whole("a whole number", "200", minimum=1),
                    help="randomization-test permutations (default: data/cases.yml defaults)")
    ap.add_argument("--seed", type=_whole("a whole number", "1", minimum=0), help="analysis seed")
    ap.add_argument("--case-id", help="id of the chapter (default: the province, e.g. jiangsu)")
    ap.add_argument("--dry-run", action="store_true", help="validate and print what would be run, then stop")
    ap.add_argument("--save", action="store_true", help="also add the case to data/cases.yml")
    ap.add_argument("--no-site", action="store_true", help="write the chapter and TOC but skip the site build")
    ap.add_argument("--wait", action="store_true", help="if another case run or build is writing the book, wait "
                    "for it to finish (default: stop at once)")
    return ap


def _printable(text: str) -> str:
    """``text`` with bytes that are not UTF-8 (kept by Python as surrogates) shown as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _check_text_args(args: argparse.Namespace) -> None:
    """Every text option must be UTF-8: a file name or value with other bytes cannot be written to a chapter."""
    for name, value in vars(args).items():
        for v in value if isinstance(value, list) else [value]:
            if not isinstance(v, str):
                continue
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                opt = "--" + name.replace("_", "-")
                what = ("the file name" if name == "panel" else "the value")
                raise UserInputError(
                    f"{opt} {_printable(v)}: {what} has bytes that are not UTF-8 text (shown as \\xNN). It would "
                    "be written into the chapter and its reproduce command, which must be UTF-8. "
                    + ("Rename the file (for example to my_panel.csv) and run again." if name == "panel" else
                       "Retype it in UTF-8 and run again.")) from None


# --------------------------------------------------------------------------------------------------
# validation


@dataclass
class Plan:
    """Everything validated: the case, the notebook parameters and the panel it will read."""

    config: cases_mod.CaseConfig
    spec: dict[str, Any]  # the case keys as they would be saved in data/cases.yml
    parameters: dict[str, Any]
    panel_label: str
    status: dict[str, Any]
    existing: bool  # the case id is already in data/cases.yml (same case)
    notes: list[str] = field(default_factory=list)


def _load_panel(path: str | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The panel the case would read (merged) and the user's own rows (validated by the panel schema)."""
    from primarycare import data, importer

    if path is None:
        return data.load_panel(), None
    p = Path(path)
    try:
        is_dir, is_file = p.is_dir(), p.is_file()
    except OSError as e:  # e.g. a name too long for the file system
        raise UserInputError(f"--panel {path}: {describe_os_error(e)}. Give the path of a tidy panel CSV or an "
                             "NBS export; nothing was run or changed.") from None
    if is_dir:
        raise UserInputError(f"--panel {path} is a folder, not a file. Give the path of the panel file itself "
                             "(a tidy panel CSV or an NBS export), not of the folder it is in.")
    if not is_file:
        raise UserInputError(f"--panel {path}: no such file. Give the path of a tidy panel CSV (columns "
                             "province, year, indicator, value, unit, status, source) or an NBS export.")
    try:
        user = importer.read_any(p)
    except UserInputError as e:
        raise UserInputError(f"--panel {path}: {e} Fix the file and run again; nothing was run or changed.") from None
    except OSError as e:
        raise UserInputError(f"--panel {path} cannot be read: {describe_os_error(e)}. Nothing was run or "
                             "changed.") from None
    # the same panel the chapter will read: load_panel(panel_path=...) merges and derives the outcomes
    return data.derive(data.merge_observed(data.load_panel(), user)), user


def _check_user_panel(user: pd.DataFrame, path: str, province: str, outcomes: list[str]) -> None:
    """The user's file must carry the treated province, each outcome, and no gaps in its years."""
    name = Path(path).name
    mine = user[user["province"] == province]
    if mine.empty:
        have = ", ".join(sorted(user["province"].unique())[:8])
        raise UserInputError(f"--panel {name} has no data for {province}, the province being analysed (it has: "
                             f"{have}). Add {province}'s rows to the file or choose one of these provinces.")
    for o in outcomes:
        years = sorted(mine.loc[mine["indicator"] == o, "year"].astype(int))
        if not years:
            have = ", ".join(sorted(mine["indicator"].unique()))
            raise UserInputError(f"--panel {name} has no values of outcome {o!r} for {province}. Pass "
                                 f"--outcomes with the indicators the file has for {province} ({have}), or add "
                                 "the missing rows.")
        gaps = sorted(set(range(years[0], years[-1] + 1)) - set(years))
        if gaps:
            raise UserInputError(f"--panel {name}: {province} {o} has missing years "
                                 f"{', '.join(map(str, gaps[:6]))} between {years[0]} and {years[-1]}. Add the "
                                 "missing rows (a series must have no gaps, or simulated values would be mixed "
                                 "in silently) or restrict the file to the years you have without gaps.")


def _check_year(year: int, years: list[int], what: str, province: str, panel_label: str) -> None:
    """At least MIN_PRE_YEARS panel years before ``year`` and one from it on."""
    need = cases_mod.MIN_PRE_YEARS
    first, last = years[0], years[-1]
    pre = sum(y < year for y in years)
    ok = f"choose a year from {first + need} to {last}" if last >= first + need else "use a longer panel"
    if year > last:
        raise UserInputError(f"{what} {year} is after the panel, whose last year for {province} is {last} "
                             f"({panel_label}); there is no post-reform year to estimate an effect from: {ok}.")
    if year <= first:
        raise UserInputError(f"{what} {year} is before the panel, which starts in {first} for {province} "
                             f"({panel_label}); at least {need} pre-reform years are needed: {ok}.")
    if pre < need:
        raise UserInputError(f"{what} {year} leaves only {pre} pre-reform year(s) in the panel ({first}-{last}, "
                             f"{panel_label}); at least {need} are needed to compare before and after: {ok}.")


def _writable(path: Path) -> None:
    """Raise unless ``path`` (a folder, maybe not yet created) can be created and written."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    problem = None
    if not probe.is_dir():
        problem = f"{probe} is a file, not a folder"
    else:
        try:
            fd, tmp = tempfile.mkstemp(prefix=".write_test.", dir=probe)
            os.close(fd)
            os.unlink(tmp)
        except OSError as e:
            problem = f"{probe} cannot be written ({e.strerror})"
    if problem:
        raise UserInputError(f"The output folder {path} is not writable: {problem}. Nothing was run or changed. "
                             "Make the folder writable (or move the file that is in the way) and run again.")


def output_folders(save: bool) -> list[Path]:
    """Every folder a run writes to (checked before anything runs)."""
    out = [bb.BOOK, bb.BOOK / "cases", bb.GENERATED, bb.RESULTS, bb.GENERATED / "logs", bb.SITE.parent, bb.SITE_WORK]
    return out + ([cases_mod.CASES_FILE.parent] if save else [])


def _default_robustness(year: int, years: list[int]) -> list[int]:
    need = cases_mod.MIN_PRE_YEARS
    return [y for y in (year - 1, year + 1) if sum(v < y for v in years) >= need and y <= years[-1]]


def validate(args: argparse.Namespace) -> Plan:
    """Check every input before anything runs; return the plan (or raise one readable error)."""
    from ..case.status import data_status

    try:
        province = provinces.resolve(args.province)
    except UserInputError as e:
        raise UserInputError(f"--province: {e}") from None
    raw = cases_mod.read_yaml()
    defaults = raw.get("defaults") or {}
    existing_cases = cases_mod.load_cases()
    case_id = args.case_id or province.lower()
    pol = cases_mod.policies()
    if not re.fullmatch(r"[a-z][a-z0-9_]*", case_id):
        raise UserInputError(f"--case-id {case_id!r} is not valid: use lower-case letters, digits and underscores, "
                             "starting with a letter (for example jiangsu or jiangsu_2019).")
    if len(case_id) > MAX_CASE_ID:
        raise UserInputError(f"--case-id is {len(case_id)} characters long ({case_id[:20]}...); at most "
                             f"{MAX_CASE_ID} are allowed, because the id names the chapter's files "
                             "(book/cases/ID.ipynb, its results folder, its log) and file names have a length "
                             "limit. Choose a shorter id (for example jiangsu_2019).")

    existing = case_id in existing_cases
    if existing:
        ex = existing_cases[case_id]
        differs = [what for what, mine, theirs in (
            ("province", province, ex.province), ("reform", args.reform, ex.reform),
            ("reform year", args.reform_year, ex.reform_year)) if mine is not None and mine != theirs]
        if differs:
            raise UserInputError(
                f"Case id {case_id!r} is already used in data/cases.yml by a different case ({ex.province}, "
                f"{ex.reform}, {ex.reform_year}); this run differs in its {' and '.join(differs)}. Choose a new "
                f"id with --case-id (for example {province.lower()}_{args.reform_year or 'mine'}) so the existing "
                "chapter is kept.")
    reform = args.reform or (ex.reform if existing else None)

    # the panel and its years
    panel, user = _load_panel(args.panel)
    panel_label = f"your file {Path(args.panel).name}, for this run only" if args.panel else "the project panel"
    outcomes = list(args.outcomes or defaults.get("outcomes") or [])
    from primarycare import indicators

    for o in outcomes:
        try:
            indicators.check(o)
        except UserInputError as e:
            raise UserInputError(f"--outcomes: {e}") from None
    present = set(panel["indicator"].unique())
    absent = [o for o in outcomes if o not in present]
    if absent:
        raise UserInputError(f"--outcomes: {absent[0]!r} is a known indicator but is not in {panel_label}. Choose "
                             f"from the indicators the panel has: {', '.join(sorted(present))} (or add its values "
                             "to your --panel file).")
    if user is not None:
        _check_user_panel(user, args.panel, province, outcomes)
    rows = panel[(panel["province"] == province) & panel["indicator"].isin(outcomes)]
    if rows.empty:
        raise UserInputError(f"{panel_label} has no data for {province}. Import its values with "
                             "scripts/import_data.py or pass a --panel file that has them.")
    years = sorted(rows["year"].astype(int).unique())
    if args.reform_year is not None:
        _check_year(args.reform_year, years, "--reform-year", province, panel_label)

    # the reform
    spec: dict[str, Any] = dict(raw["cases"][case_id]) if existing else {}
    spec["province"] = province
    has_year = args.reform_year is not None or spec.get("reform_year") is not None
    has_name = bool(args.reform_name or spec.get("reform_name"))
    if reform is None:
        known = [str(i) for i, r in pol.iterrows() if r["province"] == province]
        if not (has_year and has_name):
            raise UserInputError(
                f"No reform given for {province}. Pass --reform with an id from data/policies.csv (reforms of "
                f"{province}: {', '.join(known) or 'none'}), or describe your own reform with both --reform-year "
                "and --reform-name.")
        reform = f"user_{case_id}"
    elif reform not in pol.index and not (has_year and has_name):
        known = [str(i) for i, r in pol.iterrows() if r["province"] == province]
        raise UserInputError(
            f"--reform {reform!r} is not an id in data/policies.csv. Reforms of {province}: "
            f"{', '.join(known) or 'none'}. For a reform not in the table, give --reform-year and --reform-name "
            "instead (the chapter then says it is user-specified).")
    spec["reform"] = reform
    if args.reform_year is not None:
        spec["reform_year"] = args.reform_year
    if args.reform_name:
        spec["reform_name"] = args.reform_name
    policy_year = None
    if reform in pol.index and not pd.isna(pol.loc[reform, "start_year"]):
        policy_year = int(pol.loc[reform, "start_year"])
    assumed = args.reform_year is not None and args.reform_year != policy_year
    if args.reasoning:
        spec["reform_year_reasoning"] = args.reasoning
    elif assumed and not spec.get("reform_year_reasoning"):
        spec["reform_year_reasoning"] = ("Given by the user on the command line (scripts/run_case.py --reform-year); "
                                         + ("data/policies.csv gives no start year for this reform."
                                            if reform in pol.index else "the reform is not in data/policies.csv."))
    if args.robustness_years:
        spec["robustness_years"] = list(args.robustness_years)
    elif assumed and not spec.get("robustness_years"):
        spec["robustness_years"] = _default_robustness(args.reform_year, years)
    if args.outcomes:
        spec["outcomes"] = list(args.outcomes)

    # comparison provinces
    def resolve_all(names: list[str], opt: str) -> list[str]:
        out = []
        for n in names:
            try:
                out.append(provinces.resolve(n))
            except UserInputError as e:
                raise UserInputError(f"{opt}: {e}") from None
        return out

    if args.donors:
        donors = resolve_all(args.donors, "--donors")
        if province in donors:
            raise UserInputError(f"--donors includes {province}, the province being analysed: a province cannot be "
                                 "its own comparison. Remove it from --donors.")
        spec["donors_exclude"] = [p for p in provinces.names() if p != province and p not in donors]
    elif args.donors_exclude:
        spec["donors_exclude"] = ["auto"] + [p for p in resolve_all(args.donors_exclude, "--donors-exclude")
                                             if p != province]
    if args.permutations is not None:
        spec["n_permutations"] = args.permutations
    if args.seed is not None:
        spec["seed"] = args.seed

    cfg = cases_mod.make_case(case_id, spec, defaults, source="the command line")
    _check_year(cfg.reform_year, years, f"The reform year ({cfg.reform_year_source})", province, panel_label)
    for y in cfg.robustness_years:
        _check_year(y, years, "--robustness-years", province, panel_label)
    for folder in output_folders(args.save):
        _writable(folder)

    extra = {k: spec[k] for k in ("reform_name", "reform_year_reasoning", "robustness_years") if k in spec}
    panel_source = str(Path(args.panel).resolve()) if args.panel else None
    # the full build remakes this chapter only if it is (or will be) in data/cases.yml with these settings
    # and reads the project panel; otherwise the chapter's reproduce box shows this command
    remade = not args.panel and (args.save and not existing or existing and bb.case_key(
        existing_cases[case_id], existing_cases[case_id].n_permutations) == bb.case_key(cfg, cfg.n_permutations))
    command = None if remade else "python scripts/run_case.py " + shlex.join(
        a for a in (getattr(args, "argv", None) or []) if a not in ("--save", "--no-site"))
    params = {
        "case_id": case_id, "province": province, "reform_id": reform, "reform_year": cfg.reform_year,
        "outcomes": list(cfg.outcomes), "window": list(cfg.window),
        "donors_exclude": spec.get("donors_exclude", "auto"), "n_permutations": cfg.n_permutations,
        "seed": cfg.seed, "panel_source": panel_source, "case_spec": extra or None, "reproduce_command": command,
    }
    notes = []
    if args.panel and args.save:
        notes.append("--panel is used for this run only and is not saved: the full build reads the project panel "
                     "(import your file with scripts/import_data.py to use it there).")
    return Plan(cfg, spec, params, panel_label, data_status(panel, cfg, params["panel_source"]), existing, notes)


def describe(plan: Plan) -> str:
    c, s = plan.config, plan.status
    excluded = "; ".join(f"{p} ({why})" for p, why in c.excluded.items()) or "none"
    return "\n".join([
        f"  case id:      {c.case_id}" + (" (already in data/cases.yml: re-run)" if plan.existing else " (new)"),
        f"  province:     {c.province} ({provinces.chinese(c.province)})",
        f"  reform:       {c.reform_name} {c.reform_name_zh} ({c.reform}), year {c.reform_year} "
        f"[{c.reform_year_source}]",
        f"  robustness:   {', '.join(map(str, c.robustness_years)) or 'none'}",
        f"  outcomes:     {', '.join(c.outcomes)}",
        f"  window:       {c.window[0]}-{c.window[1]}",
        f"  comparisons:  {len(c.donors)} provinces; excluded: {excluded}",
        f"  panel:        {plan.panel_label}: {s['observed']:,} observed and {s['simulated']:,} simulated values",
        f"  inference:    {c.n_permutations} permutations, seed {c.seed}",
        f"  writes:       {bb.BOOK / 'cases' / (c.case_id + '.ipynb')}, {bb.RESULTS / c.case_id}, "
        f"{bb.BOOK / '_toc.yml'}, {bb.SITE}",
    ] + [f"  note:         {n}" for n in plan.notes])


# --------------------------------------------------------------------------------------------------
# execution and commit


def _pauses() -> set[str]:
    return {p.strip() for p in os.environ.get(PAUSE_ENV, "").split(",") if p.strip()}


def checkpoint(name: str) -> None:
    """Testing hook: if ``name`` is in PRIMARYCARE_TEST_PAUSE_AT, say so and sleep (to be killed there)."""
    if name in _pauses():
        print(f"PAUSED at {name} (pid {os.getpid()})", flush=True)
        time.sleep(600)


def _notebook_source(stage: Path) -> Path:
    """The case notebook; with a testing hook, a copy with a failing or a pausing cell inserted."""
    src = bb.NOTEBOOKS / "case_study.ipynb"
    pause = sorted(int(p.split(":", 1)[1]) for p in _pauses() if re.fullmatch(r"notebook:\d+", p))
    if not os.environ.get(FAIL_ENV) and not pause:
        return src
    import nbformat

    nb = nbformat.read(src, as_version=4)
    if pause:  # the kernel's working folder is the copy's folder, stage/nb
        nb.cells.insert(pause[0], nbformat.v4.new_code_cell(
            f'import pathlib, time\npathlib.Path("PAUSED").write_text("notebook:{pause[0]}")\ntime.sleep(600)'))
    if os.environ.get(FAIL_ENV):
        at = int(os.environ[FAIL_ENV])
        nb.cells.insert(at, nbformat.v4.new_code_cell(
            f'raise RuntimeError("failure injected for testing ({FAIL_ENV}={at})")'))
    path = stage / "nb" / "case_study.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


def _interrupt(child: subprocess.Popen) -> None:
    """Stop the notebook run: SIGINT lets nbclient shut its kernel down; SIGKILL if it does not stop."""
    try:
        os.killpg(child.pid, signal.SIGINT)
        child.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    except ProcessLookupError:
        return  # the run had already ended


def _run_child(spec: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """``build_book.execute`` of one job in a child process (Ctrl-C stops its kernel); its exit code and result."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(ROOT), json.dumps(spec)],
                             stdout=subprocess.PIPE, text=True, start_new_session=True, env=bb._worker_env(),
                             preexec_fn=bb.die_with_parent())  # a killed run leaves no notebook running
    try:
        out, _ = child.communicate()
    except KeyboardInterrupt:
        _interrupt(child)
        raise
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    return child.returncode, (json.loads(lines[-1][len("RESULT "):]) if lines else None)


def execute(plan: Plan, stage: Path) -> None:
    """Run the case notebook in a child process into ``stage``; raise a readable error if it fails."""
    cid = plan.config.case_id
    spec = {"name": f"case {cid}", "kind": "case", "source": str(_notebook_source(stage)),
            "output": str(stage / "cases" / f"{cid}.ipynb"), "parameters": plan.parameters,
            "results_dir": str(stage / "results" / cid), "title": plan.config.title}
    code, res = _run_child(spec)
    log = bb.GENERATED / "logs" / f"case_{cid}.log"
    if code != 0 or res is None:
        raise UserInputError(f"The case notebook for {cid!r} stopped before finishing (exit code {code}). "
                             f"Nothing was changed. See the log {log}.")
    if not res["ok"]:
        raise UserInputError(f"The case notebook failed: {bb.failure_message(res)}. Nothing was changed: the "
                             f"previous chapters and site are as they were. Read the log {log}, fix the input "
                             "(or report the error if the input looks right) and run again.")


def toc_case_ids(case_id: str) -> list[str]:
    """Cases in data/cases.yml, then chapters already in the TOC from earlier runs, then this one."""
    ids = list(cases_mod.read_yaml().get("cases") or {})
    toc = bb.BOOK / "_toc.yml"
    if toc.exists():
        for m in re.finditer(r"- file: cases/([a-z][a-z0-9_]*)\s*$", toc.read_text(encoding="utf-8"), re.M):
            if m.group(1) not in ids and m.group(1) not in ("data", "synthesis"):
                ids.append(m.group(1))
    return ids + ([case_id] if case_id not in ids else [])


def cases_file_text(plan: Plan) -> str | None:
    """``data/cases.yml`` with the case appended as text (comments and other cases kept), checked; None if
    the case is already there. Raises if the appended case would not read back (called before the run, so
    the user learns it before waiting for the notebook, and again at the commit)."""
    path = cases_mod.CASES_FILE
    cid = plan.config.case_id
    if plan.existing:
        return None
    text = path.read_text(encoding="utf-8")
    lines = [f"\n  {cid}:  # added by scripts/run_case.py"]
    for key in ("province", "reform", "reform_name", "reform_year", "reform_year_reasoning", "robustness_years",
                "outcomes", "donors_exclude", "n_permutations", "seed"):
        if key in plan.spec:
            lines.append(f"    {key}: {json.dumps(plan.spec[key], ensure_ascii=False)}")
    new_text = text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    with tempfile.TemporaryDirectory(prefix="primarycare-cases.") as tmp:
        check = Path(tmp) / path.name
        check.write_text(new_text, encoding="utf-8")
        saved = cases_mod.load_cases(check)
    if cid not in saved or saved[cid].reform_year != plan.config.reform_year:
        raise UserInputError(f"Could not add {cid!r} to {path}: the `cases:` block is not the last part of the "
                             "file. Add the case by hand (see the dry-run output for its settings), or run "
                             "without --save.")
    return new_text


def _shown(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def save_case(plan: Plan, tx: Transaction) -> str:
    """Append the case to data/cases.yml within the transaction ``tx`` (kept, then replaced in one step)."""
    path = cases_mod.CASES_FILE
    cid = plan.config.case_id
    new_text = cases_file_text(plan)
    if new_text is None:
        return f"{cid} is already in {path.name}; left unchanged."
    tx.keep(path)
    with atomic_write(path) as fh:
        fh.write(new_text)
    return f"added {cid} to {_shown(path)}; the full build (python scripts/build_book.py) includes it."


def synthesis_ids(case_id: str) -> list[str]:
    """The cases whose saved results the synthesis can read (TOC order); unreadable ones are skipped."""
    from ..case.result import CaseResult

    ids = []
    for c in toc_case_ids(case_id):
        try:
            CaseResult.load(bb.RESULTS / c)
        except Exception:  # noqa: BLE001 - missing or unreadable results: that case is left out
            continue
        ids.append(c)
    return ids


def run_synthesis(stage: Path, case_ids: list[str]) -> Path | None:
    """Re-execute only the synthesis chapter (it reads saved results: cheap) into ``stage``.

    Returns the executed notebook, or None (with a note) if it failed: the previous synthesis is then kept.
    """
    job = bb.synthesis_job(case_ids)
    out = stage / "synthesis" / job.output.name
    spec = {"name": job.name, "kind": job.kind, "source": str(job.source), "output": str(out),
            "parameters": job.parameters, "results_dir": None, "title": ""}
    code, res = _run_child(spec)
    if code != 0 or res is None or not res["ok"]:
        why = bb.failure_message(res) if res else f"exit code {code}"
        print(f"Note: the synthesis chapter could not be updated ({why}); the previous one is kept. See "
              f"{bb.GENERATED / 'logs' / 'synthesis.log'}.", flush=True)
        return None
    return out


@dataclass
class Committed:
    """What :func:`commit` did: the synthesis's case ids (None if not updated) and the --save message."""

    synth_ids: list[str] | None
    saved: str | None


def commit(plan: Plan, stage: Path, build_site: bool, save: bool = False) -> Committed:
    """Chapter, results, synthesis, TOC, site, ``--save`` and the build cache, as one journaled transaction.

    Any failure or interrupt puts everything back (see :class:`primarycare.files.Transaction`); a kill
    leaves the journal, and the next run or build puts everything back before it starts. Signals are
    ignored from the commit on: the run is then complete.
    """
    cid = plan.config.case_id
    tx = Transaction(bb.JOURNAL, stage / "backup", command=bb.command_line(),
                     on_step=lambda step: checkpoint(f"commit:{step}"))
    try:
        tx.place(stage / "results" / cid, bb.RESULTS / cid)
        tx.place(stage / "cases" / f"{cid}.ipynb", bb.BOOK / "cases" / f"{cid}.ipynb")
        tx.keep(bb.BOOK / "_toc.yml")
        tx.keep(bb.GENERATED / "status.md")
        tx.keep(bb.GENERATED / "footer.html")
        bb.write_toc(toc_case_ids(cid))
        bb.write_status()  # the landing page's data-status note (unchanged unless the panel changed)
        synth_ids: list[str] | None = synthesis_ids(cid)
        synth = run_synthesis(stage, synth_ids) if synth_ids else None
        if synth is not None:
            tx.place(synth, bb.BOOK / "cases" / "synthesis.ipynb")
            bb.write_toc(toc_case_ids(cid))  # the synthesis chapter may be new
        else:
            synth_ids = None
        print(f"[4/5] Chapter book/cases/{cid}.ipynb, results book/_generated/results/{cid}/ and the table of "
              "contents written" + (f"; synthesis re-executed over {len(synth_ids)} case(s)." if synth_ids else "."),
              flush=True)
        saved = save_case(plan, tx) if save else None
        if build_site:
            print("[5/5] Building the site with jupyter-book (execution off: no other chapter is re-run) ...",
                  flush=True)
            t = time.time()
            bb.build_site(place=tx.place)
            print(f"      site rebuilt in {time.time() - t:.0f} s: {bb.SITE / 'index.html'}", flush=True)
        else:
            print("[5/5] Site build skipped (--no-site).", flush=True)
        tx.keep(bb.CACHE_FILE)
        update_cache(plan, synth_ids, site_built=build_site)
        checkpoint("commit:done")
        _ignore_interrupts()  # from here the run is complete: no interrupt may report a rollback
        tx.commit()
    except BaseException:
        tx.rollback()
        raise
    return Committed(synth_ids, saved)


def _ignore_interrupts() -> None:
    """After the commit the run is complete: a late Ctrl-C or SIGTERM must not report a rollback."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def update_cache(plan: Plan, synth_ids: list[str] | None, site_built: bool) -> None:
    """Record what was built under the keys the full build computes (after ``--save``, if given).

    The chapter's entry is the full build's key for these settings (build_book.case_key), so a case saved
    with the settings it ran with is a cache hit and a case whose settings differ from data/cases.yml is
    re-executed. The synthesis entry is kept only if the full build would compute the same one.
    """
    cfg = plan.config
    cache = json.loads(bb.CACHE_FILE.read_text()) if bb.CACHE_FILE.exists() else {}
    cache[f"case {cfg.case_id}"] = bb.case_key(cfg, cfg.n_permutations, plan.parameters["panel_source"],
                                               plan.parameters["reproduce_command"])
    cache.pop("synthesis", None)
    if synth_ids is not None:
        jobs = bb.keyed_plan(cases_mod.load_cases(), None)
        synth = next(j for j in jobs if j.kind == "synthesis")
        if synth.parameters["case_ids"] == synth_ids and all(
                cache.get(j.name) == j.key for j in jobs if j.kind == "case"):
            cache["synthesis"] = synth.key
    if site_built:
        cache["_site"] = bb.site_hash()
    with atomic_write(bb.CACHE_FILE) as fh:
        json.dump(cache, fh, indent=1, sort_keys=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same rollback runs (a subclass, so ``except KeyboardInterrupt`` sees it)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """``python -m primarycare case``: SIGTERM is handled like Ctrl-C, then exits with 143 (Ctrl-C: 130)."""
    in_main = threading.current_thread() is threading.main_thread()
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
    if in_main:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(argv)
    except Terminated:
        print("Terminated (SIGTERM): the run was stopped and rolled back; the previous chapters, results, table of "
              "contents, site and data/cases.yml are as they were.", file=sys.stderr, flush=True)
        return SIGTERM_EXIT
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the chapter's reproduce box
    _check_text_args(args)
    t0 = time.time()
    if args.dry_run:
        if bb.JOURNAL.exists():
            print(f"Note: an interrupted run left {bb.JOURNAL}; the next run (not a dry run) or build puts back "
                  "what it changed before it starts.", flush=True)
        plan = validate(args)
        print(f"[1/5] Validated case {plan.config.case_id!r}:\n{describe(plan)}", flush=True)
        print("Dry run: nothing was executed or written.")
        return 0
    with bb.book_lock(wait=args.wait):
        bb.recover_interrupted()
        plan = validate(args)
        print(f"[1/5] Validated case {plan.config.case_id!r}:\n{describe(plan)}", flush=True)
        if args.save:
            cases_file_text(plan)  # a case that cannot be appended is refused now, not after the notebook
        done = _run(plan, args)
    if args.save:
        print("Saved: " + (done.saved or ""))
    for n in plan.notes:
        print("Note: " + n)
    if not plan.existing and not args.save:
        print("Not saved in data/cases.yml (add --save to include this case in every full build).")
    print(f"Done in {time.time() - t0:.0f} s. Open {bb.SITE / 'index.html'}")
    return 0


def _run(plan: Plan, args: argparse.Namespace) -> Committed:
    """Steps (2) and (3) in a staging folder, holding the lock; file-system errors become one paragraph."""
    stage = None
    try:
        bb.GENERATED.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".run_case.", dir=bb.GENERATED))
        checkpoint("validated")
        print(f"[2/5] Executing notebooks/case_study.ipynb for {plan.config.case_id!r} "
              f"({plan.config.n_permutations} permutations); other chapters are not re-run ...", flush=True)
        t = time.time()
        execute(plan, stage)
        print(f"[3/5] Notebook executed in {time.time() - t:.0f} s.", flush=True)
        return commit(plan, stage, build_site=not args.no_site, save=args.save)
    except RollbackIncomplete as e:
        raise UserInputError(f"Could not write the outputs, and the previous ones could not all be put back now: "
                             f"{describe_os_error(e)}. Nothing is lost: the journal {_shown(bb.JOURNAL)} lists "
                             "every change, and the next run of this command or of the build puts the previous "
                             "chapters, site and data/cases.yml back before it starts.") from None
    except OSError as e:
        raise UserInputError(f"Could not write the outputs: {describe_os_error(e)}. Nothing was changed: the "
                             "previous chapters, results, table of contents, site and data/cases.yml are as they "
                             "were.") from None
    finally:
        if stage is not None and not bb.JOURNAL.exists():  # a kept journal needs the backups in the stage
            with signals_ignored():
                shutil.rmtree(stage, ignore_errors=True)
