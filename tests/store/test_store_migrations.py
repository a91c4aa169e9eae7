"""The schema comes only from the migrations, and the models agree with it on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, inspect

from engine.store import migrate
from engine.store.db import make_engine
from engine.store.schema import metadata as _metadata


def _diff(url: str, metadata: MetaData) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_upgrade_creates_the_schema_from_nothing(empty_db_url):
    assert migrate.current(empty_db_url) is None
    assert migrate.upgrade(empty_db_url) == migrate.head()
    assert migrate.current(empty_db_url) == migrate.head()
    assert migrate.is_up_to_date(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(_metadata.tables) <= tables


def test_models_and_migrated_schema_agree(empty_db_url):
    migrate.upgrade(empty_db_url)
    assert _diff(empty_db_url, _metadata) == []


def test_the_comparison_would_notice_a_difference(empty_db_url):
    migrate.upgrade(empty_db_url)
    changed = MetaData()
    for table in _metadata.sorted_tables:
        table.to_metadata(changed)
    Table("not_migrated", changed, Column("id", Integer, primary_key=True))
    changed.tables["cdrs"].append_column(Column("extra", Integer))
    kinds = {d[0] for d in _diff(empty_db_url, changed)}
    assert {"add_table", "add_column"} <= kinds


def test_upgrade_twice_is_a_no_op(empty_db_url):
    migrate.upgrade(empty_db_url)
    assert migrate.upgrade(empty_db_url) == migrate.head()


def test_downgrade_to_base_and_up_again(empty_db_url):
    from alembic import command

    migrate.upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            cfg = migrate.alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert "cdrs" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert migrate.upgrade(empty_db_url) == migrate.head()


def test_current_decision_index_is_partial_and_unique(db_url):
    engine = make_engine(db_url)
    try:
        indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("decisions")}
    finally:
        engine.dispose()
    assert indexes["uq_decisions_current"]["unique"]
    assert indexes["uq_decisions_current"]["column_names"] == ["cdr_pk"]


def test_migrations_need_no_alembic_ini():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert not (root / "alembic.ini").exists()
    assert (migrate.MIGRATIONS / "versions" / "0001_initial.py").is_file()


@pytest.mark.parametrize("url", ["sqlite:///:memory:"])
def test_in_memory_sqlite_migrates_too(url):
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        assert migrate.current(engine) == migrate.head()
    finally:
        engine.dispose()
