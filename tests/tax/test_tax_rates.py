from datetime import date
from decimal import Decimal

import pytest

from engine.tax.rates import alpha2
from tax_helpers import repo_rules

RULES = repo_rules()


@pytest.mark.parametrize("country,rate", [
    ("DE", "19"), ("AT", "20"), ("NL", "21"), ("FR", "20"), ("BE", "21"), ("IT", "22"), ("ES", "21"),
    ("PL", "23"), ("DK", "25"), ("SE", "25"), ("LU", "17"), ("FI", "25.5"),
])
def test_standard_rates_2026(country, rate):
    assert RULES.rates.lookup(country, date(2026, 10, 1)).rate == Decimal(rate)


def test_alpha3_and_alpha2_give_the_same_rate():
    assert RULES.rates.lookup("DEU", date(2026, 1, 1)) == RULES.rates.lookup("DE", date(2026, 1, 1))
    assert RULES.rates.lookup("fin", date(2026, 1, 1)).rate == Decimal("25.5")


def test_finland_changes_on_2024_09_01():
    assert RULES.rates.lookup("FI", date(2024, 8, 31)).rate == Decimal("24")
    assert RULES.rates.lookup("FI", date(2024, 9, 1)).rate == Decimal("25.5")


def test_temporary_reductions_are_versioned():
    assert RULES.rates.lookup("DE", date(2020, 12, 31)).rate == Decimal("16")
    assert RULES.rates.lookup("DE", date(2021, 1, 1)).rate == Decimal("19")
    assert RULES.rates.lookup("LU", date(2023, 6, 1)).rate == Decimal("16")
    assert RULES.rates.lookup("LU", date(2024, 1, 1)).rate == Decimal("17")


def test_unknown_country_category_or_date_has_no_rate():
    assert RULES.rates.lookup("CH", date(2026, 1, 1)) is None
    assert RULES.rates.lookup("DE", date(2026, 1, 1), "reduced") is None
    assert RULES.rates.lookup("DE", date(2019, 12, 31)) is None
    assert RULES.rates.lookup(None, date(2026, 1, 1)) is None


def test_rate_source_points_at_the_yaml_line():
    src = RULES.rates.lookup("FI", date(2026, 1, 1)).source()
    assert src["file"] == "rules/tax_rules.yaml" and src["line"] > 1 and src["valid_from"] == "2024-09-01"


@pytest.mark.parametrize("given,expected", [("DEU", "DE"), ("de", "DE"), ("EL", "GR"), ("GRC", "GR"), ("NO", "NO"),
                                            ("XX1", None), ("", None), (None, None)])
def test_alpha2(given, expected):
    assert alpha2(given) == expected
