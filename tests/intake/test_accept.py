"""engine/intake/accept.py: every fixture, the bad-input list, batches, and a property test."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.intake import IntakeResult, accept, read_items

from .conftest import DATA, SPEC_CDR, V230_CDR, by_code, codes, fixture_names, load

UTC = timezone.utc

# Every CDR fixture: accepted (with the warnings it deserves) or rejected for the documented reason.
EXPECTED = {
    "chargemap-ocpi-protocol_2.1.1_cdr_2dafe2cf_versailles.json": ("2.1.1", [], ["v211.party_from_evse_id"]),
    "chargemap-ocpi-protocol_2.1.1_cdr_ok_empty_tariff.json": ("2.1.1", [], ["v211.party_from_evse_id"]),
    "chargemap-ocpi-protocol_2.1.1_cdr_ok_full_payload.json": ("2.1.1", [], ["v211.party_from_evse_id"]),
    "chargemap-ocpi-protocol_2.1.1_cdr_ok_without_tariff.json": ("2.1.1", [], ["v211.party_from_evse_id"]),
    "ocn-tools_2.2_cdr_12345_transcribed_from_ts.json": (
        "2.2.1", [], ["country.alpha2", "token.party_derived", "price.incl_vat_below_excl_vat"]),
    "ocpi-spec_2.1.1-bugfixes_cdr_example.json": (
        "2.1.1", [], ["v211.party_from_evse_id", "country.alpha2", "number.as_string"]),
    "ocpi-spec_2.2.1-bugfixes_cdr_example.json": ("2.2.1", [], []),
    # tag 2.2.1: cdr_token lacks country_code/party_id (ocpi/ocpi#384) -> derived from the eMA-ID
    "ocpi-spec_2.2.1-tag_cdr_example.json": ("2.2.1", [], ["token.party_derived"]),
    # 2.3.0: Price is {before_taxes, taxes[]} -> rejected, naming both Price fields
    "ocpi-spec_2.3.0_cdr_example.json": ("2.2.1", ["schema.additionalProperties", "schema.required"], []),
    "ocpi-tariffs-py_2.2.1_codeberg_issue_228_dynamic_hourly__cdr.json": ("2.2.1", [], []),
}


def test_expectations_cover_every_cdr_fixture():
    assert sorted(EXPECTED) == [n for n in fixture_names("*cdr*.json") if "envelope" not in n]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_fixture_accepted_or_rejected_for_the_documented_reason(name):
    version, errors, warnings = EXPECTED[name]
    result = accept(load(name))
    assert result.version == version
    assert sorted(set(codes(result.problems))) == sorted(errors), result.problems
    assert codes(result.warnings) == warnings, result.warnings
    assert result.accepted == (not errors)
    assert result.key is not None and result.key[2]


def test_2_3_0_price_shape_is_rejected_naming_the_field():
    result = accept(load(V230_CDR))
    paths = {(p.code, p.path) for p in result.problems}
    assert ("schema.additionalProperties", "total_cost.before_taxes") in paths
    assert ("schema.required", "total_cost.excl_vat") in paths
    message = next(p.message for p in result.problems if p.path == "total_cost.before_taxes")
    assert "2.3.0" in message
    assert result.cdr is None and result.key == ("BE", "BEC", "12345")


def test_result_shape(spec_cdr):
    result = accept(spec_cdr)
    assert isinstance(result, IntakeResult)
    assert result.raw is spec_cdr and result.problems == [] and result.warnings == []
    assert result.key == ("BE", "BEC", "12345")


# -- the bad-input list: one clear error per CDR, never an exception ------------------------------

def mutated(**changes: Any) -> dict[str, Any]:
    cdr = load(SPEC_CDR)
    for path, value in changes.items():
        node: Any = cdr
        steps = [int(s) if s.isdigit() else s for s in path.split("__")]
        for step in steps[:-1]:
            node = node[step]
        if value is DELETE:
            del node[steps[-1]]
        else:
            node[steps[-1]] = value
    return cdr


DELETE = object()
BAD = [
    ("wrong type: number", mutated(total_energy="lots"), "schema.type", "total_energy"),
    ("wrong type: object", mutated(cdr_token="012345678"), "schema.type", "cdr_token"),
    ("wrong type: list", mutated(charging_periods={"start_date_time": "x"}), "schema.type", "charging_periods"),
    ("wrong type: bool", mutated(credit="yes"), "schema.type", "credit"),
    ("unknown enum", mutated(auth_method="WHITELISTED"), "schema.enum", "auth_method"),
    ("unknown nested enum", mutated(charging_periods__0__dimensions__0__type="ENERGYY"), "schema.enum",
     "charging_periods[0].dimensions[0].type"),
    ("over-long string", mutated(cdr_location__city="x" * 46), "schema.maxLength", "cdr_location.city"),
    ("10 MB string", mutated(remark="x" * 10_000_000), "schema.maxLength", "remark"),
    ("missing required", mutated(auth_method=DELETE), "schema.required", "auth_method"),
    ("missing nested required", mutated(cdr_location__coordinates=DELETE), "schema.required",
     "cdr_location.coordinates"),
    ("null for required", mutated(currency=None), "schema.type", "currency"),
    ("NaN from a Python caller", mutated(total_energy=float("nan")), "json.nan", "total_energy"),
    ("Infinity Decimal", mutated(total_time=Decimal("Infinity")), "json.nan", "total_time"),
    ("not a date-time", mutated(start_date_time="29/06/2015 21:39"), "schema.format", "start_date_time"),
    ("unknown field", mutated(cdr_tokn={}), "schema.additionalProperties", "cdr_tokn"),
    ("deeply nested junk", mutated(remark=json.loads("[" * 900 + "]" * 900)), "json.too_deep", ""),
    ("not an object", [load(SPEC_CDR)], "cdr.not_object", ""),
    ("a string", "{}", "cdr.not_object", ""),
    ("null", None, "cdr.not_object", ""),
    ("empty object", {}, "schema.required", "country_code"),
]


@pytest.mark.parametrize("label, data, code, path", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gives_a_clear_per_cdr_error(label, data, code, path):
    result = accept(data)
    assert not result.accepted and result.cdr is None
    problem = by_code(result.problems, code)
    if code == "json.too_deep":
        assert problem.path.startswith("remark")
    else:
        assert problem.path == path
    assert problem.message and len(problem.message) < 300
    assert "intake.internal" not in codes(result.problems)


def test_deeply_nested_python_object_does_not_recurse_forever():
    junk: Any = []
    for _ in range(100_000):
        junk = [junk]
    result = accept({"id": "1", "remark": junk})
    assert by_code(result.problems, "json.too_deep")


def test_key_is_known_for_rejected_cdrs():
    result = accept(mutated(total_energy="lots", country_code="be"))
    assert result.key == ("BE", "BEC", "12345")


def test_batch_with_one_bad_cdr_among_good_ones():
    good = json.dumps(json.loads((DATA / SPEC_CDR).read_text())).encode()
    bad_schema = json.dumps({**json.loads(good), "auth_method": "MAGIC"}).encode()
    lines = [good, b'{"broken": ', good, bad_schema, good.replace(b"15.342", b"NaN"), good]
    items = list(read_items(io.BytesIO(b"\n".join(lines) + b"\n"), "batch.jsonl"))
    outcomes = []
    for item in items:
        if item.problems:
            outcomes.append(item.problems[0].code)
            continue
        result = accept(item.data)
        outcomes.append("ok" if result.accepted else result.problems[0].code)
    assert outcomes == ["ok", "json.invalid", "ok", "schema.enum", "json.nan", "ok"]
    assert [i.source for i in items] == [f"batch.jsonl:{n}" for n in range(1, 7)]


# -- property: generated valid CDRs never raise and keep amounts exact -----------------------------

amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=4, allow_nan=False)
ids = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=36)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))
prices = st.builds(lambda e, v: {"excl_vat": e, "incl_vat": e + v}, amounts, amounts)


@st.composite
def cdrs(draw) -> dict[str, Any]:
    start = draw(times)
    duration = draw(st.integers(min_value=0, max_value=86_400 * 3))
    end = start + timedelta(seconds=duration)
    style = draw(st.sampled_from(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "millis"]))

    def fmt(moment: datetime) -> str:  # OCPI DateTime is string(25): milliseconds at most with the Z
        if style == "millis":
            return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        return moment.strftime(style)

    n_periods = draw(st.integers(min_value=1, max_value=4))
    periods = [{
        "start_date_time": fmt(start + timedelta(seconds=duration * i // n_periods)),
        "dimensions": draw(st.lists(st.fixed_dictionaries({
            "type": st.sampled_from(["ENERGY", "TIME", "PARKING_TIME", "MAX_POWER"]),
            "volume": amounts}), min_size=1, max_size=3)),
    } for i in range(n_periods)]
    cdr = load(SPEC_CDR)
    cdr.update({
        "id": draw(ids),
        "start_date_time": fmt(start),
        "end_date_time": fmt(end),
        "currency": draw(st.sampled_from(["EUR", "CHF", "GBP", "SEK"])),
        "charging_periods": periods,
        "total_cost": draw(prices),
        "total_energy": draw(amounts),
        "total_time": draw(amounts),
    })
    cdr["tariffs"][0]["currency"] = cdr["currency"]
    cdr["tariffs"][0]["elements"][0]["price_components"][0]["price"] = draw(amounts)
    if draw(st.booleans()):
        cdr["total_energy_cost"] = draw(prices)
    if draw(st.booleans()):
        cdr["cdr_token"]["contract_id"] = draw(st.sampled_from(["DE-TNM-C12345678-X", "NLEFFC1154RKPFC"]))
        del cdr["cdr_token"]["country_code"], cdr["cdr_token"]["party_id"]
    if draw(st.booleans()):  # numbers as strings, as some senders do
        cdr["total_energy"] = str(cdr["total_energy"])
    return cdr


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cdrs())
def test_generated_valid_cdrs_are_accepted_with_exact_amounts(cdr):
    expected_total = Decimal(str(cdr["total_cost"]["excl_vat"]))
    expected_energy = Decimal(str(cdr["total_energy"]))
    expected_volumes = [Decimal(str(d["volume"])) for p in cdr["charging_periods"] for d in p["dimensions"]]
    result = accept(cdr)
    assert result.accepted, result.problems
    out = result.cdr
    assert out["total_cost"]["excl_vat"] == expected_total
    assert str(out["total_cost"]["excl_vat"]) == str(expected_total)  # not even the exponent changes
    assert out["total_energy"] == expected_energy and type(out["total_energy"]) is Decimal
    assert [d["volume"] for p in out["charging_periods"] for d in p["dimensions"]] == expected_volumes
    assert out["end_date_time"] >= out["start_date_time"]
    assert out["start_date_time"].tzinfo is UTC


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20)
                    | st.decimals(allow_nan=True, allow_infinity=True) | st.floats(),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.sampled_from(["id", "total_cost", "cdr_token", "excl_vat", "start_date_time",
                                                       "charging_periods", "dimensions", "volume", "country_code",
                                                       "stop_date_time", "auth_id", "location", "evses", "x"]),
                                      children, max_size=6),
                    max_leaves=30))
def test_arbitrary_junk_never_raises(data):
    result = accept(data)
    assert isinstance(result, IntakeResult)
    assert "intake.internal" not in codes(result.problems), result.problems
    if result.accepted:  # junk is never a valid CDR, but if it were it would be normalised
        assert isinstance(result.cdr, dict)
