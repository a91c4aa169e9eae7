"""Period close speed: room on the ``billable_items`` pages for the close's two updates, and an
index of the late items.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

A period close writes every item of the period twice: ``assign_period`` sets ``period_key``
(indexed: a new row version and an entry in every index), then ``mark_billed`` sets
``document_number`` (not indexed). The second can be a HOT update - no index entry at all, the
new version on the same page - but only if the page has room for it. With the default fill
factor (100) the pages are full, so both updates append new versions and write every index
(measured: 500,000 items, the two updates 17.7 s; the table grows to three times its size).
At fill factor 45 an item's page keeps room for the versions the close writes (the first
update's old versions are pruned by the time the second runs): the second update is HOT, the
two take 8.2 s, and the table does not grow.

PostgreSQL only (a storage parameter; SQLite has none). It applies to pages written from now
on; ``VACUUM FULL billable_items`` rewrites existing ones. Not part of the models (SQLAlchemy's
metadata carries no table storage parameters).

``ix_billable_items_late`` (partial: ``WHERE late``) holds only the late items, so counting a
period's late sessions no longer reads all of its items; the close's updates do not touch it
(on-time items stay out of it, and ``late`` does not change when they are billed, which keeps
the second update HOT). Models: ``engine.store.billing_models.BillableItem``.

It follows 0004; keep one linear history (one head).
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FILLFACTOR = 45


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE billable_items SET (fillfactor = {FILLFACTOR})")
    op.create_index("ix_billable_items_late", "billable_items", ["stream", "period_key"],
                    sqlite_where=sa.text("late"), postgresql_where=sa.text("late"))


def downgrade() -> None:
    op.drop_index("ix_billable_items_late", table_name="billable_items")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE billable_items RESET (fillfactor)")
