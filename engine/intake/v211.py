"""OCPI 2.1.1 CDRs, recognised by shape and converted to the 2.2.1 shape.

Many CPO backends still speak 2.1.1. Its CDR differs in ways that matter for billing:
``stop_date_time`` instead of ``end_date_time``; ``auth_id`` (the contract id, *not* the RFID
uid) instead of a ``cdr_token``; a full ``location`` with ``evses[0].connectors[0]`` instead of
``cdr_location``; ``total_cost`` a plain number *excluding* VAT; no ``country_code``/``party_id``
of the CPO (nor in the tariffs); a ``FLAT`` CdrDimension that 2.2 removed. Converting up front
lets every later stage deal with one shape.

The conversion never validates: it rebuilds what it recognises and carries everything else over
unchanged, so that the 2.2.1 schema rejects it with the field named. ``path_map`` translates the
2.2.1 paths of later problems back to where the value sits in the 2.1.1 input, and ``hints`` adds
the 2.1.1-specific reason to a problem at a given path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.intake.emi3 import party_from_contract_id, party_from_evse_id
from engine.problems import Problem, join_path

VERSION = "2.1.1"

# Fields the converter consumes; anything else at the top level is carried over (and rejected).
_CONSUMED = {
    "id", "start_date_time", "stop_date_time", "auth_id", "auth_method", "location", "meter_id",
    "currency", "tariffs", "charging_periods", "total_cost", "total_energy", "total_time",
    "total_parking_time", "remark", "last_updated",
}

FLAT_DROPPED = "v211.flat_dimension_dropped"
PARTY_FROM_EVSE = "v211.party_from_evse_id"
PARTY_MISMATCH = "v211.party_mismatch"
EVSE_ID_FROM_UID = "v211.evse_id_from_uid"
EXTRA_EVSES = "v211.extra_evses_ignored"


@dataclass
class Conversion:
    cdr: dict[str, Any]
    warnings: list[Problem] = field(default_factory=list)
    path_map: dict[str, str] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)


def is_v211(data: dict[str, Any]) -> bool:
    """2.1.1 by shape: a 2.1.1-only field and none of the 2.2.1-only ones."""
    if "cdr_token" in data or "cdr_location" in data or "end_date_time" in data:
        return False
    return "stop_date_time" in data or "auth_id" in data or "location" in data


def _warn(conv: Conversion, code: str, message: str, path: str) -> None:
    conv.warnings.append(Problem(code=code, message=message, path=path, severity="warning"))


def cpo_party(data: dict[str, Any], default_party: tuple[str, str] | None,
              conv: Conversion) -> tuple[str, str] | None:
    """The CPO's (country_code, party_id): the caller's default, else the EVSE-ID prefix."""
    evse_id = _first_evse(data.get("location")).get("evse_id")
    from_evse = party_from_evse_id(evse_id)
    if default_party is not None:
        party = (default_party[0].upper(), default_party[1].upper())
        if from_evse is not None and from_evse != party:
            _warn(conv, PARTY_MISMATCH,
                  f"EVSE id {evse_id!r} names party {'*'.join(from_evse)}, but the CDR was read for "
                  f"{'*'.join(party)}; using {'*'.join(party)}", "location.evses[0].evse_id")
        return party
    if from_evse is not None:
        _warn(conv, PARTY_FROM_EVSE,
              f"OCPI 2.1.1 CDRs carry no CPO party: country_code/party_id {'/'.join(from_evse)} "
              f"taken from EVSE id {evse_id!r}", "location.evses[0].evse_id")
    return from_evse


def _first_evse(location: Any) -> dict[str, Any]:
    evses = location.get("evses") if isinstance(location, dict) else None
    if isinstance(evses, list) and evses and isinstance(evses[0], dict):
        return evses[0]
    return {}


def _cdr_location(location: Any, conv: Conversion) -> Any:
    if not isinstance(location, dict):
        return location  # the schema says "expected object" at cdr_location -> location
    out: dict[str, Any] = {}
    for key in ("id", "name", "address", "city", "postal_code", "state", "country", "coordinates"):
        if key in location:
            out[key] = location[key]
    evse = _first_evse(location)
    evses = location.get("evses")
    if isinstance(evses, list) and len(evses) > 1:
        _warn(conv, EXTRA_EVSES, f"{len(evses)} EVSEs in the 2.1.1 location; the first one is used",
              "location.evses")
    connectors = evse.get("connectors")
    connector = connectors[0] if isinstance(connectors, list) and connectors and isinstance(connectors[0], dict) else {}
    if isinstance(connectors, list) and len(connectors) > 1:
        _warn(conv, EXTRA_EVSES, f"{len(connectors)} connectors in the 2.1.1 EVSE; the first one is used",
              "location.evses[0].connectors")
    if "uid" in evse:
        out["evse_uid"] = evse["uid"]
    if "evse_id" in evse:
        out["evse_id"] = evse["evse_id"]
    elif "uid" in evse:  # optional in 2.1.1, required in 2.2.1
        out["evse_id"] = evse["uid"]
        _warn(conv, EVSE_ID_FROM_UID, "the 2.1.1 EVSE has no evse_id; its uid is used instead",
              "location.evses[0].evse_id")
    for new, old in (("connector_id", "id"), ("connector_standard", "standard"),
                     ("connector_format", "format"), ("connector_power_type", "power_type")):
        if old in connector:
            out[new] = connector[old]
    return out


def _cdr_token(auth_id: Any) -> dict[str, Any]:
    token: dict[str, Any] = {}
    party = party_from_contract_id(auth_id)
    if party is not None:
        token["country_code"], token["party_id"] = party
    token["uid"] = auth_id
    token["type"] = "OTHER"
    token["contract_id"] = auth_id
    return token


def _charging_periods(periods: Any, conv: Conversion) -> Any:
    if not isinstance(periods, list):
        return periods
    out = []
    for i, period in enumerate(periods):
        dims = period.get("dimensions") if isinstance(period, dict) else None
        if not isinstance(dims, list):
            out.append(period)
            continue
        kept = []
        for j, dim in enumerate(dims):
            if isinstance(dim, dict) and dim.get("type") == "FLAT":
                _warn(conv, FLAT_DROPPED, "FLAT dimension (OCPI 2.1.1 only) dropped; volume "
                      f"{dim.get('volume')!s}", join_path(join_path(join_path("charging_periods", i), "dimensions"), j))
            else:
                kept.append(dim)
        if kept or not dims:
            out.append({**period, "dimensions": kept})
    return out


def _tariffs(tariffs: Any, party: tuple[str, str] | None) -> Any:
    if not isinstance(tariffs, list) or party is None:
        return tariffs
    return [fill_tariff_party(t, party) for t in tariffs]


def fill_tariff_party(tariff: Any, party: tuple[str, str]) -> Any:
    """A 2.1.1 tariff has no owner fields; give it the CPO's (kept if present)."""
    if not isinstance(tariff, dict) or ("country_code" in tariff and "party_id" in tariff):
        return tariff
    return {"country_code": party[0], "party_id": party[1], **tariff}


