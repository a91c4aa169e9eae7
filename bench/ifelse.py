"""The classification baseline: rules/classification.yaml written by hand as if/elif.

It makes the same decisions as the compiled rules (run.py checks this on the whole corpus and
prints the agreement rate) with the same semantics: a missing or null value fails every test
except ``missing``/``ne``/``not_in``; numbers are Decimal/int (never bool); strings compare
exactly. It is what a developer would write without a rule engine, so the engine's cost over it
is the price of having the rules as data.

``classify(cdr, facts)`` returns the id of the deciding rule (``"fallback"`` when none).
``OUTCOME[rule_id]`` is (stream, exception reason).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

GO_LIVE = datetime(2026, 8, 31, 22, 0, tzinfo=timezone.utc)
EMA_ID = re.compile(r"(?i)^[A-Z]{2}-?[A-Z0-9]{3}-?[A-Z0-9]{9}(-?[A-Z0-9])?$")
PLANS = ("basis", "comfort", "fleet-pro")
OWN_TYPES = ("RFID", "APP_USER")
ZERO_ENERGY = Decimal("0.01")

OUTCOME: dict[str, tuple[str | None, str | None]] = {
    "foreign-cpo-cdr": (None, "FOREIGN_CPO_CDR"),
    "pre-migration-session": (None, "PRE_MIGRATION_SESSION"),
    "unknown-location": (None, "UNKNOWN_LOCATION"),
    "implausible-session": (None, "IMPLAUSIBLE_SESSION"),
    "zero-energy-session": (None, "ZERO_ENERGY_SESSION"),
    "invalid-contract-id": (None, "INVALID_CONTRACT_ID"),
    "service-token": (None, "SERVICE_SESSION"),
    "adhoc-psp-captured": ("adhoc", None),
    "adhoc-payment-failed": (None, "AD_HOC_PAYMENT_FAILED"),
    "adhoc-payment-not-captured": (None, "AD_HOC_PAYMENT_NOT_CAPTURED"),
    "adhoc-no-psp-transaction": (None, "AD_HOC_NO_PSP_TRANSACTION"),
    "subscription-active-plan": ("subscription", None),
    "subscription-unknown-plan": (None, "UNKNOWN_PLAN"),
    "own-token-unknown-customer": (None, "UNKNOWN_CUSTOMER"),
    "subscription-cancelled": (None, "SUBSCRIPTION_CANCELLED"),
    "subscription-plan-expired": (None, "PLAN_EXPIRED"),
    "own-customer-no-active-subscription": (None, "NO_ACTIVE_SUBSCRIPTION"),
    "msp-active-contract": ("msp", None),
    "msp-contract-suspended": (None, "MSP_CONTRACT_SUSPENDED"),
    "msp-contract-expired": (None, "MSP_CONTRACT_EXPIRED"),
    "msp-contract-inactive": (None, "MSP_CONTRACT_INACTIVE"),
    "msp-unknown-party": (None, "UNKNOWN_MSP"),
    "fallback": (None, "UNCLASSIFIED"),
}


def _num(value: Any) -> Any:
    """A number the rules can compare (int/Decimal, not bool), else None."""
    return value if isinstance(value, (int, Decimal)) and not isinstance(value, bool) else None


def _sub(record: Any, key: str) -> Any:
    return record.get(key) if isinstance(record, dict) else None


def classify(cdr: dict[str, Any], facts: dict[str, Any]) -> str:
    # -- data quality and scope
    if cdr.get("country_code") != "DE" or cdr.get("party_id") != "VLT":
        return "foreign-cpo-cdr"
    start = cdr.get("start_date_time")
    if isinstance(start, datetime) and start < GO_LIVE:
        return "pre-migration-session"
    if facts.get("location") is None:
        return "unknown-location"
    energy = _num(cdr.get("total_energy"))
    total_time = _num(cdr.get("total_time"))
    if (energy is not None and (energy >= 400 or energy < 0)) or (total_time is not None and total_time > 72):
        return "implausible-session"
    excl = _num(_sub(cdr.get("total_cost"), "excl_vat"))
    if cdr.get("credit") is not True and energy is not None and energy < ZERO_ENERGY and excl is not None and excl <= 0:
        return "zero-energy-session"
    token = cdr.get("cdr_token")
    contract_id = _sub(token, "contract_id")
    if not (isinstance(contract_id, str) and EMA_ID.search(contract_id)):
        return "invalid-contract-id"
    own = _sub(facts.get("token"), "own")
    if own is True and contract_id.startswith(("DE-VLT-S", "DEVLTS")):
        return "service-token"
    token_type = _sub(token, "type")

    # -- ad hoc
    psp = facts.get("psp")
    if token_type == "AD_HOC_USER" and own is True:
        captured = _sub(psp, "captured")
        if captured is True:
            return "adhoc-psp-captured"
        if _sub(psp, "status") in ("failed", "cancelled"):
            return "adhoc-payment-failed"
        if psp is not None:
            return "adhoc-payment-not-captured"  # psp exists, captured is not true
        return "adhoc-no-psp-transaction"

    # -- own customers
    if own is True and token_type in OWN_TYPES:
        customer = facts.get("customer")
        subscription = facts.get("subscription")
        active = _sub(subscription, "active")
        plan = _sub(subscription, "plan_id")
        if customer is not None and active is True and plan in PLANS:
            return "subscription-active-plan"
        if active is True and plan not in PLANS:
            return "subscription-unknown-plan"
        if customer is None:
            return "own-token-unknown-customer"
        status = _sub(subscription, "status")
        if status == "cancelled":
            return "subscription-cancelled"
        if status in ("expired", "terminated"):
            return "subscription-plan-expired"
        return "own-customer-no-active-subscription"  # customer exists, active is not true

    # -- roaming partners
    if own is False:
        msp = facts.get("msp")
        if msp is None:
            return "msp-unknown-party"
        if _sub(msp, "active") is True and _sub(msp, "tariff_id") is not None:
            return "msp-active-contract"
        status = _sub(msp, "status")
        if status == "suspended":
            return "msp-contract-suspended"
        if status in ("expired", "terminated", "cancelled"):
            return "msp-contract-expired"
        return "msp-contract-inactive"
    return "fallback"
