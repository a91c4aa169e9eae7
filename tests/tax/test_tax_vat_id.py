import pytest

from engine.tax.vat_id import check_vat_id, is_valid_vat_id


@pytest.mark.parametrize("value,compact,country", [
    ("DE273648192", "DE273648192", "DE"),
    ("DE 273 648 192", "DE273648192", "DE"),
    ("NL853412078B01", "NL853412078B01", "NL"),
    ("ATU68153428", "ATU68153428", "AT"),
    ("FR78842617391", "FR78842617391", "FR"),
    ("EL094259216", "EL094259216", "GR"),
])
def test_valid_ids(value, compact, country):
    check = check_vat_id(value)
    assert check.valid and check.compact == compact and check.country == country and check.code is None


@pytest.mark.parametrize("value,code", [
    ("DE123456789", "VAT_ID_CHECKSUM"),
    ("DE12345", "VAT_ID_LENGTH"),
    ("XX123456789", "VAT_ID_COUNTRY"),
    ("", "VAT_ID_MISSING"),
    (None, "VAT_ID_MISSING"),
])
def test_invalid_ids_say_why(value, code):
    check = check_vat_id(value)
    assert not check.valid and check.code == code and check.message


def test_country_must_match_when_expected():
    assert check_vat_id("DE273648192", expected_country="DE").valid
    check = check_vat_id("DE273648192", expected_country="NLD")
    assert not check.valid and check.code == "VAT_ID_COUNTRY_MISMATCH" and check.compact == "DE273648192"
    assert check_vat_id("EL094259216", expected_country="GR").valid


def test_is_valid_and_json():
    assert is_valid_vat_id("ATU68153428") and not is_valid_vat_id("ATU68153429")
    assert check_vat_id("ATU68153428").to_json()["valid"] is True
