"""The panel schema: each bad input gives one readable message naming file, row, column and expectation."""

from pathlib import Path

import pandas as pd
import pytest

from primarycare.data.schema import PANEL_COLUMNS, normalise, read_panel_csv, validate_panel
from primarycare.errors import UserInputError

FIX = Path(__file__).parent / "fixtures"


def good() -> pd.DataFrame:
    return pd.DataFrame({
        "province": ["Anhui", "Anhui", "Zhejiang"],
        "year": [2020, 2021, 2020],
        "indicator": ["primary_care_visit_share", "primary_care_visit_share", "gps_per_10000"],
        "value": [11.1, 22.2, 3.3],
        "unit": ["%", "%", "per 10000 residents"],
        "status": ["observed", "observed", "simulated"],
        "source": ["fake", "fake", "fake"],
    }).astype(object)


def error_for(df: pd.DataFrame, name: str = "user.csv") -> str:
    with pytest.raises(UserInputError) as e:
        validate_panel(df, name)
    msg = str(e.value)
    assert name in msg and "\n" not in msg and "Traceback" not in msg
    return msg


def test_good_panel_passes_and_is_cleaned():
    out = validate_panel(good(), "ok.csv")
    assert list(out.columns) == PANEL_COLUMNS
    assert out["year"].dtype == "int64" and out["value"].dtype == "float64"


def test_normalise_resolves_chinese_names_and_codes():
    df = good()
    df["province"] = ["安徽省", "34", "浙江"]
    out = validate_panel(df, "zh.csv")
    assert out["province"].tolist() == ["Anhui", "Anhui", "Zhejiang"]
    assert normalise(pd.DataFrame({"province": ["安微", " 安徽 "]}))["province"].tolist() == ["安微", "Anhui"]


# (mutation, row, column, expected phrase) -- each a distinct bad input
BAD = [
    ("unknown_province", lambda d: d.__setitem__("province", ["Anhiu", "Anhui", "Zhejiang"]), 1, "province",
     "Did you mean Anhui"),
    ("text_value", lambda d: d.__setitem__("value", [11.1, "twenty", 3.3]), 2, "value", "expected a number"),
    ("value_with_unit", lambda d: d.__setitem__("value", ["11.1%", 22.2, 3.3]), 1, "value", "expected a number"),
    ("empty_value", lambda d: d.__setitem__("value", [11.1, None, 3.3]), 2, "value", "expected a number"),
    ("share_above_100", lambda d: d.__setitem__("value", [111.1, 22.2, 3.3]), 1, "value", "between 0 and 100"),
    ("share_negative", lambda d: d.__setitem__("value", [-1.0, 22.2, 3.3]), 1, "value", "between 0 and 100"),
    ("rate_negative", lambda d: d.__setitem__("value", [11.1, 22.2, -3.3]), 3, "value", "at least 0"),
    ("year_too_early", lambda d: d.__setitem__("year", [1850, 2021, 2020]), 1, "year", "between 1990 and 2035"),
    ("year_too_late", lambda d: d.__setitem__("year", [2020, 2099, 2020]), 2, "year", "between 1990 and 2035"),
    ("year_text", lambda d: d.__setitem__("year", ["2020年度", 2021, 2020]), 1, "year", "whole-number year"),
    ("year_fraction", lambda d: d.__setitem__("year", [2020.5, 2021, 2020]), 1, "year", "whole-number year"),
    ("unknown_indicator", lambda d: d.__setitem__("indicator", ["primary_share", "primary_care_visit_share",
                                                                "gps_per_10000"]), 1, "indicator",
     "indicator id from data/indicators.csv"),
    ("wrong_unit", lambda d: d.__setitem__("unit", ["percent", "%", "per 10000 residents"]), 1, "unit",
     "'%', the unit of primary_care_visit_share"),
    ("bad_status", lambda d: d.__setitem__("status", ["observed", "estimated", "simulated"]), 2, "status",
     "'observed' or 'simulated'"),
    ("empty_source", lambda d: d.__setitem__("source", ["fake", "fake", None]), 3, "source", "non-empty"),
    ("empty_province", lambda d: d.__setitem__("province", ["Anhui", None, "Zhejiang"]), 2, "province",
     "non-empty"),
    ("duplicate_key", lambda d: d.__setitem__("year", [2020, 2020, 2020]), 2, "year",
     "already appears in row 1"),
]


@pytest.mark.parametrize("case,mutate,row,column,phrase", BAD, ids=[b[0] for b in BAD])
def test_bad_input_message(case, mutate, row, column, phrase):
    df = good()
    mutate(df)
    msg = error_for(df, f"{case}.csv")
    assert f"row {row}, column {column!r}" in msg
    assert phrase in msg
    assert "1 problem" in msg


