"""Shared helpers: the verbatim OCPI fixtures in tests/data/ocpi, parsed the way intake parses."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "ocpi"

SPEC_CDR = "ocpi-spec_2.2.1-bugfixes_cdr_example.json"
TAG_CDR = "ocpi-spec_2.2.1-tag_cdr_example.json"
V230_CDR = "ocpi-spec_2.3.0_cdr_example.json"
V211_CDR = "ocpi-spec_2.1.1-bugfixes_cdr_example.json"
VERSAILLES = "chargemap-ocpi-protocol_2.1.1_cdr_2dafe2cf_versailles.json"
ENVELOPE = "chargemap-ocpi-protocol_2.1.1_cdr_get_list_response_envelope.json"
OCN_CDR = "ocn-tools_2.2_cdr_12345_transcribed_from_ts.json"
CODEBERG = "ocpi-tariffs-py_2.2.1_codeberg_issue_228_dynamic_hourly__cdr.json"
OCN_TARIFF = "ocn-tools_2.2_tariff_1_transcribed_from_ts.json"
MISSPELLED_TARIFF = "ocpi-tariffs-py_2.2.1_misspelled_field_invalid__tariff.json"


def load(name: str) -> Any:
    """A fixture parsed like intake parses (numbers as Decimal); a fresh copy every call."""
    return json.loads((DATA / name).read_bytes(), parse_float=Decimal)


def fixture_names(pattern: str) -> list[str]:
    return sorted(p.name for p in DATA.glob(pattern))


@pytest.fixture
def spec_cdr() -> dict[str, Any]:
    return load(SPEC_CDR)


def codes(problems) -> list[str]:
    return [p.code for p in problems]


def by_code(problems, code: str):
    found = [p for p in problems if p.code == code]
    assert found, f"no {code} in {[(p.code, p.path, p.message) for p in problems]}"
    return found[0]
