"""Engines and sessions from a database URL.

The URL comes from ``--database-url``, else ``DATABASE_URL``, else the embedded default
``sqlite:///var/cdrflow.db`` (relative to the working directory; the directory is created).

SQLite is made fit for a system of record: foreign keys enforced, WAL (readers never block the
writer), a busy timeout instead of instant "database is locked", and every transaction begun
with ``BEGIN IMMEDIATE``. The last one matters: with SQLite's default deferred transactions two
writers can both read, then one fails on its first write (a snapshot conflict that no timeout
cures). Taking the write lock up front makes writers queue instead, which is what "SQLite
serialises writers" is meant to deliver, and it lets SAVEPOINTs work as documented.

PostgreSQL gets a checked connection pool; concurrency there comes from row locks and unique
constraints (see ``cdrs``, ``numbers``, ``outbox``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from engine.jsonable import dumps, to_jsonable

DEFAULT_URL = "sqlite:///var/cdrflow.db"
ENV_VAR = "DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def database_url(explicit: str | None = None) -> str:
    """The URL to use: explicit > $DATABASE_URL > the embedded SQLite default."""
    url = explicit or os.environ.get(ENV_VAR) or DEFAULT_URL
    # Heroku-style and driverless URLs mean psycopg 3 here (psycopg2 is not a dependency).
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def _json_default(value: Any) -> Any:
    """What ``to_jsonable`` makes of a value the json module cannot encode itself (Decimal,
    datetime, date, objects with ``to_json``)."""
    converted = to_jsonable(value)
    if converted is value:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return converted


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default).encode


def _json_serializer(value: Any) -> str:
    # The same text as ``dumps(value)`` (to_jsonable first: a Decimal or datetime that slipped
    # through becomes a string, not an error), without walking every value in Python first: the
    # C encoder calls ``_json_default`` only for what it cannot encode. The values written per
    # ingested CDR are large (the CDR, facts, pricing), so the walk was a hot spot. A dict key the
    # encoder refuses (a Decimal, a tuple) takes the old path; the one spelling difference left is
    # a True/False/None dict *key* (json writes "true", to_jsonable "True") - none of cdrflow's
    # stored values has one (their keys are field names).
    try:
        return _encode(value)
    except (TypeError, ValueError):
        return dumps(value, separators=(",", ":"))


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An Engine for ``url`` (see ``database_url``) with the settings described above."""
    url = database_url(url)
    parsed = make_url(url)
    options: dict[str, Any] = {"json_serializer": _json_serializer}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        options.update(kwargs)
        engine = create_engine(url, **options)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        options.update(pool_pre_ping=True, pool_size=5, max_overflow=10, pool_recycle=1800, pool_timeout=30)
    options.update(kwargs)
    return create_engine(url, **options)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level; SQLAlchemy's "begin" event below opens transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(bind: Engine | str | None = None) -> sessionmaker[Session]:
    """A session factory; objects stay readable after commit (the CLI prints them)."""
    engine = bind if isinstance(bind, Engine) else make_engine(bind)
    return sessionmaker(bind=engine, expire_on_commit=False)


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)
