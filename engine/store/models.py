"""The tables of cdrflow, as SQLAlchemy 2 declarative models.

The schema itself is created and changed only by the Alembic migrations in
``engine/store/migrations``; these models describe it for the code, and a test proves that the
two agree on SQLite and PostgreSQL. Change both together (new migration + model).

Why the constraints look the way they do:

* A CDR is identified by (country_code, party_id, cdr_id) - OCPI says it can never change once
  sent - so that triple is unique and a resend is recognised by its content hash.
* A Decision is history: a CDR keeps every Decision ever made for it (replays add one), and a
  partial unique index allows exactly one ``is_current`` row per CDR.
* Document numbers must be unique and sequential with explainable gaps: a counter row per
  (stream, year) and an append-only log of every number issued or voided.
* Everything a worker may repeat (outbox messages, provider webhooks, payments, journal
  entries, exception records) carries a unique idempotency key.
* Money columns are ``Money`` (NUMERIC(18, 2), exact), timestamps ``UTCDateTime`` (aware UTC).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean, CheckConstraint, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint, text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from engine.store.types import JSONData, Money, Quantity, Rate, UnitPrice, UTCDateTime

# Deterministic constraint names: the migrations spell the same names, SQLite's batch mode needs
# them to recreate tables, and a failed constraint names itself in the error message.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CDR_STATES = ("received", "rejected", "classified", "exception", "billed", "waiting", "late")
EXCEPTION_STATUSES = ("open", "resolved", "replayed")
DOCUMENT_TYPES = ("receipt", "invoice", "credit_note")
NUMBER_ACTIONS = ("issued", "voided")
PERIOD_STATUSES = ("open", "closing", "closed")
OUTBOX_STATUSES = ("pending", "sent", "failed", "dead")
PAYMENT_KINDS = ("payment", "partial", "refund", "chargeback")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- CDRs and what was decided about them --------------------------------------------------


class Cdr(Base):
    """One CDR as received (raw text, exactly), its normalised form and where it stands."""

    __tablename__ = "cdrs"
    __table_args__ = (
        UniqueConstraint("country_code", "party_id", "cdr_id", name="uq_cdrs_key"),
        CheckConstraint(_one_of("state", CDR_STATES), name="state"),
        Index("ix_cdrs_content_hash", "content_hash"),
        Index("ix_cdrs_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    country_code: Mapped[str] = mapped_column(String(8))
    party_id: Mapped[str] = mapped_column(String(8))
    cdr_id: Mapped[str] = mapped_column(String(255))
    raw_json: Mapped[str] = mapped_column(Text)
    normalised_json: Mapped[dict[str, Any] | None] = mapped_column(JSONData())
    content_hash: Mapped[str] = mapped_column(String(64))
    ocpi_version: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    decisions: Mapped[list[DecisionRecord]] = relationship(back_populates="cdr", order_by="DecisionRecord.id")


class RejectedInput(Base):
    """An input that could not even yield a CDR key (unparseable JSON, no id): kept, with why."""

    __tablename__ = "rejected_inputs"
    __table_args__ = (UniqueConstraint("content_hash", name="uq_rejected_inputs_content_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str | None] = mapped_column(Text)
    raw_text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONData())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DecisionRecord(Base):
    """One Decision about one CDR. History is kept; exactly one per CDR is current."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("uq_decisions_current", "cdr_pk", unique=True,
              sqlite_where=text("is_current"), postgresql_where=text("is_current")),
        Index("ix_decisions_cdr_pk", "cdr_pk"),
        Index("ix_decisions_stream", "stream"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cdr_pk: Mapped[int] = mapped_column(ForeignKey("cdrs.id"))
    is_current: Mapped[bool] = mapped_column(Boolean)
    stream: Mapped[str | None] = mapped_column(String(32))
    rule_id: Mapped[str | None] = mapped_column(String(128))
    rule_file: Mapped[str | None] = mapped_column(String(512))
    rule_line: Mapped[int | None] = mapped_column(Integer)
    exception_reason: Mapped[str | None] = mapped_column(String(64))
    exception: Mapped[dict[str, Any] | None] = mapped_column(JSONData())
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSONData())
    billing: Mapped[dict[str, Any] | None] = mapped_column(JSONData())
    pricing: Mapped[dict[str, Any] | None] = mapped_column(JSONData())
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONData())
    warnings: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONData())
    config_version: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())

    cdr: Mapped[Cdr] = relationship(back_populates="decisions")


