"""Facts: what other systems know about a session, looked up before classification.

Contract management knows the customer behind a token and their subscription, the roaming
backend knows the MSP contract behind a token issuer, the PSP knows the payment, the location
master knows cost centre, category and time zone. Each is reached through ``FactSource`` so the
embedded YAML/database source can be swapped for an HTTP one without touching the rules.

``lookup_facts`` is pure given a source: it reads no clock (validity is judged on the
session's local start date) and returns plain data that is stored on the Decision.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from engine.memo import remembered
from engine.timezones import zone_for_cdr


class FactSource(Protocol):
    def customer_by_token(self, uid: str) -> dict[str, Any] | None: ...
    def subscriptions_of(self, customer_id: str) -> list[dict[str, Any]]: ...
    def msp_contracts_of(self, party: str) -> list[dict[str, Any]]: ...
    def psp_transaction(self, authorization_reference: str | None, session_id: str | None) -> dict[str, Any] | None: ...
    def location(self, location_id: str) -> dict[str, Any] | None: ...


# ISO date text -> date, for the validity bounds of contracts and subscriptions: a handful of
# distinct texts judged for nearly every CDR (engine/memo.py; a date is immutable).
_DATES: dict[str, date] = {}
_DATES_LIMIT = 4096


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if value.__class__ is str:  # (str(value) is value itself: the memo's key is all that is read)
        found = _DATES.get(value)
        return found if found is not None else \
            remembered(_DATES, value, lambda: date.fromisoformat(value), _DATES_LIMIT)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def valid_on(record: dict[str, Any], day: date) -> bool:
    """Status active and ``valid_from <= day <= valid_to`` (absent bounds are open)."""
    start, end = _as_date(record.get("valid_from")), _as_date(record.get("valid_to"))
    return (record.get("status", "active") == "active"
            and (start is None or start <= day)
            and (end is None or day <= end))


def _pick(records: list[dict[str, Any]], day: date) -> dict[str, Any] | None:
    """The record valid on ``day``; else the one closest before it (so rules can say 'expired')."""
    if not records:
        return None
    for record in records:
        if valid_on(record, day):
            return record
    return _closest_before(records, day)


def _closest_before(records: list[dict[str, Any]], day: date) -> dict[str, Any]:
    """Of records none of which is valid on ``day``: the latest to start by then (else of all)."""
    earlier = [r for r in records if (_as_date(r.get("valid_from")) or date.min) <= day]
    pool = earlier or records
    return max(pool, key=lambda r: _as_date(r.get("valid_from")) or date.min)


def _with_active(record: dict[str, Any] | None, day: date) -> dict[str, Any] | None:
    if record is None:
        return None
    out = dict(record)
    out["active"] = valid_on(record, day)
    return out


def _picked_with_active(records: list[dict[str, Any]], day: date) -> dict[str, Any] | None:
    """``_with_active(_pick(records, day), day)``, judging each record once (every subscription
    and roaming CDR comes here): ``_pick`` returns the first record valid on ``day`` - whose
    ``active`` is therefore True - or, when none is, one whose ``active`` is therefore False.
    ``valid_on`` is pure, so judging the picked record again could only repeat the answer."""
    for record in records:
        if valid_on(record, day):
            out = dict(record)
            out["active"] = True
            return out
    if not records:
        return None
    out = dict(_closest_before(records, day))
    out["active"] = False
    return out


def token_issuer(cdr: dict[str, Any]) -> tuple[str, str] | None:
    token = cdr.get("cdr_token") or {}
    country, party = token.get("country_code"), token.get("party_id")
    if country and party:
        return str(country).upper(), str(party).upper()
    return None


def session_day(cdr: dict[str, Any], tz: ZoneInfo) -> date:
    start = cdr["start_date_time"]
    return start.astimezone(tz).date() if isinstance(start, datetime) else date.fromisoformat(str(start)[:10])


def lookup_facts(cdr: dict[str, Any], source: FactSource, *, own_parties: frozenset[str],
                 default_time_zone: str = "UTC") -> dict[str, Any]:
    """All facts for one normalised CDR."""
    location_id = (cdr.get("cdr_location") or {}).get("id")
    location = source.location(location_id) if location_id else None
    tz = zone_for_cdr(cdr, location, default_time_zone)
    day = session_day(cdr, tz)

    issuer = token_issuer(cdr)
    party = f"{issuer[0]}*{issuer[1]}" if issuer else None
    token = cdr.get("cdr_token") or {}
    own = party in own_parties if party else False
    facts: dict[str, Any] = {
        "token": {
            "issuer": party,
            "country_code": issuer[0] if issuer else None,
            "party_id": issuer[1] if issuer else None,
            "own": own,
        },
        "customer": None,
        "subscription": None,
        "msp": None,
        "psp": None,
        "location": dict(location, time_zone=str(tz)) if location else None,
        "session_date": day.isoformat(),
    }

    uid = token.get("uid")
    if own and uid:
        customer = source.customer_by_token(str(uid))
        if customer:
            facts["customer"] = dict(customer)
            facts["subscription"] = _picked_with_active(source.subscriptions_of(customer["id"]), day)
    if party and not own:
        facts["msp"] = _picked_with_active(source.msp_contracts_of(party), day)

    if cdr.get("authorization_reference") or cdr.get("session_id"):
        psp = source.psp_transaction(cdr.get("authorization_reference"), cdr.get("session_id"))
        if psp:
            facts["psp"] = dict(psp, captured=psp.get("status") == "captured")
    return facts
