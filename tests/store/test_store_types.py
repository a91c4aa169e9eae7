"""Money stays Decimal and exact on both backends; time stays aware UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from engine.store.models import BillingDocument, BillingDocumentLine, JournalEntry, JournalLine

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


def document(number: str = "AH-2026-000001", **overrides) -> BillingDocument:
    values = dict(number=number, stream="adhoc", doc_type="receipt", status="issued", currency="EUR",
                  net_amount=Decimal("4.40"), vat_amount=Decimal("0.84"), gross_amount=Decimal("5.24"),
                  created_at=NOW, issued_at=NOW)
    values.update(overrides)
    return BillingDocument(**values)


def test_money_round_trips_exactly(session):
    big = Decimal("9999999999999999.99")  # 18 significant digits: a float would lose them
    doc = document(net_amount=big, vat_amount=Decimal("0.01"), gross_amount=Decimal("-0.10"))
    doc.lines = [BillingDocumentLine(line_no=1, product="ENERGY", quantity=Decimal("12.345678"), unit="kWh",
                                     unit_price=Decimal("0.3579"), net_amount=Decimal("4.42"),
                                     tax_rate=Decimal("25.5"))]
    session.add(doc)
    session.commit()
    session.expire_all()
    loaded = session.execute(select(BillingDocument)).scalar_one()
    assert loaded.net_amount == big and isinstance(loaded.net_amount, Decimal)
    assert str(loaded.net_amount) == "9999999999999999.99"
    assert str(loaded.gross_amount) == "-0.10"
    line = loaded.lines[0]
    assert (str(line.quantity), str(line.unit_price), str(line.tax_rate)) == ("12.345678", "0.3579", "25.5000")


def test_floats_are_refused(session):
    session.add(document(net_amount=4.4))
    with pytest.raises(StatementError, match="float"):
        session.flush()


def test_more_decimals_than_the_column_holds_are_refused(session):
    session.add(document(net_amount=Decimal("4.405")))
    with pytest.raises(StatementError, match="decimal places"):
        session.flush()


def test_trailing_zeros_are_fine(session):
    session.add(document(net_amount=Decimal("4.4000")))
    session.flush()


def test_datetimes_are_aware_utc(session):
    berlin = timezone(timedelta(hours=2))
    session.add(document(issued_at=datetime(2026, 10, 1, 14, 0, tzinfo=berlin)))
    session.commit()
    session.expire_all()
    issued = session.execute(select(BillingDocument.issued_at)).scalar_one()
    assert issued == NOW and issued.tzinfo is not None and issued.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(session):
    session.add(document(issued_at=datetime(2026, 10, 1, 12, 0)))
    with pytest.raises(StatementError, match="aware"):
        session.flush()


def test_journal_lines_balance_in_decimal(session):
    entry = JournalEntry(idempotency_key="doc:AH-2026-000001", entry_date="2026-10-01", stream="adhoc", posted_at=NOW)
    entry.lines = [
        JournalLine(line_no=1, account="1400", debit=Decimal("5.24"), credit=Decimal("0")),
        JournalLine(line_no=2, account="8400", debit=Decimal("0"), credit=Decimal("4.40"), cost_centre="CC-BER"),
        JournalLine(line_no=3, account="1776", debit=Decimal("0"), credit=Decimal("0.84")),
    ]
    session.add(entry)
    session.commit()
    session.expire_all()
    lines = session.execute(select(JournalLine)).scalars().all()
    assert sum(l.debit for l in lines) == sum(l.credit for l in lines) == Decimal("5.24")
