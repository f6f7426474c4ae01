"""Time columns that are not numbers: one shared check (methods._prep.numeric_time) for every estimator.

Text years ("2015") are unambiguous and converted, giving the same numbers as integer years; anything
else ("2003Q1", dates) is a UserInputError naming the column and the offending row, never a raw
ValueError/TypeError from inside pandas or numpy.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from primarycare import did, synth, trends
from primarycare.data.simulate import simulate_staggered
from primarycare.errors import UserInputError


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return simulate_staggered(n_units=20, n_periods=8, n_cohorts=2, seed=4)


def _quarters(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["time"] = out["time"].astype(str) + "Q1"
    return out


def _text_years(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["time"] = out["time"].astype(str)
    return out


CALLS = {
    "callaway_santanna": lambda d: did.callaway_santanna(d, "y", "unit", "time", "first_treated").estimate,
    "sun_abraham": lambda d: did.event_study(d, "y", "unit", "time", "first_treated",
                                             method="sun_abraham").estimate,
    "imputation": lambda d: did.event_study(d, "y", "unit", "time", "first_treated",
                                            method="imputation").estimate,
    "twfe_event_study": lambda d: did.event_study(d, "y", "unit", "time", "first_treated").estimate,
    "bacon": lambda d: did.bacon_decomposition(d, "y", "unit", "time", "first_treated").estimate,
    "synthetic_control": lambda d: synth.synthetic_control(d, "y", "unit", "time", 0, 2015).att,
    "segmented": lambda d: trends.segmented(d.loc[d.unit == 0], "y", "time", 2015).estimate,
}


@pytest.mark.parametrize("name", list(CALLS))
def test_quarter_strings_give_user_input_error(panel, name):
    with pytest.raises(UserInputError, match=r"time column 'time'.*2010Q1"):
        CALLS[name](_quarters(panel))


@pytest.mark.parametrize("name", list(CALLS))
def test_text_years_are_converted(panel, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = CALLS[name](panel), CALLS[name](_text_years(panel))
    assert np.isfinite(a) and a == pytest.approx(b, rel=1e-12, abs=1e-12)


def test_text_first_treated_and_bad_cohort(panel):
    d = panel.copy()
    d["first_treated"] = d["first_treated"].astype(str)
    a = did.callaway_santanna(panel, "y", "unit", "time", "first_treated").estimate
    assert did.callaway_santanna(d, "y", "unit", "time", "first_treated").estimate == pytest.approx(a)
    d.loc[d.first_treated != "0", "first_treated"] = "2015Q1"
    with pytest.raises(UserInputError, match="first-treated column"):
        did.callaway_santanna(d, "y", "unit", "time", "first_treated")


def test_dates_and_fractional_periods_refused(panel):
    d = panel.copy()
    d["time"] = pd.to_datetime(d["time"].astype(str) + "-01-01")
    with pytest.raises(UserInputError, match=r"dt\.year"):
        did.callaway_santanna(d, "y", "unit", "time", "first_treated")
    d = panel.copy()
    d["time"] = d["time"] + 0.5
    with pytest.raises(UserInputError, match="whole-numbered"):
        did.event_study(d, "y", "unit", "time", "first_treated")
    with pytest.raises(UserInputError, match="treatment_time"):
        synth.synthetic_control(panel, "y", "unit", "time", 0, "2015Q1")
