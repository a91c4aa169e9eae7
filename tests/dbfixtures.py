"""Database fixtures for the store, service and functional tests (a pytest plugin module).

Every database test runs on SQLite (a temporary file, always) and on PostgreSQL when
``DATABASE_URL`` points at a server (``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).
For PostgreSQL the suite CREATEs its own database (``cdrflow_test_<pid>_<random>``, one per
pytest process, so ``pytest -n`` workers never share one), migrates it once, empties it before
each test, and DROPs it (WITH (FORCE)) at the end of the session. The server's own databases
are never touched.

Fixtures:

* ``db_url``          a migrated, empty database (param ids ``sqlite`` / ``postgres``)
* ``empty_db_url``    a database with no schema at all (for migration tests)
* ``engine``          an Engine on ``db_url``
* ``session_factory`` a sessionmaker on ``engine``
* ``session``         one Session (rolled back at the end)

Load it with ``pytest_plugins = ["dbfixtures"]`` (tests/ on sys.path) or ``from dbfixtures import *``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from engine.store import migrate
from engine.store.db import database_url, make_engine, make_session_factory
from engine.store.schema import metadata as _metadata

__all__ = ["db_url", "empty_db_url", "engine", "session_factory", "session", "pg_server_url",
           "pg_database", "sqlite_template", "BACKENDS"]

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _server_url() -> str | None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    url = database_url(url)
    return url if make_url(url).get_backend_name() == "postgresql" else None


def _admin(server: str) -> Engine:
    return make_engine(server, isolation_level="AUTOCOMMIT")  # CREATE/DROP DATABASE cannot run in a transaction


def create_pg_database(server: str) -> str:
    """CREATE a uniquely named database on ``server``; its URL."""
    name = f"cdrflow_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _admin(server)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(server: str, url: str) -> None:
    name = make_url(url).database
    admin = _admin(server)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = _server_url()
    if url is None:
        pytest.skip("PostgreSQL tests need DATABASE_URL=postgresql+psycopg://...")
    return url


@pytest.fixture(scope="session")
def pg_database(pg_server_url: str) -> Iterator[str]:
    """This session's migrated PostgreSQL database."""
    url = create_pg_database(pg_server_url)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop_pg_database(pg_server_url, url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def _truncate(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in _metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "cdrflow.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _truncate(url)
    return url


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without any schema, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server = request.getfixturevalue("pg_server_url")
    url = create_pg_database(server)
    try:
        yield url
    finally:
        drop_pg_database(server, url)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s
        s.rollback()
