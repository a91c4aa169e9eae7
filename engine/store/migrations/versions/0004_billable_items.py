"""Billing streams: billable items and lines (period aggregation in SQL), document claims.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-02

Models: ``engine.store.billing_models``. Written by hand; exact decimals are NUMERIC on
PostgreSQL and text on SQLite, like 0001.

It follows 0003 (reference data); keep one linear history (one head).
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _exact(precision: int, scale: int) -> sa.types.TypeEngine:
    return sa.Numeric(precision, scale).with_variant(sa.String(40), "sqlite")


def ts() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def json() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "billable_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cdr_pk", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("party_ref", sa.String(64), nullable=False),
        sa.Column("cdr_ref", sa.String(280), nullable=False),
        sa.Column("cdr_id", sa.String(255), nullable=False),
        sa.Column("session_id", sa.String(255), nullable=True),
        sa.Column("own_period", sa.String(16), nullable=False),
        sa.Column("period_key", sa.String(16), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("credit", sa.Boolean(), nullable=False),
        sa.Column("session_date", sa.String(10), nullable=False),
        sa.Column("start_at", ts(), nullable=True),
        sa.Column("end_at", ts(), nullable=True),
        sa.Column("location_id", sa.String(64), nullable=True),
        sa.Column("power_type", sa.String(8), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("cost_centre", sa.String(64), nullable=True),
        sa.Column("energy_kwh", _exact(18, 6), nullable=False),
        sa.Column("minutes", _exact(18, 6), nullable=False),
        sa.Column("net", _exact(18, 2), nullable=False),
        sa.Column("vat", _exact(18, 2), nullable=False),
        sa.Column("gross", _exact(18, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("document_number", sa.String(32), nullable=True),
        sa.Column("created_at", ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_billable_items"),
        sa.UniqueConstraint("cdr_pk", name="uq_billable_items_cdr_pk"),
        sa.ForeignKeyConstraint(["cdr_pk"], ["cdrs.id"], name="fk_billable_items_cdr_pk_cdrs"),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], name="fk_billable_items_decision_id_decisions"),
    )
    op.create_index("ix_billable_items_stream_period_key_party_ref", "billable_items",
                    ["stream", "period_key", "party_ref"])
    op.create_index("ix_billable_items_stream_own_period", "billable_items", ["stream", "own_period"])

    op.create_table(
        "billable_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("power_type", sa.String(8), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("tariff_id", sa.String(64), nullable=True),
        sa.Column("version", sa.String(32), nullable=True),
        sa.Column("unit", sa.String(16), nullable=True),
        sa.Column("unit_price", _exact(18, 4), nullable=True),
        sa.Column("quantity", _exact(18, 6), nullable=False),
        sa.Column("net", _exact(18, 2), nullable=False),
        sa.Column("tax_rate", _exact(7, 4), nullable=False),
        sa.Column("tax_class", sa.String(8), nullable=True),
        sa.Column("tax_treatment", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_billable_lines"),
        sa.UniqueConstraint("item_id", "line_no", name="uq_billable_lines_item_id_line_no"),
        sa.ForeignKeyConstraint(["item_id"], ["billable_items.id"], name="fk_billable_lines_item_id_billable_items"),
    )

    op.create_table(
        "document_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_key", sa.String(255), nullable=False),
        sa.Column("number", sa.String(32), nullable=True),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("doc_type", sa.String(16), nullable=False),
        sa.Column("form", sa.String(16), nullable=True),
        sa.Column("period_key", sa.String(16), nullable=True),
        sa.Column("party_ref", sa.String(64), nullable=True),
        sa.Column("cdr_pk", sa.Integer(), nullable=True),
        sa.Column("preceding_number", sa.String(32), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("net", _exact(18, 2), nullable=False),
        sa.Column("vat", _exact(18, 2), nullable=False),
        sa.Column("gross", _exact(18, 2), nullable=False),
        sa.Column("document", json(), nullable=True),
        sa.Column("created_at", ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_document_claims"),
        sa.UniqueConstraint("business_key", name="uq_document_claims_business_key"),
        sa.UniqueConstraint("number", name="uq_document_claims_number"),
        sa.ForeignKeyConstraint(["cdr_pk"], ["cdrs.id"], name="fk_document_claims_cdr_pk_cdrs"),
    )
    op.create_index("ix_document_claims_stream_period_key", "document_claims", ["stream", "period_key"])
    op.create_index("ix_document_claims_cdr_pk", "document_claims", ["cdr_pk"])


def downgrade() -> None:
    op.drop_index("ix_document_claims_cdr_pk", table_name="document_claims")
    op.drop_index("ix_document_claims_stream_period_key", table_name="document_claims")
    op.drop_table("document_claims")
    op.drop_table("billable_lines")
    op.drop_index("ix_billable_items_stream_own_period", table_name="billable_items")
    op.drop_index("ix_billable_items_stream_period_key_party_ref", table_name="billable_items")
    op.drop_table("billable_items")
