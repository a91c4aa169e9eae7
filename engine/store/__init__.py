"""The store: cdrflow's system of record (SQLAlchemy 2 + Alembic), a shell module.

It does I/O, so the pure core (intake, facts, classify, pricing, mapping, Decision) never imports
it; the shell hands it finished Decisions. SQLite in a file is the embedded default, PostgreSQL
the system of record past one machine. Nothing here assumes it is the only process: every write
that may be repeated is guarded by a unique constraint or an idempotency key.

Modules, one per concept: ``types`` (Decimal/UTC column types), ``models`` (the tables), ``db``
(engine and sessions from a URL), ``migrate`` (Alembic, the only way the schema changes),
``canonical`` (content hashes), ``cdrs`` (recording Decisions idempotently), ``exceptions``
(the exception queue), ``numbers`` (document number ranges), ``outbox`` and ``clients``.
"""
