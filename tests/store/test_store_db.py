"""Engine settings: URL precedence, SQLite pragmas, the default location."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from engine.store import db


def test_url_precedence(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert db.database_url() == "sqlite:///var/cdrflow.db"
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/env.db")
    assert db.database_url() == "sqlite:////tmp/env.db"
    assert db.database_url("sqlite:////tmp/explicit.db") == "sqlite:////tmp/explicit.db"


@pytest.mark.parametrize("given", ["postgres://u@h/db", "postgresql://u@h/db"])
def test_plain_postgres_urls_use_psycopg3(given):
    assert db.database_url(given) == "postgresql+psycopg://u@h/db"


def test_default_creates_the_var_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    engine = db.make_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert (tmp_path / "var" / "cdrflow.db").is_file()


def test_sqlite_pragmas(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_MS
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(session):
    from datetime import datetime, timezone

    from sqlalchemy.exc import IntegrityError

    from engine.store.models import DecisionRecord

    session.add(DecisionRecord(cdr_pk=999, is_current=True, config_version="x",
                               decided_at=datetime.now(timezone.utc)))
    with pytest.raises(IntegrityError):
        session.flush()


def test_redacted_hides_the_password():
    assert "secret" not in db.redacted("postgresql+psycopg://u:secret@h/db")
