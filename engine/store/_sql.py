"""Small SQL helpers shared by the repositories: "insert unless it exists" and row locks.

Both backends speak ``INSERT ... ON CONFLICT DO NOTHING`` (PostgreSQL 9.5+, SQLite 3.24+), which
is how an idempotent write stays cheap and race-free: under concurrency the loser's insert
waits for the winner's transaction and then does nothing, and the loser re-reads. No exception,
no savepoint, no rolled-back batch.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable

from sqlalchemy import Select, Table, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@lru_cache(maxsize=None)
def _insert_ignore_statement(dialect: str, table: Table, conflict: tuple[str, ...]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=list(conflict) or None).returning(table.c.id)


def insert_ignore(session: Session, model: type, values: dict[str, Any], conflict: list[str]) -> int | None:
    """Insert a row unless one with the same ``conflict`` columns exists; the new id or None.
    An empty ``conflict`` ignores a clash with any unique constraint of the table.

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


def one_of(session: Session, column: Any, values: Iterable[Any]) -> Any:
    """``column IN (values)`` as ONE parameter on PostgreSQL (``column = ANY(:array)``).

    An expanded ``IN (...)`` is a new statement text for every length of the list: psycopg
    parses each such text with a regular expression (about 0.25 ms per 1,000 values, not
    cached for long texts) and the server plans it anew. With an array the text never changes.
    SQLite has no arrays: there it stays ``IN``."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


@lru_cache(maxsize=None)
def _unnest_insert(table: Table, columns: tuple[str, ...], conflict: tuple[str, ...],
                   returning: tuple[str, ...]) -> Any:
    arrays = [func.unnest(bindparam(name, type_=postgresql.ARRAY(table.c[name].type))) for name in columns]
    stmt = postgresql.insert(table).from_select(list(columns), select(*arrays))
    if conflict:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    return stmt.returning(*(table.c[name] for name in returning)) if returning else stmt


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]], *, conflict: tuple[str, ...] = (),
                returning: tuple[str, ...] = ()) -> list[Any]:
    """Insert ``rows`` (dicts with the same keys) in one statement; the ``returning`` columns of
    the rows inserted (``conflict``: ``ON CONFLICT (...) DO NOTHING``).

    PostgreSQL: ``INSERT ... SELECT unnest(:col1), unnest(:col2) ...`` - one array parameter per
    column, rows in list order. The statement text is the same for any number of rows, so it is
    built and prepared once; a multi-row ``VALUES`` list (SQLAlchemy's insertmanyvalues) is a
    text of 20,000 placeholders per 1,000 rows that psycopg re-parses every time (0.4 ms a row).
    The columns' own types convert the values, element by element, as for single rows.
    SQLite: the multi-row ``VALUES`` insert."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        columns = tuple(rows[0])
        result = session.execute(_unnest_insert(table, columns, conflict, returning),
                                 {name: [row[name] for row in rows] for name in columns})
        return list(result) if returning else []
    if dialect != "sqlite":
        raise NotImplementedError(f"cdrflow supports SQLite and PostgreSQL, not {dialect}")
    stmt = sqlite.insert(table)
    if conflict:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    if returning:
        return list(session.execute(stmt.returning(*(table.c[name] for name in returning)), rows))
    session.execute(stmt, rows)
    return []