def test_several_problems_are_counted_and_capped():
    df = pd.concat([good()] * 4, ignore_index=True)
    df["value"] = "x"
    df["year"] = range(2000, 2012)
    msg = error_for(df, "many.csv")
    assert "12 problems" in msg and "(and 7 more)" in msg
    assert "row 1, column 'value'" in msg and "row 6" not in msg


def test_missing_columns_named():
    msg = error_for(good().drop(columns=["unit", "status"]), "cols.csv")
    assert "missing column(s) unit, status" in msg and "province, year, indicator" in msg


def test_empty_frame():
    msg = error_for(good().iloc[0:0], "none.csv")
    assert "no data rows" in msg


def test_row_convention_stated():
    df = good()
    df.loc[2, "value"] = "x"
    msg = error_for(df)
    assert "row N is line N+1 of the file" in msg


# ---------- reading files ----------

def write(tmp_path, name, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def csv_text(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, lineterminator="\n")


def test_read_utf8_bom_and_gbk(tmp_path):
    df = good()
    df["province"] = ["安徽", "安徽省", "浙江"]
    text = csv_text(df)
    for name, data in [("plain.csv", text.encode("utf-8")), ("bom.csv", b"\xef\xbb\xbf" + text.encode("utf-8")),
                       ("gbk.csv", text.encode("gbk"))]:
        out = read_panel_csv(write(tmp_path, name, data))
        assert out["province"].tolist() == ["Anhui", "Anhui", "Zhejiang"], name


def test_read_file_errors_name_the_file(tmp_path):
    with pytest.raises(UserInputError, match="empty.csv: the file is empty"):
        read_panel_csv(FIX / "empty.csv")
    with pytest.raises(UserInputError, match="neither UTF-8 nor GBK"):
        read_panel_csv(FIX / "not_text.csv")
    with pytest.raises(UserInputError, match="does not exist"):
        read_panel_csv(tmp_path / "nope.csv")
    p = write(tmp_path, "header_only.csv", ",".join(PANEL_COLUMNS).encode() + b"\n")
    with pytest.raises(UserInputError, match="header_only.csv: the file has no data rows"):
        read_panel_csv(p)


def test_read_file_reports_row_of_bad_value(tmp_path):
    with pytest.raises(UserInputError) as e:
        read_panel_csv(FIX / "tidy_bad.csv")
    msg = str(e.value)
    assert msg.startswith("tidy_bad.csv: 3 problems")
    assert "row 1, column 'province': found 'Anhiu'" in msg
    assert "row 2, column 'value': found 'abc'" in msg
    assert "row 3, column 'value': found '222.2'" in msg


def test_shipped_simulated_panel_is_valid():
    from primarycare.paths import PANEL_DIR

    out = read_panel_csv(PANEL_DIR / "simulated.csv")
    assert (out["status"] == "simulated").all()


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), "inf", "1e400", "-1e999"])
def test_non_finite_value_refused(value):
    df = good()
    df.loc[1, "value"] = value
    msg = error_for(df, "inf.csv")
    assert "row 2, column 'value'" in msg and "a finite number" in msg and "1 problem" in msg


def test_nan_text_is_not_a_number():
    df = good()
    df.loc[0, "value"] = "nan"
    assert "row 1, column 'value': found 'nan'; expected a number" in error_for(df, "nan.csv")


def test_duplicates_name_the_first_row_of_each_key_in_a_large_panel():
    n = 60_000
    df = pd.DataFrame({"province": ["Anhui"] * n, "year": [2000 + (i % 30) for i in range(n)],
                       "indicator": ["primary_care_visit_share"] * n, "value": [1.0] * n, "unit": ["%"] * n,
                       "status": ["observed"] * n, "source": ["fake"] * n}).astype(object)
    msg = error_for(df, "big.csv")
    # 30 distinct keys, so every row after the first 30 repeats one: row 31 repeats row 1, row 45 row 15
    assert f"{n - 30} problems" in msg
    assert "row 31, column 'year': found 2000; expected one row per (province, year, indicator); Anhui 2000 " \
           "primary_care_visit_share already appears in row 1" in msg
    df = df.iloc[[0, 1, 30]].reset_index(drop=True)
    assert "already appears in row 1" in error_for(df) and "1 problem" in error_for(df)


def test_many_bad_rows_are_all_counted():
    n = 5_000
    df = pd.concat([good()] * (n // 3 + 1), ignore_index=True).iloc[:n]
    df["value"] = "x"
    df["year"] = range(n)
    df.loc[7, "value"] = "1.0"  # one good row (a year outside 1990-2035 is then its only problem)
    msg = error_for(df, "bad.csv")
    # each of the other rows has a text value (rows with unreadable cells are not range-checked further)
    assert f"{n} problems" in msg and "row 1, column 'value'" in msg and f"(and {n - 5} more)" in msg
