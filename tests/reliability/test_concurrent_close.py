"""Two ``cdrflow close-period`` runs of the same period at the same time on PostgreSQL produce one
set of invoices.

Two subprocesses of the real CLI (``engine.cli.main``) are started together - both import
everything, say ``ready``, and are released by one line on their stdin at the same moment - on a
database holding the sample corpus. Without ``--wait`` one closes the period and the other exits
1 ("being closed by another process") or 0 ("already closed", if it came late); with ``--wait``
both exit 0. Either way the documents are those of one close: one claim per business key, the
numbers 1..n of the range with nothing voided, one provider message each - the same set as a
close run alone - and a third run finds the period closed. Several rounds, both streams.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from dbfixtures import drop_pg_database
from engine.store import migrate
from engine.store.db import make_engine

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PERIOD, AS_OF = "2026-10", "2026-11-01"
ROUNDS = [("msp", False), ("msp", True), ("subscription", False), ("subscription", True), ("msp", False),
          ("msp", True)]

LAUNCHER = r"""
import sys
from engine import cli
import engine.commands.close_period, engine.commands._common, engine.streams.close  # noqa: F401
import engine.streams.msp, engine.streams.subscription, engine.store.reference, engine.config.bundle  # noqa
import sqlalchemy.dialects.postgresql, psycopg  # noqa
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()      # "go": both processes are released together
sys.exit(cli.main(sys.argv[1:]))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    env.pop("CDRFLOW_RULES_BACKEND", None)
    return env


def _start(args: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, *args], cwd=ROOT, env=_env(), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    assert line.strip() == "ready", (line, proc.communicate(timeout=60))
    return proc


def _together(*commands: list[str]) -> list[tuple[int, str, str]]:
    procs = [_start(c) for c in commands]
    for p in procs:          # release both at once
        p.stdin.write("go\n")
    for p in procs:
        p.stdin.flush()
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append((p.returncode, stdout, stderr))
    return out


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=300)


def _database(server: str, template: str | None = None) -> str:
    name = f"cdrflow_conc_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            tail = f' TEMPLATE "{make_url(template).database}"' if template else ""
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{tail}')
    finally:
        admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def _documents(url: str, stream: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            def rows(sql: str) -> list[tuple]:
                return sorted(tuple(str(v) for v in r) for r in conn.exec_driver_sql(sql, (stream,)))

            return {
                "claims": rows("SELECT business_key, number, net, vat, gross FROM document_claims WHERE stream = %s"),
                "numbers": rows("SELECT number, action, value FROM number_log WHERE stream = %s"),
                "outbox": rows("SELECT o.idempotency_key FROM outbox o JOIN document_claims c "
                               "ON o.idempotency_key = 'issue:' || c.business_key WHERE c.stream = %s"),
                "billed": rows("SELECT party_ref, document_number, count(*) FROM billable_items "
                               "WHERE stream = %s GROUP BY party_ref, document_number"),
                "period": rows("SELECT period_key, status FROM billing_periods WHERE stream = %s"),
            }
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def ingested(pg_server_url: str):
    """A PostgreSQL database with the sample corpus, cloned for each round; and the documents of
    each stream's close run alone (the expected set)."""
    created = []
    try:
        template = _database(pg_server_url)
        created.append(template)
        migrate.upgrade(template)
        done = _cli("ingest", "--database-url", template, "samples/cdrs")
        assert done.returncode == 0, done.stderr
        expected = {}
        for stream in ("msp", "subscription"):
            alone = _database(pg_server_url, template)
            created.append(alone)
            run = _cli("close-period", "--stream", stream, "--period", PERIOD, "--as-of", AS_OF, "--database-url", alone)
            assert run.returncode == 0, run.stderr
            expected[stream] = _documents(alone, stream)
        yield pg_server_url, template, expected, created
    finally:
        for url in created:
            drop_pg_database(pg_server_url, url)


@pytest.mark.parametrize("round_no", range(len(ROUNDS)))
def test_two_closes_at_once_issue_one_set_of_invoices(ingested, round_no: int) -> None:
    server, template, expected, created = ingested
    stream, wait = ROUNDS[round_no]
    url = _database(server, template)
    created.append(url)
    args = ["close-period", "--stream", stream, "--period", PERIOD, "--as-of", AS_OF, "--database-url", url,
            "--format", "json"] + (["--wait"] if wait else [])
    results = _together(args, args)

    import json

    outcomes = []
    for code, stdout, stderr in results:
        assert code in ((0,) if wait else (0, 1)), (code, stderr)
        outcomes.append(json.loads(stdout)["outcome"] if stdout.strip() else None)
    # exactly one of them closed the period; the other waited for it, found it being closed or closed
    assert outcomes.count("closed") == 1, outcomes
    other = [o for o in outcomes if o != "closed"]
    assert other[0] in (("already_closed",) if wait else ("being_closed", "already_closed")), outcomes

    docs = _documents(url, stream)
    assert docs == expected[stream], "two closes at once must leave what one close leaves"
    numbers = docs["numbers"]
    assert [int(v) for _, action, v in numbers if action == "issued"] == list(range(1, len(docs["claims"]) + 1))
    assert not [n for n in numbers if n[1] == "voided"]
    # the period is closed; the others that have items stay open (the sync opened them)
    assert [(p, status) for p, status in docs["period"] if p == PERIOD or status != "open"] == [(PERIOD, "closed")]

    again = _cli(*args)
    assert again.returncode == 0 and json.loads(again.stdout)["outcome"] == "already_closed", again.stderr
    assert _documents(url, stream) == expected[stream]
