"""``cdrflow db upgrade|current``: create or migrate the database schema, or show its revision.

Alembic migrations are the only way the schema changes; ``upgrade`` is safe to run from several
processes at once (PostgreSQL: advisory lock; SQLite: one writer). The helpers at the bottom
are shared by the other commands that touch the database (``ingest``, ``token``).
"""

from __future__ import annotations

import argparse
import sys

from engine.commands._common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", metavar="URL", default=None,
                        help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db "
                             "(default: $DATABASE_URL, else sqlite:///var/cdrflow.db)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="create/migrate the database schema or show its revision",
                       description="Manage the database schema (Alembic migrations).")
    actions = p.add_subparsers(dest="db_action", required=True, metavar="ACTION")
    up = actions.add_parser("upgrade", help="migrate the schema to the newest revision (creates it if needed)")
    add_database_option(up)
    up.set_defaults(func=run_upgrade)
    cur = actions.add_parser("current", help="show the schema revision of the database")
    add_database_option(cur)
    cur.set_defaults(func=run_current)


def _describe(url: str) -> str:
    from engine.store.db import database_url, redacted

    return redacted(database_url(url))


def run_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from engine.store import migrate

    try:
        before = migrate.current(args.database_url)
        after = migrate.upgrade(args.database_url)
    except SQLAlchemyError as exc:
        print(f"cdrflow db: {_describe(args.database_url)}: {_first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    if before == after:
        print(f"{_describe(args.database_url)}: already at {after} (head)")
    else:
        print(f"{_describe(args.database_url)}: upgraded {before or 'empty'} -> {after} (head)")
    return EXIT_OK


def run_current(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from engine.store import migrate

    try:
        revision = migrate.current(args.database_url)
    except SQLAlchemyError as exc:
        print(f"cdrflow db: {_describe(args.database_url)}: {_first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    head = migrate.head()
    if revision == head:
        print(f"{_describe(args.database_url)}: {revision} (head)")
        return EXIT_OK
    print(f"{_describe(args.database_url)}: {revision or 'empty'} (head is {head}; run `cdrflow db upgrade`)")
    return EXIT_FINDINGS


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def open_session_factory(url: str | None):
    """A session factory for a database at the code's schema revision, or None after saying
    why (callers exit 2): a command never runs against a schema it does not know."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine.store import migrate
    from engine.store.db import make_engine, make_session_factory

    engine = make_engine(url)
    try:
        revision = migrate.current(engine)
    except SQLAlchemyError as exc:
        print(f"cdrflow: {_describe(url)}: {_first_line(exc)}", file=sys.stderr)
        engine.dispose()
        return None
    if revision != migrate.head():
        print(f"cdrflow: {_describe(url)} is at schema revision {revision or 'none'}, this cdrflow needs "
              f"{migrate.head()}: run `cdrflow db upgrade`", file=sys.stderr)
        engine.dispose()
        return None
    return make_session_factory(engine)
