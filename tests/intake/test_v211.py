"""engine/intake/v211.py: OCPI 2.1.1 CDRs recognised by shape and converted to 2.2.1."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from engine.intake import accept
from engine.intake.v211 import convert, is_v211, map_path

from .conftest import ENVELOPE, SPEC_CDR, V211_CDR, VERSAILLES, by_code, codes, load

UTC = timezone.utc


def test_detection_by_shape():
    assert is_v211(load(V211_CDR))
    assert is_v211(load(VERSAILLES))
    assert not is_v211(load(SPEC_CDR))
    assert not is_v211({"stop_date_time": "x", "cdr_token": {}})  # mixed: judged as 2.2.1


def test_spec_example_converted():
    result = accept(load(V211_CDR))
    assert result.accepted, result.problems
    assert result.version == "2.1.1"
    cdr = result.cdr
    assert result.key == ("BE", "BEC", "12345")  # from the EVSE id "BE-BEC-E041503003"
    assert cdr["end_date_time"] == datetime(2015, 6, 29, 23, 37, 32, tzinfo=UTC)
    assert "stop_date_time" not in cdr and "auth_id" not in cdr and "location" not in cdr
    assert cdr["cdr_token"] == {"country_code": "DE", "party_id": "8AC", "uid": "DE8ACC12E46L89",
                                "type": "OTHER", "contract_id": "DE8ACC12E46L89"}
    assert cdr["cdr_location"] == {
        "id": "LOC1", "name": "Gent Zuid", "address": "F.Rooseveltlaan 3A", "city": "Gent",
        "postal_code": "9000", "country": "BEL",
        "coordinates": {"latitude": "3.729944", "longitude": "51.047599"},
        "evse_uid": "3256", "evse_id": "BE-BEC-E041503003", "connector_id": "1",
        "connector_standard": "IEC_62196_T2", "connector_format": "SOCKET", "connector_power_type": "AC_1_PHASE",
    }
    assert cdr["total_cost"] == {"excl_vat": Decimal("4.00")}
    tariff = cdr["tariffs"][0]
    assert (tariff["country_code"], tariff["party_id"]) == ("BE", "BEC")
    assert tariff["elements"][0]["price_components"][0]["price"] == Decimal("2.00")  # was the string "2.00"
    warnings = {w.code: w for w in result.warnings}
    assert warnings["country.alpha2"].path == "location.country"  # told in the input's terms
    assert "'BE'" in warnings["country.alpha2"].message
    assert warnings["number.as_string"].path == "tariffs[0].elements[0].price_components[0].price"
    assert warnings["v211.party_from_evse_id"].path == "location.evses[0].evse_id"


def test_real_world_2_1_1_cdr_with_star_evse_id():
    result = accept(load(VERSAILLES))
    assert result.accepted, result.problems
    assert result.key == ("FR", "55C", "2dafe2cf-cbd7-4430-9a1a-c9b01abac372")
    assert result.cdr["cdr_token"]["party_id"] == "CMP"
    assert result.cdr["total_cost"] == {"excl_vat": Decimal(0)}


def test_envelope_fixture_converted():
    data = load(ENVELOPE)["data"][0]
    result = accept(data, default_party=("BE", "BEC"))
    assert result.accepted and result.version == "2.1.1"
    assert len(result.cdr["tariffs"]) == 2
    restrictions = result.cdr["tariffs"][0]["elements"][0]["restrictions"]
    assert restrictions["min_kwh"] == Decimal("5.5") and restrictions["max_duration"] == Decimal(2)
    assert "v211.party_from_evse_id" not in codes(result.warnings)  # the caller said who the CPO is


def test_default_party_wins_and_a_different_evse_prefix_is_warned():
    result = accept(load(V211_CDR), default_party=("nl", "abc"))
    assert result.key == ("NL", "ABC", "12345")
    assert result.cdr["tariffs"][0]["country_code"] == "NL"
    assert by_code(result.warnings, "v211.party_mismatch").path == "location.evses[0].evse_id"


def test_no_party_anywhere_is_rejected_with_the_reason():
    data = load(V211_CDR)
    data["location"]["evses"][0]["evse_id"] = "3256"
    result = accept(data)
    assert not result.accepted
    problem = by_code(result.problems, "schema.required")
    assert problem.path == "country_code"
    assert "2.1.1" in problem.message and "default party" in problem.message
    assert result.key is None


def test_auth_id_without_ema_prefix_is_rejected_at_auth_id():
    data = load(V211_CDR)
    data["auth_id"] = "04A3B2C1D0"
    result = accept(data)
    paths = {p.path for p in result.problems}
    assert paths == {"auth_id"}
    assert "eMA-ID" in result.problems[0].message


def test_flat_dimension_dropped_with_warning():
    data = load(V211_CDR)
    data["charging_periods"][0]["dimensions"].append({"type": "FLAT", "volume": 1})
    data["charging_periods"].append({"start_date_time": "2015-06-29T22:00:00Z",
                                     "dimensions": [{"type": "FLAT", "volume": 1}]})
    result = accept(data)
    assert result.accepted, result.problems
    assert [len(p["dimensions"]) for p in result.cdr["charging_periods"]] == [1]
    flat = [w for w in result.warnings if w.code == "v211.flat_dimension_dropped"]
    assert [w.path for w in flat] == ["charging_periods[0].dimensions[1]", "charging_periods[1].dimensions[0]"]


def test_numbers_as_strings_everywhere():
    data = load(V211_CDR)
    data["total_cost"] = "4.00"
    data["total_energy"] = "15.342"
    data["charging_periods"][0]["dimensions"][0]["volume"] = "1.973"
    data["tariffs"][0]["elements"][0]["price_components"][0]["step_size"] = "300"
    result = accept(data)
    assert result.accepted, result.problems
    assert result.cdr["total_cost"]["excl_vat"] == Decimal("4.00")
    assert result.cdr["total_energy"] == Decimal("15.342")
    assert result.cdr["tariffs"][0]["elements"][0]["price_components"][0]["step_size"] == 300
    assert by_code(result.warnings, "number.as_string")


def test_problem_paths_point_into_the_2_1_1_input():
    data = load(V211_CDR)
    data["location"]["evses"][0]["connectors"][0]["standard"] = "IEC_62196_T2_COMBOO"
    data["stop_date_time"] = "yesterday"
    data["total_cost"] = "four"
    result = accept(data)
    by_path = {p.path: p for p in result.problems}
    assert set(by_path) == {"location.evses[0].connectors[0].standard", "stop_date_time", "total_cost"}
    assert "did you mean 'IEC_62196_T2_COMBO'" in by_path["location.evses[0].connectors[0].standard"].message


def test_evse_without_evse_id_uses_uid():
    data = load(V211_CDR)
    del data["location"]["evses"][0]["evse_id"]
    result = accept(data, default_party=("BE", "BEC"))
    assert result.accepted
    assert result.cdr["cdr_location"]["evse_id"] == "3256"
    assert by_code(result.warnings, "v211.evse_id_from_uid")


def test_unknown_2_1_1_fields_are_carried_over_and_rejected():
    data = load(V211_CDR)
    data["extra_field"] = 1
    result = accept(data)
    assert by_code(result.problems, "schema.additionalProperties").path == "extra_field"


def test_conversion_leaves_the_input_untouched():
    data = load(V211_CDR)
    before = load(V211_CDR)
    convert(data, ("BE", "BEC"))
    accept(data)
    assert data == before


def test_map_path_longest_prefix():
    mapping = {"cdr_location": "location", "cdr_location.evse_uid": "location.evses[0].uid"}
    assert map_path("cdr_location.evse_uid", mapping) == "location.evses[0].uid"
    assert map_path("cdr_location.coordinates.latitude", mapping) == "location.coordinates.latitude"
    assert map_path("cdr_locationx", mapping) == "cdr_locationx"
