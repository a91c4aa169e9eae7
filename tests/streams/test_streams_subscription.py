"""Subscription stream: per customer and cycle a pro-rata base-fee invoice and a consumption invoice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing_helpers import SAMPLES, bundle, ingest_cdrs, ingest_samples, source, variant
from engine.documents.model import FULL, SMALL_AMOUNT
from engine.store.billing_models import BillableItem
from engine.streams.subscription import close_subscription_cycle

SUB_FILES = sorted(p.name for p in SAMPLES.glob("subscription-*.json"))
SEP, OCT = ("2026-09", date(2026, 10, 1)), ("2026-10", date(2026, 11, 1))


def _close(session_factory, period=OCT, src=None):
    with session_factory() as session:
        return close_subscription_cycle(session, bundle(), period[0], as_of=period[1], source=src or source())


def _docs(result):
    return {(d.metadata["customer_ref"], d.metadata["part"]): d for d in result.documents}


def test_plan_change_mid_cycle_is_billed_pro_rata_to_the_day(session_factory):
    ingest_samples(session_factory, names=SUB_FILES)
    docs = _docs(_close(session_factory))
    base = docs[("C-10007", "base_fee")]
    assert base.number.startswith("SUB-2026-") and base.stream == "subscription"
    lines = [(ln.reference["plan_id"], ln.reference["start"], ln.reference["end"], ln.quantity, ln.gross)
             for ln in base.price.lines]
    # basis 4.99 for 14 of 31 days, comfort 9.99 for 17 of 31: cumulative rounding, 7.73 in all
    assert lines == [("basis", "2026-10-01", "2026-10-14", Decimal(14), Decimal("2.25")),
                     ("comfort", "2026-10-15", "2026-10-31", Decimal(17), Decimal("5.48"))]
    assert base.gross == Decimal("7.73") and base.form == SMALL_AMOUNT
    assert [s["days"] for s in base.metadata["segments"]] == [14, 17]
    assert base.sessions == ()


def test_consumption_invoice_lists_every_session_of_the_cycle_at_plan_rates(session_factory):
    ingest_samples(session_factory, names=SUB_FILES)
    docs = _docs(_close(session_factory))
    consumption = docs[("C-10007", "consumption")]
    assert consumption.number != docs[("C-10007", "base_fee")].number
    cdrs = sorted(s.cdr_id for s in consumption.sessions)
    assert len(cdrs) == 3 and cdrs == sorted({ln.reference["cdr_id"] for ln in consumption.price.lines})
    plans = {ln.reference["cdr_id"]: ln.reference["plan_id"] for ln in consumption.price.lines}
    assert sorted(plans.values()) == ["basis", "comfort", "comfort"]   # the plan valid on each session date
    assert all(s.ocpi_reference.startswith("DE*VLT*") for s in consumption.sessions)
    assert consumption.price.prices_include_vat and consumption.metadata["sessions"] == 3
    postings = consumption.metadata["line_postings"]
    assert {p["posting_group"] for p in postings} == {"SUB-DOM-ENERGY"}
    assert all(p["cost_centre"] and p["cdr_pk"] for p in postings)


def test_base_fee_without_sessions_and_only_while_the_subscription_runs(session_factory):
    ingest_samples(session_factory, names=SUB_FILES)
    september = _docs(_close(session_factory, SEP))
    october = _docs(_close(session_factory, OCT))
    # C-10003's plan expired on 2026-09-30: September billed in full, nothing in October
    assert september[("C-10003", "base_fee")].gross == Decimal("4.99")
    assert ("C-10003", "base_fee") not in october and ("C-10003", "consumption") not in october
    # C-10012 starts 2026-11-01; sessions only in September for C-10009
    assert not any(c == "C-10012" for c, _ in october)
    assert [k for k in september if k[1] == "consumption"] == [("C-10009", "consumption")]
    # the B2B fleet customer: net plan, full invoice with its VAT id
    fleet = october[("C-10006", "base_fee")]
    assert fleet.form == FULL and fleet.buyer.vat_id == "DE384629159" and fleet.net == Decimal("49.00")
    assert fleet.metadata["line_postings"][0] == {"posting_group": "SUB-DOM-FEE", "cost_centre": "CC-SUBSCRIPTIONS",
                                                  "cdr_pk": None}


def test_a_late_session_goes_into_the_next_cycle(session_factory):
    ingest_samples(session_factory, names=SUB_FILES)
    _close(session_factory, SEP)
    late = variant("subscription-nl-utrecht-dc-basis-2026-09.json", "VLT-TEST-SUB-LATE", days=-1)
    ingest_cdrs(session_factory, [late])
    october = _close(session_factory, OCT)
    consumption = _docs(october)[("C-10009", "consumption")]
    late_refs = [s for s in consumption.sessions if s.late]
    assert [s.cdr_id for s in late_refs] == ["VLT-TEST-SUB-LATE"] and october.late == 1
    with session_factory() as session:
        item = session.execute(select(BillableItem).where(BillableItem.cdr_id == "VLT-TEST-SUB-LATE")).scalar_one()
        assert (item.own_period, item.period_key, item.late) == ("2026-09", "2026-10", True)


def test_customers_are_listed_from_the_database_reference_source(session_factory):
    store = pytest.importorskip("engine.store.reference")
    from engine.commands.load import read_file

    from billing_helpers import REFERENCE

    with session_factory() as session:
        for path in sorted(REFERENCE.glob("*.yaml")):
            parsed = read_file(path)
            store.store_records(session, parsed.kind, parsed.records, file=parsed.path)
        session.commit()
    db_source = store.DbSource(session_factory)
    ingest_samples(session_factory, src=db_source, names=SUB_FILES)
    with session_factory() as session:
        result = close_subscription_cycle(session, bundle(), "2026-09", as_of=date(2026, 10, 1), source=db_source)
    assert ("C-10003", "base_fee") in _docs(result) and not result.notes
