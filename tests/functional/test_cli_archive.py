"""``cdrflow archive verify`` driven like a user: by subprocess, on SQLite and PostgreSQL.

The documents are issued and archived in-process (rendered for real), then the CLI checks the
archive; a tampered amount and a tampered file make it name the documents and exit 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text, update

from documents.doc_helpers import msp_credit_note, msp_reverse_charge_invoice, store_document
from engine.documents.archive import archive_document
from engine.documents.render import render_all
from engine.store.db import make_session_factory
from engine.store.models import BillingDocument

ROOT = Path(__file__).resolve().parents[2]


def cdrflow(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300)


def archive_two(url: str) -> None:
    factory = make_session_factory(url)
    try:
        with factory() as session:
            for doc in (msp_reverse_charge_invoice(), msp_credit_note()):
                archive_document(session, store_document(session, doc), render_all(doc))
            session.commit()
    finally:
        factory.kw["bind"].dispose()


def test_verify_an_intact_then_a_tampered_archive(empty_db_url):
    url = empty_db_url
    refused = cdrflow("archive", "verify", "--database-url", url)
    assert refused.returncode == 2 and "cdrflow db upgrade" in refused.stderr

    assert cdrflow("db", "upgrade", "--database-url", url).returncode == 0
    empty = cdrflow("archive", "verify", "--database-url", url)
    assert (empty.returncode, empty.stdout) == (0, "archive OK: 0 documents in 0 chains\n")

    archive_two(url)
    ok = cdrflow("archive", "verify", "--database-url", url, "--heads")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0] == "archive OK: 2 documents in 1 chains"
    assert lines[1].startswith("msp/2026 MSP-2026-000003 ") and len(lines[1].split()[-1]) == 64

    factory = make_session_factory(url)
    try:
        with factory() as session:
            session.execute(update(BillingDocument).where(BillingDocument.number == "MSP-2026-000001")
                            .values(gross_amount=Decimal("999.99")))
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("ALTER TABLE archived_files DISABLE TRIGGER USER"))
            else:
                session.execute(text("DROP TRIGGER archived_files_no_update"))
            session.execute(text("UPDATE archived_files SET content = :c WHERE kind = 'xml' AND entry_id = "
                                 "(SELECT id FROM archive_entries WHERE number = 'MSP-2026-000003')"),
                            {"c": b"<forged/>"})
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("ALTER TABLE archived_files ENABLE TRIGGER USER"))
            session.commit()
    finally:
        factory.kw["bind"].dispose()

    bad = cdrflow("archive", "verify", "--database-url", url)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert len(lines) == 2
    assert "MSP-2026-000001: gross_amount changed: 284.92 -> 999.99" in lines
    assert any(line.startswith("MSP-2026-000003: file xml changed (sha256 ") for line in lines)
    assert "2 finding(s)" in bad.stderr


def test_help_lists_the_command():
    result = cdrflow("archive", "--help")
    assert result.returncode == 0 and "verify" in result.stdout
