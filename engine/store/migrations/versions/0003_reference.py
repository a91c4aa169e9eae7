"""Reference data in the database: customers (+ tokens), subscriptions, MSP contracts, PSP
transactions, locations; and the ad-hoc CDRs waiting for their PSP transaction.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Written by hand; the models are in ``engine/store/reference_models.py``. Each reference table
holds the Cerberus-normalised record (``engine/reference.py``) as columns, a unique business key,
``extra`` (unknown fields, JSON), ``content_hash`` (idempotent upserts), ``source``,
``created_at`` and ``updated_at``. Money is NUMERIC(18, 2) (text on SQLite), timestamps are
timestamptz, JSON is JSONB on PostgreSQL - the same spellings as 0001.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def money() -> sa.types.TypeEngine:
    return sa.Numeric(18, 2).with_variant(sa.String(40), "sqlite")


def ts() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def json() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def tracked() -> list[sa.Column]:
    """The bookkeeping columns of every reference table."""
    return [
        sa.Column("extra", json(), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("created_at", ts(), nullable=False),
        sa.Column("updated_at", ts(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("type", sa.String(8), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("address", json(), nullable=True),
        sa.Column("vat_id", sa.String(64), nullable=True),
        *tracked(),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("customer_id", name="uq_customers_customer_id"),
    )

    op.create_table(
        "customer_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer_tokens"),
        sa.UniqueConstraint("uid", name="uq_customer_tokens_uid"),
        sa.ForeignKeyConstraint(["customer_pk"], ["customers.id"], name="fk_customer_tokens_customer_pk_customers",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_customer_tokens_customer_pk", "customer_tokens", ["customer_pk"])

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        *tracked(),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.UniqueConstraint("subscription_id", name="uq_subscriptions_subscription_id"),
    )
    op.create_index("ix_subscriptions_customer_id", "subscriptions", ["customer_id"])

    op.create_table(
        "msp_contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(8), nullable=False),
        sa.Column("contract_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("vat_id", sa.String(64), nullable=True),
        sa.Column("reseller", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("tariff_id", sa.String(64), nullable=True),
        sa.Column("address", json(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("buyer_reference", sa.Text(), nullable=True),
        sa.Column("payment_terms_days", sa.Integer(), nullable=True),
        *tracked(),
        sa.PrimaryKeyConstraint("id", name="pk_msp_contracts"),
        sa.UniqueConstraint("party", "contract_id", name="uq_msp_contracts_party_contract_id"),
    )

    op.create_table(
        "psp_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(255), nullable=False),
        sa.Column("authorization_reference", sa.String(255), nullable=True),
        sa.Column("session_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", money(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("captured_at", sa.String(64), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        *tracked(),
        sa.PrimaryKeyConstraint("id", name="pk_psp_transactions"),
        sa.UniqueConstraint("transaction_id", name="uq_psp_transactions_transaction_id"),
    )
    op.create_index("ix_psp_transactions_authorization_reference", "psp_transactions", ["authorization_reference"])
    op.create_index("ix_psp_transactions_session_id", "psp_transactions", ["session_id"])

    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("cost_centre", sa.String(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        *tracked(),
        sa.PrimaryKeyConstraint("id", name="pk_locations"),
        sa.UniqueConstraint("location_id", name="uq_locations_location_id"),
    )

    op.create_table(
        "waiting_cdrs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cdr_pk", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("authorization_reference", sa.String(255), nullable=True),
        sa.Column("session_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("deadline", ts(), nullable=False),
        sa.Column("parked_at", ts(), nullable=False),
        sa.Column("resolved_at", ts(), nullable=True),
        sa.Column("exception_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_waiting_cdrs"),
        sa.UniqueConstraint("cdr_pk", name="uq_waiting_cdrs_cdr_pk"),
        sa.CheckConstraint("status IN ('waiting', 'released', 'expired')", name="ck_waiting_cdrs_status"),
        sa.ForeignKeyConstraint(["cdr_pk"], ["cdrs.id"], name="fk_waiting_cdrs_cdr_pk_cdrs"),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], name="fk_waiting_cdrs_decision_id_decisions"),
        sa.ForeignKeyConstraint(["exception_id"], ["exceptions.id"], name="fk_waiting_cdrs_exception_id_exceptions"),
    )
    op.create_index("ix_waiting_cdrs_status_deadline", "waiting_cdrs", ["status", "deadline"])
    op.create_index("ix_waiting_cdrs_authorization_reference", "waiting_cdrs", ["authorization_reference"])
    op.create_index("ix_waiting_cdrs_session_id", "waiting_cdrs", ["session_id"])


def downgrade() -> None:
    for table in ("waiting_cdrs", "locations", "psp_transactions", "msp_contracts", "subscriptions",
                  "customer_tokens", "customers"):
        op.drop_table(table)
