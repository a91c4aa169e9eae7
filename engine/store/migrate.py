"""Alembic, configured in code: the only way the schema is created or changed.

No ``alembic.ini`` is needed: ``alembic_config`` points Alembic at ``engine/store/migrations``
and ``upgrade``/``current`` hand it a connection from ``engine.store.db`` (same pragmas and
driver as the application). On PostgreSQL an advisory lock makes concurrent ``upgrade`` calls
(several processes starting at once) take turns instead of racing on DDL.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from engine.store.db import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant will do; it only has to be the same for every cdrflow process.
_PG_MIGRATION_LOCK = 0x0CD2F10


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for the cdrflow migrations (``url`` only matters for offline SQL)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _engine(url: str | Engine | None) -> tuple[Engine, bool]:
    if isinstance(url, Engine):
        return url, False
    return make_engine(url), True


def upgrade(url: str | Engine | None = None, revision: str = "head") -> str | None:
    """Migrate the database at ``url`` to ``revision``; returns the revision it is at after."""
    engine, owned = _engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
        return current(engine)
    finally:
        if owned:
            engine.dispose()


def current(url: str | Engine | None = None) -> str | None:
    """The revision the database at ``url`` is at (None: never migrated)."""
    engine, owned = _engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def is_up_to_date(url: str | Engine | None = None) -> bool:
    return current(url) == head()
