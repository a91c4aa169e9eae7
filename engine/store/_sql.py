"""Small SQL helpers shared by the repositories: "insert unless it exists" and row locks.

Both backends speak ``INSERT ... ON CONFLICT DO NOTHING`` (PostgreSQL 9.5+, SQLite 3.24+), which
is how an idempotent write stays cheap and race-free: under concurrency the loser's insert
waits for the winner's transaction and then does nothing, and the loser re-reads. No exception,
no savepoint, no rolled-back batch.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@lru_cache(maxsize=None)
def _insert_ignore_statement(dialect: str, table: Table, conflict: tuple[str, ...]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=list(conflict)).returning(table.c.id)


def insert_ignore(session: Session, model: type, values: dict[str, Any], conflict: list[str]) -> int | None:
    """Insert a row unless one with the same ``conflict`` columns exists; the new id or None.

    The statement is built once per table and the values go in as parameters, so SQLAlchemy's
    compiled-statement cache applies (this runs once per ingested CDR)."""
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"cdrflow supports SQLite and PostgreSQL, not {dialect}")
    stmt = _insert_ignore_statement(dialect, model.__table__, tuple(conflict))  # type: ignore[attr-defined]
    return session.execute(stmt, values).scalar_one_or_none()


def for_update(session: Session, stmt: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
    """``SELECT ... FOR UPDATE [SKIP LOCKED]`` on PostgreSQL. SQLite has no row locks; there the
    ``BEGIN IMMEDIATE`` of ``engine.store.db`` already holds the database write lock."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=skip_locked)
    return stmt


def for_share(session: Session, stmt: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
    """``SELECT ... FOR SHARE [SKIP LOCKED]`` on PostgreSQL: the rows cannot change until this
    transaction ends, and other readers are not held up. SQLite: see ``for_update``."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(read=True, skip_locked=skip_locked)
    return stmt
