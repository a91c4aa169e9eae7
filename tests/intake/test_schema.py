"""schemas/cdr.schema.json, schemas/tariff.schema.json and engine/intake/schema.py.

The fast validator (jsonschema_rs) gives the verdict and the Python one explains it, so they must
agree: checked here over every fixture and a set of mutated CDRs aimed at the places where two
implementations could differ (formats, string lengths, integers, big numbers, patterns).
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any, Callable

import pytest
from jsonschema import Draft202012Validator

from engine.intake import normalise, v211
from engine.intake.schema import CDR_SCHEMA, SCHEMA_DIR, TARIFF_SCHEMA, did_you_mean

from .conftest import DATA, SPEC_CDR, load


def validated_form(data: Any) -> Any:
    """What accept() hands to the validators: 2.1.1 converted, pre-normalised, token derived."""
    if isinstance(data, dict) and v211.is_v211(data):
        data = v211.convert(data).cdr
    out, _, errors = normalise.prenormalise(data)
    assert not errors
    normalise.derive_token_party(out, None)
    return out


def both(schema, instance) -> tuple[bool, bool]:
    fast = schema.fast.is_valid(instance)
    slow = next(iter(schema.slow.iter_errors(instance)), None) is None
    return fast, slow


# -- the schema files ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["cdr.schema.json", "tariff.schema.json"])
def test_schema_is_valid_draft_2020_12_and_self_contained(name):
    schema = json.loads((SCHEMA_DIR / name).read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert refs and all(ref.startswith("#/$defs/") and ref[8:] in schema["$defs"] for ref in refs)


@pytest.mark.parametrize("name", ["cdr.schema.json", "tariff.schema.json"])
def test_every_property_has_a_description_and_objects_are_closed(name):
    schema = json.loads((SCHEMA_DIR / name).read_text())
    objects = [schema] + [d for d in schema["$defs"].values() if d.get("type") == "object"]
    assert "additionalProperties" in schema["description"]
    for obj in objects:
        assert obj["additionalProperties"] is False
        for prop, spec in obj["properties"].items():
            assert spec.get("description"), f"{prop} has no description"


def test_tariff_definitions_are_shared_verbatim():
    cdr = json.loads((SCHEMA_DIR / "cdr.schema.json").read_text())
    tariff = json.loads((SCHEMA_DIR / "tariff.schema.json").read_text())
    for name, definition in tariff["$defs"].items():
        assert cdr["$defs"][name] == definition, name
    assert cdr["$defs"]["Tariff"]["properties"] == tariff["properties"]
    assert cdr["$defs"]["Tariff"]["required"] == tariff["required"]


def test_formats_are_really_checked(spec_cdr):
    form = validated_form(spec_cdr)
    for bad in ("2015-02-30T21:39:09Z", "2015-06-29 21:39:09Z", "yesterday", "2015-06-29T25:00:00Z"):
        form["start_date_time"] = bad
        assert both(CDR_SCHEMA, form) == (False, False), bad
        assert [p.code for p in CDR_SCHEMA.problems(form)] == ["schema.format"]


# -- the two validators agree ---------------------------------------------------------------------

FIXTURES = sorted(p.name for p in DATA.glob("*.json"))


def fixture_instances():
    for name in FIXTURES:
        data = load(name)
        items = data["data"] if isinstance(data, dict) and isinstance(data.get("data"), list) else [data]
        for item in items:
            is_cdr = "cdr" in name
            yield name, (CDR_SCHEMA if is_cdr else TARIFF_SCHEMA), validated_form(item)


@pytest.mark.parametrize("name, schema, instance", list(fixture_instances()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_validators_agree_on_every_fixture(name, schema, instance):
    fast, slow = both(schema, instance)
    assert fast == slow
    expected_invalid = {"ocpi-spec_2.3.0_cdr_example.json",
                        "ocpi-tariffs-py_2.2.1_misspelled_field_invalid__tariff.json",
                        "ocpi-spec_2.2.1-bugfixes_tariff_put_example.json"}
    if not name.startswith("ocpi-spec_2.1.1-bugfixes_tariff"):  # 2.1.1 tariffs lack their owner
        assert fast == (name not in expected_invalid)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(cdr: dict[str, Any]) -> None:
        node: Any = cdr
        steps = [int(s) if s.isdigit() else s for s in path.split(".")]
        for step in steps[:-1]:
            node = node[step]
        node[steps[-1]] = value
    mutate.__name__ = f"{path}={value!r}"[:80]
    return mutate


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(cdr: dict[str, Any]) -> None:
        node: Any = cdr
        steps = [int(s) if s.isdigit() else s for s in path.split(".")]
        for step in steps[:-1]:
            node = node[step]
        del node[steps[-1]]
    mutate.__name__ = f"del {path}"
    return mutate


PC = "tariffs.0.elements.0.price_components.0"
MUTATIONS = [
    # date-times where implementations might differ
    _set("start_date_time", "2015-06-29T23:59:60Z"), _set("start_date_time", "2015-06-29t21:39:09z"),
    _set("start_date_time", "2015-06-29T21:39:09.123456789Z"), _set("start_date_time", "2015-06-29T21:39:09+02:00"),
    _set("start_date_time", "2016-02-29T21:39:09Z"), _set("start_date_time", "2015-02-29T21:39:09Z"),
    _set("start_date_time", "0000-01-01T00:00:00Z"), _set("start_date_time", "2015-06-29T21:39Z"),
    _set("start_date_time", "2015-06-29T21:39:09.Z"), _set("start_date_time", "20150629T213909Z"),
    _set("start_date_time", "2015-06-29T21:39:09+0200"), _set("last_updated", ""),
    _set("last_updated", "2015-06-29T22:01:13.1234567890123Z"),
    # string lengths, counted in code points (non-ASCII and astral characters)
    _set("cdr_location.address", "é" * 45), _set("cdr_location.address", "é" * 46),
    _set("cdr_location.address", "😀" * 45), _set("cdr_location.address", "😀" * 46),
    _set("id", "x" * 39), _set("id", "x" * 40), _set("id", ""), _set("remark", "r" * 255), _set("remark", "r" * 256),
    # patterns
    _set("country_code", "B1"), _set("country_code", "BEL"), _set("party_id", "BE"), _set("party_id", "B-C"),
    _set("cdr_token.uid", "tab\there"), _set("cdr_token.uid", "ünïcode"), _set("cdr_location.evse_id", "#NA"),
    _set("currency", "EU"), _set("currency", "eur"), _set("cdr_location.coordinates.latitude", "51.0"),
    _set("cdr_location.coordinates.latitude", "-51.0475990"), _set("cdr_location.coordinates.longitude", "181.123456"),
    _set(f"{PC[:-len('.price_components.0')]}.restrictions", {"start_time": "24:00"}),
    _set(f"{PC[:-len('.price_components.0')]}.restrictions", {"start_time": "23:59", "start_date": "2015-13-01"}),
    # enums
    _set("auth_method", "WHITELISTED"), _set("auth_method", "whitelist"), _set("cdr_token.type", "RFID "),
    _set("cdr_location.connector_standard", "IEC_62196_T2_COMBO"),
    _set("cdr_location.connector_power_type", "AC_2_PHASE"),
    _set("charging_periods.0.dimensions.0.type", "FLAT"),
    # numbers and integers
    _set("total_energy", Decimal("1E+400")), _set("total_energy", Decimal("-1E-400")), _set("total_energy", 2 ** 70),
    _set("total_energy", True), _set("total_energy", None), _set("total_energy", "15.342"),
    _set(f"{PC}.step_size", Decimal("300.5")), _set(f"{PC}.step_size", -1), _set(f"{PC}.step_size", 2 ** 70),
    _set(f"{PC}.step_size", 0), _set(f"{PC}.vat", -1), _set(f"{PC}.vat", Decimal("0.077")),
    _set(f"{PC}.price", Decimal("-0.0")),
    # structure
    _del("cdr_token"), _del("cdr_token.contract_id"), _del("total_cost.excl_vat"), _set("charging_periods", []),
    _set("charging_periods.0.dimensions", []), _set("tariffs", []), _set("tariffs", {}), _set("cdr_location", "LOC1"),
    _set("total_cost", 4), _set("total_cost", {"excl_vat": 4, "vat": 1}), _set("unknown", 1),
    _set("signed_data", {"encoding_method": "OCMF", "signed_values": [{"nature": "Start", "plain_data": "p",
                                                                        "signed_data": "s"}]}),
    _set("signed_data", {"encoding_method": "OCMF", "signed_values": []}),
    _set("credit", "true"), _set("home_charging_compensation", False),
    _set("tariffs.0.energy_mix", {"is_green_energy": True, "energy_sources": [{"source": "SOLAR", "percentage": 100}]}),
    _set("tariffs.0.energy_mix", {"energy_sources": [{"source": "SUN", "percentage": 100}]}),
]


@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda m: m.__name__)
def test_validators_agree_on_mutated_cdrs(mutate):
    cdr = validated_form(load(SPEC_CDR))
    mutated = copy.deepcopy(cdr)
    mutate(mutated)
    fast, slow = both(CDR_SCHEMA, mutated)
    assert fast == slow
    problems = CDR_SCHEMA.problems(mutated)
    assert (problems == []) == fast
    assert all(p.code != "schema.invalid" for p in problems)  # the explanation came from the slow path


def test_lone_surrogate_falls_back_to_the_python_validator(spec_cdr):
    form = validated_form(spec_cdr)
    form["remark"] = "\ud800"
    assert CDR_SCHEMA.is_valid(form)
    form["cdr_token"]["uid"] = "\ud800"
    assert [p.code for p in CDR_SCHEMA.problems(form)] == ["schema.pattern"]


# -- messages --------------------------------------------------------------------------------------

def test_messages_name_the_field_and_the_fix(spec_cdr):
    form = validated_form(spec_cdr)
    form["auth_method"] = "WHITELISTED"
    form["cdr_location"]["connector_format"] = "Socket"
    form["cdr_location"]["address"] = "a" * 10_000_000
    form["charging_periods"][0]["dimensions"][0]["volume"] = "lots"
    del form["cdr_token"]["uid"]
    problems = {p.path: p for p in CDR_SCHEMA.problems(form)}
    assert problems["auth_method"].code == "schema.enum"
    assert "did you mean 'WHITELIST'" in problems["auth_method"].message
    assert "did you mean 'SOCKET'" in problems["cdr_location.connector_format"].message
    address = problems["cdr_location.address"]
    assert address.code == "schema.maxLength" and "10000000 characters, at most 45" in address.message
    assert len(address.message) < 200
    assert problems["charging_periods[0].dimensions[0].volume"].message == "expected number, got string 'lots'"
    assert problems["cdr_token.uid"].message == "missing required field 'uid'"


def test_did_you_mean():
    assert did_you_mean("dayOfWeek", ["day_of_week", "start_time"]) == " (did you mean 'day_of_week'?)"
    assert did_you_mean("rfid", ["RFID", "OTHER"]) == " (did you mean 'RFID'?)"
    assert did_you_mean("city", ["credit", "currency"]) == ""
    assert did_you_mean("x" * 1000, ["x"]) == ""
