"""Alembic migrations of the cdrflow schema (run through ``engine.store.migrate``)."""
