"""Reference data from other systems (contract management, roaming backend, PSP, location
master), normalised with Cerberus and served through the ``FactSource`` interface.

Records from outside are untidy: vendor field names, numbers as strings, dates as strings or
dates. Cerberus coerces and validates each record once, when it is loaded; a bad record is a
Problem naming the file, the record and the field, never a half-loaded source.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable

from cerberus import TypeDefinition, Validator

from engine.config.yamlload import LocList, load_yaml, plain
from engine.problems import Problem


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError("floats are not accepted for money")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _date_text(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


_DATE = {"type": "string", "nullable": True, "coerce": _date_text, "regex": r"^\d{4}-\d{2}-\d{2}$"}
_STATUS = {"type": "string", "allowed": ["active", "suspended", "cancelled", "expired", "terminated"],
           "default": "active"}

SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "customers": ("customers", {
        "id": {"type": "string", "required": True, "empty": False},
        "name": {"type": "string", "required": True},
        "type": {"type": "string", "allowed": ["B2C", "B2B"], "default": "B2C", "coerce": _upper},
        "country": {"type": "string", "regex": "^[A-Z]{2}$", "coerce": _upper},
        "email": {"type": "string", "nullable": True},
        "address": {"type": "dict", "nullable": True},
        "vat_id": {"type": "string", "nullable": True},
        "tokens": {"type": "list", "schema": {"type": "string"}, "default": []},
    }),
    "subscriptions": ("subscriptions", {
        "id": {"type": "string", "required": True},
        "customer_id": {"type": "string", "required": True},
        "plan_id": {"type": "string", "required": True},
        "status": _STATUS,
        "valid_from": dict(_DATE, nullable=False, required=True),
        "valid_to": _DATE,
    }),
    "msp_contracts": ("msps", {
        "party": {"type": "string", "required": True, "regex": r"^[A-Z]{2}\*[A-Z0-9]{3}$", "coerce": _upper},
        "contract_id": {"type": "string", "required": True},
        "name": {"type": "string", "required": True},
        "country": {"type": "string", "regex": "^[A-Z]{2}$", "coerce": _upper, "required": True},
        "vat_id": {"type": "string", "nullable": True},
        "reseller": {"type": "boolean", "required": True},
        "status": _STATUS,
        "valid_from": dict(_DATE, nullable=False, required=True),
        "valid_to": _DATE,
        "tariff_id": {"type": "string", "nullable": True},
        "address": {"type": ["dict", "string"], "nullable": True},
        "email": {"type": "string", "nullable": True},
        "buyer_reference": {"type": "string", "nullable": True},
        "payment_terms_days": {"type": "integer", "default": 30},
    }),
    "psp_transactions": ("transactions", {
        "id": {"type": "string", "required": True},
        "authorization_reference": {"type": "string", "nullable": True},
        "session_id": {"type": "string", "nullable": True},
        "status": {"type": "string", "required": True,
                   "allowed": ["authorised", "captured", "failed", "refunded", "cancelled"]},
        "amount": {"type": "decimal", "coerce": _decimal, "required": True},
        "currency": {"type": "string", "regex": "^[A-Z]{3}$", "coerce": _upper, "required": True},
        "captured_at": {"type": "string", "nullable": True, "coerce": _date_text},
        "provider": {"type": "string", "nullable": True},
        "email": {"type": "string", "nullable": True},
    }),
    "locations": ("locations", {
        "id": {"type": "string", "required": True},
        "name": {"type": "string"},
        "country": {"type": "string", "regex": "^[A-Z]{2}$", "coerce": _upper},
        "city": {"type": "string"},
        "cost_centre": {"type": "string", "required": True},
        "category": {"type": "string", "required": True,
                     "allowed": ["urban", "highway", "destination", "depot", "residential", "retail"]},
        "time_zone": {"type": "string", "required": True},
    }),
}


class _Validator(Validator):
    types_mapping = dict(Validator.types_mapping, decimal=TypeDefinition("decimal", (Decimal,), ()))


class InMemorySource:
    """The embedded FactSource: reference records held in dicts keyed for the lookups we make."""

    def __init__(self, records: dict[str, list[dict[str, Any]]]):
        self.customers = {c["id"]: c for c in records.get("customers", [])}
        # what customer_by_token hands out (a copy of): the record without its tokens, built once
        self._by_token = {t.upper(): public for c in self.customers.values()
                          for public in [{k: v for k, v in c.items() if k != "tokens"}] for t in c.get("tokens", [])}
        self._subscriptions: dict[str, list[dict[str, Any]]] = {}
        for s in records.get("subscriptions", []):
            self._subscriptions.setdefault(s["customer_id"], []).append(s)
        self._msps: dict[str, list[dict[str, Any]]] = {}
        for m in records.get("msp_contracts", []):
            self._msps.setdefault(m["party"], []).append(m)
        self._psp_by_auth = {t["authorization_reference"]: t for t in records.get("psp_transactions", [])
                             if t.get("authorization_reference")}
        self._psp_by_session = {t["session_id"]: t for t in records.get("psp_transactions", [])
                                if t.get("session_id")}
        self._locations = {loc["id"]: loc for loc in records.get("locations", [])}

    def customer_by_token(self, uid: str) -> dict[str, Any] | None:
        customer = self._by_token.get(uid.upper())
        return dict(customer) if customer else None

    def subscriptions_of(self, customer_id: str) -> list[dict[str, Any]]:
        return list(self._subscriptions.get(customer_id, []))

    def msp_contracts_of(self, party: str) -> list[dict[str, Any]]:
        return list(self._msps.get(party.upper(), []))

    def psp_transaction(self, authorization_reference: str | None, session_id: str | None) -> dict[str, Any] | None:
        if authorization_reference and authorization_reference in self._psp_by_auth:
            return self._psp_by_auth[authorization_reference]
        if session_id:
            return self._psp_by_session.get(session_id)
        return None

    def location(self, location_id: str) -> dict[str, Any] | None:
        return self._locations.get(location_id)

    def msp_contract(self, party: str, contract_id: str | None = None) -> dict[str, Any] | None:
        for contract in self._msps.get(party.upper(), []):
            if contract_id is None or contract["contract_id"] == contract_id:
                return contract
        return None


def validate_records(kind: str, records: Iterable[Any], file: str, locs: list | None = None) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Normalise one kind's records with Cerberus; return the good ones and a Problem per bad one."""
    _, schema = SCHEMAS[kind]
    validator = _Validator(schema, purge_unknown=False, allow_unknown=True)
    good, problems = [], []
    for i, record in enumerate(records):
        line = locs[i].line if locs and i < len(locs) else None
        if not isinstance(record, dict) or not validator.validate(plain(record)):
            errors = validator.errors if isinstance(record, dict) else {"record": ["must be a mapping"]}
            for field, messages in errors.items():
                problems.append(Problem(code="reference.invalid", path=f"{kind}[{i}].{field}",
                                        message=f"{field}: {messages}", file=file, line=line, col=1))
            continue
        good.append(validator.document)
    return good, problems


def load_reference(directory: str | Path) -> tuple[InMemorySource, list[Problem]]:
    """Read every ``*.yaml`` reference file in ``directory`` (by its ``kind``)."""
    records: dict[str, list[dict[str, Any]]] = {}
    problems: list[Problem] = []
    for path in sorted(Path(directory).glob("*.y*ml")):
        data, found = load_yaml(path.read_text(encoding="utf-8"), str(path))
        problems += found
        if not isinstance(data, dict) or data.get("kind") not in SCHEMAS:
            problems.append(Problem(code="reference.kind", file=str(path), line=1, col=1,
                                    message=f"expected 'kind' to be one of {sorted(SCHEMAS)}"))
            continue
        kind = data["kind"]
        key, _ = SCHEMAS[kind]
        items = data.get(key) or []
        good, bad = validate_records(kind, items, str(path), items.item_locs if isinstance(items, LocList) else None)
        records.setdefault(kind, []).extend(good)
        problems += bad
    return InMemorySource(records), problems
