"""The province registry: every spelling resolves, typos get suggestions, codes are unique."""

import pytest

from primarycare import provinces
from primarycare.errors import UserInputError


def test_31_rows_unique_codes_and_names():
    t = provinces.table()
    assert len(t) == 31
    assert t["code"].is_unique and t["province"].is_unique and t["short_zh"].is_unique
    assert set(t["region"]) == {"east", "central", "west"}
    assert t["code"].str.fullmatch(r"\d{2}").all()
    assert provinces.names()[0] == "Beijing" and provinces.names()[-1] == "Xinjiang"


@pytest.mark.parametrize("spelling", ["Anhui", "anhui", "ANHUI", " Anhui ", "安徽", "安徽省", "34", 34, 34.0])
def test_resolve_anhui_spellings(spelling):
    assert provinces.resolve(spelling) == "Anhui"


def test_every_row_resolves_by_every_alias():
    for row in provinces.table().itertuples(index=False):
        for alias in (row.province, row.province.lower(), row.name_zh, row.short_zh, row.code, int(row.code)):
            assert provinces.resolve(alias) == row.province


def test_multiword_and_autonomous_regions():
    assert provinces.resolve("inner mongolia") == "Inner Mongolia"
    assert provinces.resolve("InnerMongolia") == "Inner Mongolia"
    assert provinces.resolve("广西壮族自治区") == "Guangxi"
    assert provinces.resolve("新疆") == "Xinjiang"


@pytest.mark.parametrize("typo,suggestion", [("Anhiu", "Anhui"), ("Zhejang", "Zhejiang"), ("Chongquing", "Chongqing"),
                                             ("安微", "Anhui")])
def test_typos_suggest_closest(typo, suggestion):
    with pytest.raises(UserInputError) as e:
        provinces.resolve(typo)
    msg = str(e.value)
    assert repr(typo) in msg and "Did you mean" in msg and suggestion in msg


@pytest.mark.parametrize("bad", ["Atlantis", "", "99", None])
def test_unknown_names_explain_what_is_accepted(bad):
    with pytest.raises(UserInputError) as e:
        provinces.resolve(bad)
    assert "Unknown province" in str(e.value) and "data/provinces.csv" in str(e.value)


def test_region_and_chinese():
    assert provinces.region("安徽") == "central"
    assert provinces.chinese("Chongqing") == "重庆"