class ExceptionRecord(Base):
    """The exception queue: something needs a human (or a replay) before it can be billed.

    ``dedup_key`` makes raising the same exception twice a no-op, so re-running an ingest
    never grows the queue.
    """

    __tablename__ = "exceptions"
    __table_args__ = (
        UniqueConstraint("dedup_key", name="uq_exceptions_dedup_key"),
        CheckConstraint(_one_of("status", EXCEPTION_STATUSES), name="status"),
        Index("ix_exceptions_status_reason", "status", "reason"),
        Index("ix_exceptions_cdr_pk", "cdr_pk"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONData())
    status: Mapped[str] = mapped_column(String(16))
    cdr_pk: Mapped[int | None] = mapped_column(ForeignKey("cdrs.id"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    rejected_input_id: Mapped[int | None] = mapped_column(ForeignKey("rejected_inputs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- Billing documents and their numbers ------------------------------------------------------


class BillingDocument(Base):
    """A receipt, invoice or credit note as issued; immutable once issued (GoBD).

    ``content_hash``/``previous_hash`` chain the archive: each issued document names the hash of
    the one before it, so a changed or removed document breaks the chain.
    """

    __tablename__ = "billing_documents"
    __table_args__ = (
        UniqueConstraint("number", name="uq_billing_documents_number"),
        CheckConstraint(_one_of("doc_type", DOCUMENT_TYPES), name="doc_type"),
        Index("ix_billing_documents_stream_period", "stream", "period_key"),
        Index("ix_billing_documents_customer_ref", "customer_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32))
    stream: Mapped[str] = mapped_column(String(32))
    doc_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    msp_ref: Mapped[str | None] = mapped_column(String(64))
    period_key: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    net_amount: Mapped[Decimal] = mapped_column(Money())
    vat_amount: Mapped[Decimal] = mapped_column(Money())
    gross_amount: Mapped[Decimal] = mapped_column(Money())
    original_document_id: Mapped[int | None] = mapped_column(ForeignKey("billing_documents.id"))
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    lines: Mapped[list[BillingDocumentLine]] = relationship(
        back_populates="document", order_by="BillingDocumentLine.line_no")


class BillingDocumentLine(Base):
    """One line of a billing document; an MSP line names the CDR it bills (OCPI-referenced)."""

    __tablename__ = "billing_document_lines"
    __table_args__ = (
        UniqueConstraint("document_id", "line_no", name="uq_billing_document_lines_document_id_line_no"),
        Index("ix_billing_document_lines_cdr_pk", "cdr_pk"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("billing_documents.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    product: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit: Mapped[str | None] = mapped_column(String(16))
    unit_price: Mapped[Decimal] = mapped_column(UnitPrice())
    net_amount: Mapped[Decimal] = mapped_column(Money())
    tax_rate: Mapped[Decimal | None] = mapped_column(Rate())
    tax_treatment: Mapped[str | None] = mapped_column(String(32))
    posting_group: Mapped[str | None] = mapped_column(String(64))
    cost_centre: Mapped[str | None] = mapped_column(String(64))
    cdr_pk: Mapped[int | None] = mapped_column(ForeignKey("cdrs.id"))

    document: Mapped[BillingDocument] = relationship(back_populates="lines")


class NumberRange(Base):
    """The counter of one number range (stream, year): the next value to hand out."""

    __tablename__ = "number_ranges"
    __table_args__ = (
        UniqueConstraint("stream", "year", name="uq_number_ranges_stream_year"),
        UniqueConstraint("prefix", "year", name="uq_number_ranges_prefix_year"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stream: Mapped[str] = mapped_column(String(32))
    prefix: Mapped[str] = mapped_column(String(16))
    year: Mapped[int] = mapped_column(Integer)
    next_value: Mapped[int] = mapped_column(Integer)


class NumberLogEntry(Base):
    """Append-only: every number issued, and every number voided (with the reason)."""

    __tablename__ = "number_log"
    __table_args__ = (
        UniqueConstraint("number", "action", name="uq_number_log_number_action"),
        CheckConstraint(_one_of("action", NUMBER_ACTIONS), name="action"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(8))
    stream: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    value: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BillingPeriod(Base):
    """A billing period of a stream for one party (customer or MSP; '*' for all)."""

    __tablename__ = "billing_periods"
    __table_args__ = (
        UniqueConstraint("stream", "period_key", "party_ref", name="uq_billing_periods_stream_period_key_party_ref"),
        CheckConstraint(_one_of("status", PERIOD_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stream: Mapped[str] = mapped_column(String(32))
    period_key: Mapped[str] = mapped_column(String(16))
    party_ref: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- Talking to the outside world -------------------------------------------------------------


class OutboxMessage(Base):
    """A message to deliver at least once (provider calls, e-mails); workers claim and lease it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
        CheckConstraint(_one_of("status", OUTBOX_STATUSES), name="status"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONData())
    idempotency_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_by: Mapped[str | None] = mapped_column(String(128))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProviderEvent(Base):
    """A webhook / polled event from a billing provider or PSP; stored once per event id."""

    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_provider_events_provider_event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONData())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Payment(Base):
    """Money that moved for a document: payment, partial payment, refund or chargeback."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("external_id", name="uq_payments_external_id"),
        CheckConstraint(_one_of("kind", PAYMENT_KINDS), name="kind"),
        Index("ix_payments_document_id", "document_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("billing_documents.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JournalEntry(Base):
    """A double-entry booking (its lines balance); posted once per idempotency key."""

    __tablename__ = "journal_entries"
    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_journal_entries_idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    entry_date: Mapped[str] = mapped_column(String(10))  # booking date, ISO 'YYYY-MM-DD'
    description: Mapped[str | None] = mapped_column(Text)
    stream: Mapped[str | None] = mapped_column(String(32))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("billing_documents.id"))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())

    lines: Mapped[list[JournalLine]] = relationship(back_populates="entry", order_by="JournalLine.line_no")


class JournalLine(Base):
    __tablename__ = "journal_lines"
    __table_args__ = (
        UniqueConstraint("entry_id", "line_no", name="uq_journal_lines_entry_id_line_no"),
        Index("ix_journal_lines_account", "account"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    account: Mapped[str] = mapped_column(String(16))
    debit: Mapped[Decimal] = mapped_column(Money())
    credit: Mapped[Decimal] = mapped_column(Money())
    cost_centre: Mapped[str | None] = mapped_column(String(64))
    tax_class: Mapped[str | None] = mapped_column(String(32))
    posting_group: Mapped[str | None] = mapped_column(String(64))
    stream: Mapped[str | None] = mapped_column(String(32))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("billing_documents.id"))

    entry: Mapped[JournalEntry] = relationship(back_populates="lines")


class ApiClient(Base):
    """A client of the HTTP API. Only a SHA-256 of its token is stored, never the token."""

    __tablename__ = "api_clients"
    __table_args__ = (
        UniqueConstraint("name", name="uq_api_clients_name"),
        UniqueConstraint("token_hash", name="uq_api_clients_token_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
