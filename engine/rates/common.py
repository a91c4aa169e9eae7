"""Small helpers every stream pricer needs: the session's local date, the charge point's
country, the CDR reference carried by every line, and the tax treatment from the bundle."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Mapping

from engine.memo import remembered
from engine.problems import Problem
from engine.tax.config import tax_rules_of
from engine.tax.periods import as_date
from engine.tax.treatment import TaxTreatment, decide_treatment


def session_day(cdr: Mapping[str, Any], facts: Mapping[str, Any]) -> tuple[date | None, list[Problem]]:
    """The session's local start date (``facts.session_date``); the UTC date with a warning if absent.

    Prices and VAT rates are chosen by this date, never by a clock.
    """
    day = facts.get("session_date")
    if day:
        try:
            return (_day_of(day) if type(day) is str else as_date(day)), []
        except ValueError:
            pass
    start = cdr.get("start_date_time")
    if isinstance(start, datetime):
        return start.date(), [Problem("SESSION_DATE_MISSING", "facts.session_date missing: the UTC date of "
                                      "start_date_time was used", path="facts.session_date", severity="warning")]
    try:
        return as_date(start), [Problem("SESSION_DATE_MISSING", "facts.session_date missing: the date of "
                                        "start_date_time was used", path="facts.session_date", severity="warning")]
    except (TypeError, ValueError):
        return None, [Problem("SESSION_DATE_MISSING", "no session date: neither facts.session_date nor "
                              "start_date_time is usable", path="start_date_time")]


_DAYS: dict[str, date] = {}
_DAYS_LIMIT = 4096


def _day_of(text: str) -> date:
    """``as_date`` of a session date text, remembered: every session of a day has the same text
    (as_date reads nothing but the text; a failure is raised again, as nothing is remembered)."""
    return remembered(_DAYS, text, lambda: as_date(text), _DAYS_LIMIT)


def location_country(cdr: Mapping[str, Any], facts: Mapping[str, Any]) -> str | None:
    """The charge point's country: the location master's, else the CDR's (alpha-3)."""
    location = facts.get("location") or {}
    return location.get("country") or (cdr.get("cdr_location") or {}).get("country")


def location_category(facts: Mapping[str, Any]) -> str | None:
    return (facts.get("location") or {}).get("category")


def cdr_reference(cdr: Mapping[str, Any]) -> dict[str, Any]:
    """What every line of a session carries so that it can be traced to its OCPI CDR."""
    ref: dict[str, Any] = {"cdr_id": cdr.get("id")}
    for key in ("session_id", "country_code", "party_id"):
        value = cdr.get(key)
        if value is not None:
            ref[key] = value
    if cdr.get("credit"):
        ref["credit"] = True
        ref["credit_reference_id"] = cdr.get("credit_reference_id")
    return ref


def treatment(bundle: Any, stream: str, cdr: Mapping[str, Any], facts: Mapping[str, Any],
              day: date) -> tuple[TaxTreatment | None, list[Problem]]:
    rules = tax_rules_of(bundle)
    if rules.empty:
        return None, [Problem("TAX_RULES_MISSING", "the configuration has no 'kind: tax_rules' file",
                              path="rules")]
    return decide_treatment(rules, stream, facts, location_country=location_country(cdr, facts), on=day)


def currency_check(cdr: Mapping[str, Any], currency: str | None, what: str) -> list[Problem]:
    given = cdr.get("currency")
    if given and currency and str(given).upper() != currency:
        return [Problem("CURRENCY_MISMATCH", f"{what} is in {currency}, the CDR in {given}: priced in {currency}",
                        path="currency", severity="warning")]
    return []