def convert(data: dict[str, Any], default_party: tuple[str, str] | None = None) -> Conversion:
    """A 2.1.1 CDR dict to a 2.2.1-shaped dict (values untouched; types are fixed later)."""
    conv = Conversion(cdr={})
    party = cpo_party(data, default_party, conv)
    cdr = conv.cdr
    if party is not None:
        cdr["country_code"], cdr["party_id"] = party
    else:
        hint = ("OCPI 2.1.1 CDRs carry no CPO party: read them with the operator's default party, "
                "or with an eMI3 EVSE id such as BE*BEC*E041503003")
        conv.hints["country_code"] = conv.hints["party_id"] = hint
    for key in ("id", "start_date_time"):
        if key in data:
            cdr[key] = data[key]
    if "stop_date_time" in data:
        cdr["end_date_time"] = data["stop_date_time"]
    if "auth_id" in data:
        cdr["cdr_token"] = _cdr_token(data["auth_id"])
        hint = (f"the eMSP party is taken from the auth_id's eMA-ID prefix (e.g. DE-TNM-C12345678-X), "
                f"and {str(data['auth_id'])[:40]!r} has none")
        conv.hints["cdr_token.country_code"] = conv.hints["cdr_token.party_id"] = hint
    if "auth_method" in data:
        cdr["auth_method"] = data["auth_method"]
    if "location" in data:
        cdr["cdr_location"] = _cdr_location(data["location"], conv)
    for key in ("meter_id", "currency"):
        if key in data:
            cdr[key] = data[key]
    if "tariffs" in data:
        cdr["tariffs"] = _tariffs(data["tariffs"], party)
    if "charging_periods" in data:
        cdr["charging_periods"] = _charging_periods(data["charging_periods"], conv)
    if "total_cost" in data:
        total = data["total_cost"]
        cdr["total_cost"] = total if isinstance(total, dict) else {"excl_vat": total}
        if not isinstance(total, dict):
            conv.path_map["total_cost.excl_vat"] = "total_cost"
    for key in ("total_energy", "total_time", "total_parking_time", "remark", "last_updated"):
        if key in data:
            cdr[key] = data[key]
    for key, value in data.items():
        if key not in _CONSUMED:
            cdr[key] = value
    conv.path_map.update({
        "end_date_time": "stop_date_time",
        "cdr_token.country_code": "auth_id",
        "cdr_token.party_id": "auth_id",
        "cdr_token.uid": "auth_id",
        "cdr_token.contract_id": "auth_id",
        "cdr_token": "auth_id",
        "cdr_location.evse_uid": "location.evses[0].uid",
        "cdr_location.evse_id": "location.evses[0].evse_id",
        "cdr_location.connector_id": "location.evses[0].connectors[0].id",
        "cdr_location.connector_standard": "location.evses[0].connectors[0].standard",
        "cdr_location.connector_format": "location.evses[0].connectors[0].format",
        "cdr_location.connector_power_type": "location.evses[0].connectors[0].power_type",
        "cdr_location": "location",
    })
    return conv


def map_path(path: str, path_map: dict[str, str]) -> str:
    """Translate a 2.2.1 path to the 2.1.1 input's, by the longest matching prefix."""
    best = ""
    for prefix in path_map:
        if len(prefix) > len(best) and (path == prefix or path.startswith(prefix + ".")
                                        or path.startswith(prefix + "[")):
            best = prefix
    return path_map[best] + path[len(best):] if best else path
