"""The tables of the billing streams (migration ``0004_billable_items``), on the store's ``Base``.

* ``billable_items``: one row per billable CDR of a stream (its current Decision), with the
  columns a period close aggregates in SQL - power type, location category, kWh, minutes, net,
  VAT, gross - and where it was billed: ``own_period`` is the session's local month,
  ``period_key`` the period that bills it: its own period when that was open as the item was
  built, else the period whose close took it in (NULL: still waiting for that close), ``late``
  when that is a later period than its own (it arrived after its own period had closed),
  ``document_number`` the document that billed it.
* ``billable_lines``: the priced lines of each item, denormalised (power type, category, tariff,
  version, unit price, tax group) so an MSP period is one GROUP BY over this table.
* ``document_claims``: the register of every document a stream decided to issue, keyed by its
  business key (``adhoc:DE*VLT*<cdr id>``, ``msp:2026-10:DE*LDX``,
  ``subscription:2026-10:C-10007:base_fee``). A stream claims the key *before* it draws a number,
  in the same transaction, with ``INSERT ... ON CONFLICT DO NOTHING``: whoever loses a race (or
  repeats a run) draws no number and issues nothing. The row keeps the document as handed to the
  provider (JSON), so it can be delivered again, rendered again, or credited later.

Money and quantities use the store's exact types (NUMERIC on PostgreSQL, text on SQLite).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import Base
from engine.store.types import JSONData, Money, Quantity, Rate, UnitPrice, UTCDateTime


class BillableItem(Base):
    """One billable CDR in one stream, and the period/document that billed it."""

    __tablename__ = "billable_items"
    __table_args__ = (
        UniqueConstraint("cdr_pk", name="uq_billable_items_cdr_pk"),
        Index("ix_billable_items_stream_period_key_party_ref", "stream", "period_key", "party_ref"),
        Index("ix_billable_items_stream_own_period", "stream", "own_period"),
        # late items only (few): counting a period's late sessions (migration 0005)
        Index("ix_billable_items_late", "stream", "period_key",
              sqlite_where=text("late"), postgresql_where=text("late")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cdr_pk: Mapped[int] = mapped_column(ForeignKey("cdrs.id"))
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"))
    stream: Mapped[str] = mapped_column(String(32))
    party_ref: Mapped[str] = mapped_column(String(64))          # MSP party, customer id, or PSP payer
    cdr_ref: Mapped[str] = mapped_column(String(280))           # COUNTRY*PARTY*CDR_ID (OCPI reference)
    cdr_id: Mapped[str] = mapped_column(String(255))
    session_id: Mapped[str | None] = mapped_column(String(255))
    own_period: Mapped[str] = mapped_column(String(16))         # the session's local month, YYYY-MM
    period_key: Mapped[str | None] = mapped_column(String(16))  # the period that billed it
    late: Mapped[bool] = mapped_column(Boolean)
    credit: Mapped[bool] = mapped_column(Boolean)
    session_date: Mapped[str] = mapped_column(String(10))
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    location_id: Mapped[str | None] = mapped_column(String(64))
    power_type: Mapped[str | None] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(32))
    cost_centre: Mapped[str | None] = mapped_column(String(64))
    energy_kwh: Mapped[Decimal] = mapped_column(Quantity())
    minutes: Mapped[Decimal] = mapped_column(Quantity())
    net: Mapped[Decimal] = mapped_column(Money())
    vat: Mapped[Decimal] = mapped_column(Money())
    gross: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    document_number: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BillableLine(Base):
    """One priced line of a billable item, with the columns a period groups by."""

    __tablename__ = "billable_lines"
    __table_args__ = (
        UniqueConstraint("item_id", "line_no", name="uq_billable_lines_item_id_line_no"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("billable_items.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    product: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(255))
    power_type: Mapped[str | None] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(32))
    tariff_id: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(16))
    unit_price: Mapped[Decimal | None] = mapped_column(UnitPrice())
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    net: Mapped[Decimal] = mapped_column(Money())
    tax_rate: Mapped[Decimal] = mapped_column(Rate())
    tax_class: Mapped[str | None] = mapped_column(String(8))
    tax_treatment: Mapped[str | None] = mapped_column(String(32))


class DocumentClaim(Base):
    """A document a stream decided to issue: claimed once per business key, numbered once."""

    __tablename__ = "document_claims"
    __table_args__ = (
        UniqueConstraint("business_key", name="uq_document_claims_business_key"),
        UniqueConstraint("number", name="uq_document_claims_number"),
        Index("ix_document_claims_stream_period_key", "stream", "period_key"),
        Index("ix_document_claims_cdr_pk", "cdr_pk"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_key: Mapped[str] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(32))
    stream: Mapped[str] = mapped_column(String(32))
    doc_type: Mapped[str] = mapped_column(String(16))
    form: Mapped[str | None] = mapped_column(String(16))
    period_key: Mapped[str | None] = mapped_column(String(16))
    party_ref: Mapped[str | None] = mapped_column(String(64))
    cdr_pk: Mapped[int | None] = mapped_column(ForeignKey("cdrs.id"))
    preceding_number: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    net: Mapped[Decimal] = mapped_column(Money())
    vat: Mapped[Decimal] = mapped_column(Money())
    gross: Mapped[Decimal] = mapped_column(Money())
    document: Mapped[dict[str, Any] | None] = mapped_column(JSONData())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
