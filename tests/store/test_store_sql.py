"""The shared SQL helpers (engine/store/_sql.py): one statement for many rows, one parameter for a
list of values - the same rows and the same exact values on both backends."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from engine.store._sql import insert_rows, one_of
from engine.store.models import BillingDocument, BillingPeriod

NOW = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)


def _period(key: str, status: str = "open") -> dict:
    return {"stream": "msp", "period_key": key, "party_ref": "*", "status": status, "opened_at": NOW,
            "closed_at": None}


def test_rows_go_in_in_order_and_a_conflict_is_skipped(session):
    table = BillingPeriod.__table__
    first = insert_rows(session, table, [_period("2026-09"), _period("2026-10")],
                        conflict=("stream", "period_key", "party_ref"), returning=("id", "period_key"))
    assert [key for _, key in first] == ["2026-09", "2026-10"] and first[0][0] < first[1][0]
    again = insert_rows(session, table, [_period("2026-10", "closed"), _period("2026-11")],
                        conflict=("stream", "period_key", "party_ref"), returning=("id", "period_key"))
    assert [key for _, key in again] == ["2026-11"]
    session.commit()
    rows = session.execute(select(BillingPeriod.period_key, BillingPeriod.status, BillingPeriod.opened_at,
                                  BillingPeriod.closed_at).order_by(BillingPeriod.id)).all()
    assert rows == [("2026-09", "open", NOW, None), ("2026-10", "open", NOW, None), ("2026-11", "open", NOW, None)]
    assert insert_rows(session, table, []) == []


def _document(number: str, net: Decimal) -> dict:
    return {"number": number, "stream": "adhoc", "doc_type": "receipt", "status": "issued", "currency": "EUR",
            "net_amount": net, "vat_amount": Decimal("0.00"), "gross_amount": net, "created_at": NOW,
            "issued_at": NOW}


def test_money_stays_exact_and_a_float_is_refused(session):
    big = Decimal("9999999999999999.99")
    insert_rows(session, BillingDocument.__table__, [_document("AH-1", big), _document("AH-2", Decimal("-0.10"))])
    session.commit()
    nets = session.execute(select(BillingDocument.net_amount).order_by(BillingDocument.number)).scalars().all()
    assert [str(n) for n in nets] == ["9999999999999999.99", "-0.10"]
    with pytest.raises((StatementError, ValueError, TypeError)):
        insert_rows(session, BillingDocument.__table__, [_document("AH-3", 0.1)])   # type: ignore[arg-type]
    session.rollback()
    with pytest.raises((StatementError, ValueError)):
        insert_rows(session, BillingDocument.__table__, [_document("AH-4", Decimal("1.001"))])
    session.rollback()


def test_one_of_finds_the_rows_of_a_list(session):
    insert_rows(session, BillingPeriod.__table__, [_period(f"2026-{m:02d}") for m in range(1, 13)])
    session.commit()
    wanted = ["2026-03", "2026-07", "2026-12", "2027-01"]
    found = session.execute(select(BillingPeriod.period_key).where(one_of(session, BillingPeriod.period_key, wanted))
                            .order_by(BillingPeriod.period_key)).scalars().all()
    assert found == ["2026-03", "2026-07", "2026-12"]
    assert session.execute(select(BillingPeriod.id).where(one_of(session, BillingPeriod.id, []))).all() == []
