"""The reference data tables (customers and their tokens, subscriptions, MSP contracts, PSP
transactions, locations) and the ad-hoc CDRs waiting for their PSP transaction.

Like ``engine.store.models`` these describe a schema that only the Alembic migrations create
(``0003_reference``); the models/migration agreement test proves the two match. They share
``Base`` (and so the metadata and naming convention) with the core tables: importing this module
is what puts them into ``Base.metadata``.

Each reference table holds the Cerberus-normalised record (``engine.reference.SCHEMAS``) as
columns, plus:

* a unique business key (``customer_id``, ``(party, contract_id)``, ...), so loading the same
  file twice or two processes pushing the same record never makes a second row;
* ``extra``: fields the schema does not know (allowed by the validator) as JSON, so the
  FactSource returns exactly what was loaded;
* ``content_hash``: SHA-256 of the canonical record, so "same record again" is recognised
  without comparing column by column (nothing is written, ``updated_at`` stays);
* ``source`` (the file or ``http``), ``created_at`` and ``updated_at``.

There are deliberately no foreign keys between the reference tables: contract management may
send a subscription before its customer, and a customer's tokens belong to its row only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.store.models import Base
from engine.store.types import JSONData, Money, UTCDateTime

WAITING_STATUSES = ("waiting", "released", "expired")


class _Tracked:
    """The bookkeeping columns every reference table has."""

    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONData())
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Customer(_Tracked, Base):
    """An own customer (contract management); ``tokens`` are the cdr_token.uid values."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("customer_id", name="uq_customers_customer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(String(8))
    country: Mapped[str | None] = mapped_column(String(2))
    email: Mapped[str | None] = mapped_column(Text)
    address: Mapped[Any] = mapped_column(JSONData(), nullable=True)
    vat_id: Mapped[str | None] = mapped_column(String(64))

    tokens: Mapped[list[CustomerToken]] = relationship(back_populates="customer", cascade="all, delete-orphan",
                                                       passive_deletes=True, order_by="CustomerToken.uid")


class CustomerToken(Base):
    """A token uid (stored upper case, looked up upper case) belongs to at most one customer."""

    __tablename__ = "customer_tokens"
    __table_args__ = (
        UniqueConstraint("uid", name="uq_customer_tokens_uid"),
        Index("ix_customer_tokens_customer_pk", "customer_pk"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(64))

    customer: Mapped[Customer] = relationship(back_populates="tokens")


class Subscription(_Tracked, Base):
    """A customer's tariff plan subscription; ``valid_to`` inclusive, NULL = open."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscription_id", name="uq_subscriptions_subscription_id"),
        Index("ix_subscriptions_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64))
    plan_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[date] = mapped_column(Date())
    valid_to: Mapped[date | None] = mapped_column(Date())


class MspContract(_Tracked, Base):
    """A roaming contract with an MSP; ``party`` is the token issuer ``CC*PPP``."""

    __tablename__ = "msp_contracts"
    __table_args__ = (UniqueConstraint("party", "contract_id", name="uq_msp_contracts_party_contract_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party: Mapped[str] = mapped_column(String(8))
    contract_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    country: Mapped[str] = mapped_column(String(2))
    vat_id: Mapped[str | None] = mapped_column(String(64))
    reseller: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[date] = mapped_column(Date())
    valid_to: Mapped[date | None] = mapped_column(Date())
    tariff_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[Any] = mapped_column(JSONData(), nullable=True)
    email: Mapped[str | None] = mapped_column(Text)
    buyer_reference: Mapped[str | None] = mapped_column(Text)
    payment_terms_days: Mapped[int | None] = mapped_column(Integer)


class PspTransaction(_Tracked, Base):
    """A payment at the PSP, linked to a CDR by authorization_reference, else session_id."""

    __tablename__ = "psp_transactions"
    __table_args__ = (
        UniqueConstraint("transaction_id", name="uq_psp_transactions_transaction_id"),
        Index("ix_psp_transactions_authorization_reference", "authorization_reference"),
        Index("ix_psp_transactions_session_id", "session_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(255))
    authorization_reference: Mapped[str | None] = mapped_column(String(255))
    session_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    captured_at: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(Text)


class Location(_Tracked, Base):
    """Location master data: cost centre, category and time zone per cdr_location.id."""

    __tablename__ = "locations"
    __table_args__ = (UniqueConstraint("location_id", name="uq_locations_location_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    location_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(Text)
    cost_centre: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    time_zone: Mapped[str] = mapped_column(String(64))


class WaitingCdr(Base):
    """An ad-hoc CDR parked until its PSP transaction arrives or its deadline passes.

    One row per CDR (``cdr_pk`` unique), kept after it is released or expired as the record of
    what happened. ``authorization_reference`` / ``session_id`` are the CDR's, indexed so an
    arriving transaction finds the CDRs it belongs to.
    """

    __tablename__ = "waiting_cdrs"
    __table_args__ = (
        UniqueConstraint("cdr_pk", name="uq_waiting_cdrs_cdr_pk"),
        CheckConstraint("status IN ('waiting', 'released', 'expired')", name="status"),
        Index("ix_waiting_cdrs_status_deadline", "status", "deadline"),
        Index("ix_waiting_cdrs_authorization_reference", "authorization_reference"),
        Index("ix_waiting_cdrs_session_id", "session_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cdr_pk: Mapped[int] = mapped_column(ForeignKey("cdrs.id"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    reason: Mapped[str] = mapped_column(String(64))
    authorization_reference: Mapped[str | None] = mapped_column(String(255))
    session_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    parked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    exception_id: Mapped[int | None] = mapped_column(ForeignKey("exceptions.id"))


KIND_MODELS: dict[str, type[Base]] = {
    "customers": Customer,
    "subscriptions": Subscription,
    "msp_contracts": MspContract,
    "psp_transactions": PspTransaction,
    "locations": Location,
}
