"""Write-once document archive: archive entries (the hash chain per number range) and the
archived files (bytes in the database), both protected against UPDATE and DELETE by triggers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-20

Written by hand; the models are in ``engine/store/archive_models.py``. The triggers are the
database's half of "archived documents are immutable" (GoBD): the application never updates or
deletes these rows, and the database refuses it too. ``cdrflow archive verify`` detects what a
superuser could still do (drop the triggers, edit rows) by recomputing every hash.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLES = ("archive_entries", "archived_files")


def ts() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "archive_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("range_key", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash_version", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("previous_hash", sa.String(64), nullable=True),
        sa.Column("archived_at", ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_archive_entries"),
        sa.UniqueConstraint("document_id", name="uq_archive_entries_document_id"),
        sa.UniqueConstraint("number", name="uq_archive_entries_number"),
        sa.UniqueConstraint("range_key", "seq", name="uq_archive_entries_range_key_seq"),
        sa.ForeignKeyConstraint(["document_id"], ["billing_documents.id"],
                                name="fk_archive_entries_document_id_billing_documents"),
    )
    op.create_table(
        "archived_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_archived_files"),
        sa.UniqueConstraint("entry_id", "kind", name="uq_archived_files_entry_id_kind"),
        sa.ForeignKeyConstraint(["entry_id"], ["archive_entries.id"],
                                name="fk_archived_files_entry_id_archive_entries"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION cdrflow_archive_write_once() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'cdrflow archive: % on % is not allowed (write-once)', TG_OP, TG_TABLE_NAME;
            END
            $$""")
        for table in TABLES:
            op.execute(f"CREATE TRIGGER {table}_write_once BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION cdrflow_archive_write_once()")
    else:
        for table in TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, 'cdrflow archive: {action} on {table} is not allowed "
                           f"(write-once)'); END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in reversed(TABLES):
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_write_once ON {table}")
        else:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
        op.drop_table(table)
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS cdrflow_archive_write_once()")
