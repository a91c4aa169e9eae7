"""Alembic environment for cdrflow, driven programmatically by ``engine.store.migrate``.

The caller passes an open connection in ``config.attributes["connection"]`` (so the engine
settings of ``engine.store.db`` apply: SQLite pragmas, psycopg 3); a bare ``alembic`` run with
``sqlalchemy.url`` set works too. SQLite cannot ALTER most things, so migrations run in batch
mode there (copy-and-move tables).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from engine.store.schema import metadata

config = context.config
target_metadata = metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=url is not None and url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
    else:
        from engine.store.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        try:
            with engine.connect() as conn:
                run_with(conn)
                conn.commit()
        finally:
            engine.dispose()
