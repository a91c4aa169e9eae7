"""The write-once, hash-chained archive on SQLite and PostgreSQL: archive, read, verify, tamper.

Tampering is done the way someone with database rights would: plain SQL, with the archive's
write-once triggers (and, to delete a referenced row, the foreign keys) switched off inside the
test's transaction, which the ``session`` fixture rolls back.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from doc_helpers import (
    adhoc_small_receipt, msp_credit_note, msp_domestic_invoice, msp_reverse_charge_invoice, store_document,
)
from engine.documents.archive import (
    ArchiveConflict, ArchiveError, ArchiveIntegrityError, archive_counts, archive_document, archived_kinds,
    compute_content_hash, read_file, verify, verify_report,
)
from engine.store.archive_models import ArchivedFile, ArchiveEntry
from engine.store.models import BillingDocument, BillingDocumentLine, NumberLogEntry

FILES = {"pdf": b"%PDF-1.6 one", "xml": b"<xml/>", "csv": b"cdr_id\r\nX\r\n"}


def files_for(n: int) -> dict[str, bytes]:
    return {kind: data + str(n).encode() for kind, data in FILES.items()}


@pytest.fixture
def archived(session):
    """Three MSP documents (one range) and one ad-hoc receipt (another range), archived."""
    ids = {}
    for n, doc in enumerate([msp_reverse_charge_invoice(), msp_domestic_invoice(), msp_credit_note(),
                             adhoc_small_receipt()], start=1):
        ids[doc.number] = store_document(session, doc)
        archive_document(session, ids[doc.number], files_for(n))
    return ids


def pg(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def without_write_once(session) -> None:
    """What only a DBA can do: switch the archive triggers off (for this transaction)."""
    if pg(session):
        session.execute(text("ALTER TABLE archived_files DISABLE TRIGGER USER"))
        session.execute(text("ALTER TABLE archive_entries DISABLE TRIGGER USER"))
    else:
        for table in ("archived_files", "archive_entries"):
            for action in ("update", "delete"):
                session.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))


def without_foreign_keys(session) -> None:
    if pg(session):
        session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        session.execute(text("PRAGMA defer_foreign_keys = ON"))


def findings(session) -> list[tuple[str, str, str]]:
    return [(p.path, p.code, p.message) for p in verify(session)]


def doc_id(session, number: str) -> int:
    return session.execute(select(BillingDocument.id).where(BillingDocument.number == number)).scalar_one()


# --------------------------------------------------------------------------- archiving


def test_archive_then_verify_ok(session, archived):
    report = verify_report(session)
    assert report.problems == [] and report.ok
    assert (report.documents, report.chains) == (4, 2)
    assert archive_counts(session) == (4, 2)
    assert set(report.heads) == {"msp/2026", "adhoc/2026"}
    assert report.heads["msp/2026"][0] == "MSP-2026-000003"


def test_documents_are_chained_per_number_range(session, archived):
    entries = session.execute(select(ArchiveEntry).order_by(ArchiveEntry.range_key, ArchiveEntry.seq)).scalars().all()
    by_range = {}
    for e in entries:
        by_range.setdefault(e.range_key, []).append(e)
    assert [e.number for e in by_range["msp/2026"]] == ["MSP-2026-000001", "MSP-2026-000002", "MSP-2026-000003"]
    assert [e.seq for e in by_range["msp/2026"]] == [1, 2, 3]
    first, second, third = by_range["msp/2026"]
    assert first.previous_hash is None
    assert second.previous_hash == first.content_hash and third.previous_hash == second.content_hash
    assert by_range["adhoc/2026"][0].previous_hash is None          # its own chain
    for e in entries:
        row = session.get(BillingDocument, e.document_id)
        assert (row.content_hash, row.previous_hash) == (e.content_hash, e.previous_hash)
        assert len(e.content_hash) == 64


def test_content_hash_covers_number_snapshot_link_and_files(session, archived):
    entry = session.execute(select(ArchiveEntry).where(ArchiveEntry.number == "MSP-2026-000002")).scalar_one()
    hashes = {f.kind: f.sha256 for f in entry.files}
    args = dict(number=entry.number, range_key=entry.range_key, seq=entry.seq, previous_hash=entry.previous_hash,
                snapshot=entry.snapshot, file_hashes=hashes)
    assert compute_content_hash(**args) == entry.content_hash
    for change in ({"number": "MSP-2026-000099"}, {"previous_hash": "0" * 64}, {"seq": 7},
                   {"file_hashes": {**hashes, "pdf": "0" * 64}},
                   {"snapshot": entry.snapshot.replace("94.01", "94.02")}):
        assert compute_content_hash(**{**args, **change}) != entry.content_hash, change


def test_snapshot_holds_header_lines_and_the_corrected_invoice(session, archived):
    import json

    entry = session.execute(select(ArchiveEntry).where(ArchiveEntry.number == "MSP-2026-000003")).scalar_one()
    snapshot = json.loads(entry.snapshot)
    assert snapshot["doc_type"] == "credit_note" and snapshot["original_number"] == "MSP-2026-000001"
    assert snapshot["gross_amount"] == -8 and snapshot["created_at"] == "2026-11-03T09:30:00Z"
    assert [ln["line_no"] for ln in snapshot["lines"]] == [1]
    assert "status" not in snapshot and "provider_ref" not in snapshot


def test_read_file_returns_the_archived_bytes(session, archived):
    assert read_file(session, "MSP-2026-000002", "pdf") == files_for(2)["pdf"]
    assert read_file(session, "MSP-2026-000002", "csv") == files_for(2)["csv"]
    assert read_file(session, "MSP-2026-000002", "json") is None
    assert read_file(session, "MSP-2026-999999", "pdf") is None
    assert archived_kinds(session, "AH-2026-000042") == ["csv", "pdf", "xml"]
    row = session.execute(select(ArchivedFile).join(ArchiveEntry).where(
        ArchiveEntry.number == "MSP-2026-000002", ArchivedFile.kind == "xml")).scalar_one()
    assert (row.media_type, row.size) == ("application/xml", len(files_for(2)["xml"]))


def test_real_rendered_files_round_trip(session):
    from engine.documents.render import render_all

    doc = msp_reverse_charge_invoice(number="MSP-2026-000077")
    files = render_all(doc)
    entry = archive_document(session, store_document(session, doc), files)
    assert {f.kind for f in entry.files} == {"pdf", "xml", "csv"}
    for kind, data in files.items():
        assert read_file(session, doc.number, kind) == data
    assert verify(session) == []


# --------------------------------------------------------------------------- write-once


def test_archiving_again_with_identical_bytes_is_a_no_op(session, archived):
    before = session.execute(select(func.count()).select_from(ArchivedFile)).scalar_one()
    entry = archive_document(session, archived["MSP-2026-000002"], files_for(2))
    assert entry.number == "MSP-2026-000002" and entry.seq == 2
    assert session.execute(select(func.count()).select_from(ArchivedFile)).scalar_one() == before
    assert verify(session) == []


@pytest.mark.parametrize("files", [{**files_for(2), "pdf": b"%PDF-1.6 other"}, {"pdf": files_for(2)["pdf"]},
                                   {**files_for(2), "json": b"{}"}], ids=["changed", "fewer", "more"])
def test_archiving_again_with_different_files_is_refused(session, archived, files):
    with pytest.raises(ArchiveConflict, match="MSP-2026-000002 is archived already"):
        archive_document(session, archived["MSP-2026-000002"], files)
    assert read_file(session, "MSP-2026-000002", "pdf") == files_for(2)["pdf"]


def test_bad_requests_are_refused(session, archived):
    with pytest.raises(ArchiveError, match="no billing document with id"):
        archive_document(session, 999_999, FILES)
    doc = msp_reverse_charge_invoice(number="MSP-2026-000010")
    new_id = store_document(session, doc)
    with pytest.raises(ArchiveError, match="no files"):
        archive_document(session, new_id, {})
    with pytest.raises(ArchiveError, match="kind"):
        archive_document(session, new_id, {"../pdf": b"x"})
    session.execute(update(BillingDocument).where(BillingDocument.id == new_id).values(content_hash="f" * 64))
    with pytest.raises(ArchiveConflict, match="already carries a content hash"):
        archive_document(session, new_id, FILES)


@pytest.mark.parametrize("statement", [
    lambda: update(ArchivedFile.__table__).values(content=b"changed"),
    lambda: delete(ArchivedFile.__table__),
    lambda: update(ArchiveEntry.__table__).values(content_hash="0" * 64),
    lambda: delete(ArchiveEntry.__table__),
], ids=["update file", "delete file", "update entry", "delete entry"])
def test_the_database_refuses_to_change_the_archive(session, archived, statement):
    with pytest.raises(DBAPIError, match="write-once"):
        with session.begin_nested():
            session.execute(statement())
    assert verify(session) == []


def test_a_document_with_archived_files_cannot_simply_be_deleted(session, archived):
    with pytest.raises(DBAPIError):
        with session.begin_nested():
            session.execute(delete(BillingDocumentLine).where(
                BillingDocumentLine.document_id == archived["MSP-2026-000001"]))
            session.execute(delete(BillingDocument).where(BillingDocument.id == archived["MSP-2026-000001"]))


# --------------------------------------------------------------------------- tampering


def test_a_changed_amount_is_found(session, archived):
    session.execute(update(BillingDocument).where(BillingDocument.number == "MSP-2026-000002")
                    .values(net_amount=Decimal("95.01"), gross_amount=Decimal("112.87")))
    assert findings(session) == [
        ("MSP-2026-000002", "ARCHIVE_DOCUMENT_CHANGED", "gross_amount changed: 111.87 -> 112.87"),
        ("MSP-2026-000002", "ARCHIVE_DOCUMENT_CHANGED", "net_amount changed: 94.01 -> 95.01"),
    ]


def test_a_changed_or_deleted_line_is_found(session, archived):
    target = archived["MSP-2026-000001"]
    session.execute(update(BillingDocumentLine).where(BillingDocumentLine.document_id == target,
                                                      BillingDocumentLine.line_no == 1)
                    .values(unit_price=Decimal("0.29")))
    session.execute(delete(BillingDocumentLine).where(BillingDocumentLine.document_id == target,
                                                      BillingDocumentLine.line_no == 4))
    assert findings(session) == [
        ("MSP-2026-000001", "ARCHIVE_DOCUMENT_CHANGED", "line 1 unit_price changed: 0.39 -> 0.29"),
        ("MSP-2026-000001", "ARCHIVE_DOCUMENT_CHANGED", "line 4 deleted"),
    ]


def test_operational_fields_may_change(session, archived):
    session.execute(update(BillingDocument).values(status="paid", provider_ref="lago:123"))
    assert verify(session) == []


def test_a_modified_file_is_found_and_never_served(session, archived):
    without_write_once(session)
    entry_id = session.execute(select(ArchiveEntry.id).where(ArchiveEntry.number == "AH-2026-000042")).scalar_one()
    session.execute(update(ArchivedFile.__table__).where(ArchivedFile.entry_id == entry_id,
                                                         ArchivedFile.kind == "pdf").values(content=b"%PDF forged"))
    found = findings(session)
    assert [(number, code) for number, code, _ in found] == [("AH-2026-000042", "ARCHIVE_FILE_CHANGED")]
    assert found[0][2].startswith("file pdf changed")
    with pytest.raises(ArchiveIntegrityError, match="AH-2026-000042"):
        read_file(session, "AH-2026-000042", "pdf")


def test_a_file_replaced_together_with_its_recorded_hash_breaks_the_entry_hash(session, archived):
    import hashlib

    without_write_once(session)
    forged = b"%PDF forged"
    entry_id = session.execute(select(ArchiveEntry.id).where(ArchiveEntry.number == "MSP-2026-000001")).scalar_one()
    session.execute(update(ArchivedFile.__table__).where(ArchivedFile.entry_id == entry_id, ArchivedFile.kind == "pdf")
                    .values(content=forged, sha256=hashlib.sha256(forged).hexdigest(), size=len(forged)))
    assert [(n, c) for n, c, _ in findings(session)] == [("MSP-2026-000001", "ARCHIVE_ENTRY_CHANGED")]


def test_a_rewritten_entry_breaks_the_link_to_the_next_document(session, archived):
    """Change a document and recompute its own hashes: the next document still names the old hash."""
    without_write_once(session)
    entry = session.execute(select(ArchiveEntry).where(ArchiveEntry.number == "MSP-2026-000001")).scalar_one()
    session.execute(update(BillingDocument).where(BillingDocument.id == entry.document_id)
                    .values(net_amount=Decimal("1.00")))
    snapshot = entry.snapshot.replace('"net_amount":284.92', '"net_amount":1')
    assert snapshot != entry.snapshot
    forged = compute_content_hash(number=entry.number, range_key=entry.range_key, seq=1, previous_hash=None,
                                  snapshot=snapshot, file_hashes={f.kind: f.sha256 for f in entry.files})
    session.execute(update(ArchiveEntry.__table__).where(ArchiveEntry.id == entry.id)
                    .values(snapshot=snapshot, content_hash=forged))
    session.execute(update(BillingDocument).where(BillingDocument.id == entry.document_id).values(content_hash=forged))
    found = findings(session)
    assert [(n, c) for n, c, _ in found] == [("MSP-2026-000002", "ARCHIVE_CHAIN_BROKEN")]
    assert "is not the hash of MSP-2026-000001" in found[0][2]


def test_a_changed_hash_column_is_found(session, archived):
    session.execute(update(BillingDocument).where(BillingDocument.number == "MSP-2026-000003")
                    .values(content_hash="0" * 64))
    assert [(n, c) for n, c, _ in findings(session)] == [("MSP-2026-000003", "ARCHIVE_DOCUMENT_CHANGED")]


def test_a_deleted_document_row_is_found(session, archived):
    without_foreign_keys(session)
    target = archived["MSP-2026-000002"]
    session.execute(delete(BillingDocumentLine).where(BillingDocumentLine.document_id == target))
    session.execute(delete(BillingDocument).where(BillingDocument.id == target))
    found = findings(session)
    assert [(n, c) for n, c, _ in found] == [("MSP-2026-000002", "ARCHIVE_DOCUMENT_DELETED")]
    assert found[0][2].startswith("document deleted")


def test_a_document_deleted_with_its_archive_entry_breaks_the_chain(session, archived):
    without_write_once(session)
    without_foreign_keys(session)
    target = archived["MSP-2026-000002"]
    entry_id = session.execute(select(ArchiveEntry.id).where(ArchiveEntry.document_id == target)).scalar_one()
    session.execute(delete(ArchivedFile.__table__).where(ArchivedFile.entry_id == entry_id))
    session.execute(delete(ArchiveEntry.__table__).where(ArchiveEntry.id == entry_id))
    session.execute(delete(BillingDocumentLine).where(BillingDocumentLine.document_id == target))
    session.execute(delete(BillingDocument).where(BillingDocument.id == target))
    found = findings(session)
    assert ("MSP-2026-000003", "ARCHIVE_CHAIN_BROKEN",
            "chain msp/2026: entries 2..2 between MSP-2026-000001 and MSP-2026-000003 are missing (deleted?)") in found
    assert ("MSP-2026-000002", "ARCHIVE_DOCUMENT_DELETED",
            "number was issued (and not voided) but has no document") in found


def test_the_last_document_deleted_with_its_entry_leaves_a_trace_in_the_number_log(session, archived):
    without_write_once(session)
    without_foreign_keys(session)
    target = archived["MSP-2026-000003"]
    entry_id = session.execute(select(ArchiveEntry.id).where(ArchiveEntry.document_id == target)).scalar_one()
    session.execute(delete(ArchivedFile.__table__).where(ArchivedFile.entry_id == entry_id))
    session.execute(delete(ArchiveEntry.__table__).where(ArchiveEntry.id == entry_id))
    session.execute(delete(BillingDocumentLine).where(BillingDocumentLine.document_id == target))
    session.execute(delete(BillingDocument).where(BillingDocument.id == target))
    assert [(n, c) for n, c, _ in findings(session)] == [("MSP-2026-000003", "ARCHIVE_DOCUMENT_DELETED")]


def test_an_archive_entry_deleted_under_a_document_is_found(session, archived):
    without_write_once(session)
    entry_id = session.execute(select(ArchiveEntry.id).where(ArchiveEntry.number == "MSP-2026-000003")).scalar_one()
    session.execute(delete(ArchivedFile.__table__).where(ArchivedFile.entry_id == entry_id))
    session.execute(delete(ArchiveEntry.__table__).where(ArchiveEntry.id == entry_id))
    assert findings(session) == [("MSP-2026-000003", "ARCHIVE_ENTRY_MISSING",
                                  "document carries a content hash but its archive entry is gone")]


def test_a_voided_number_is_not_a_finding(session, archived):
    from datetime import datetime, timezone

    at = datetime(2026, 11, 4, tzinfo=timezone.utc)
    for action in ("issued", "voided"):
        session.add(NumberLogEntry(number="MSP-2026-000004", action=action, stream="msp", year=2026, value=4,
                                   reason="test" if action == "voided" else None, logged_at=at))
    session.flush()
    assert verify(session) == []


def test_the_range_comes_from_the_number_log_or_the_number(session):
    doc = msp_domestic_invoice(number="MSP-2025-000001")
    entry = archive_document(session, store_document(session, doc, log_number=False), FILES)
    assert entry.range_key == "msp/2025"
    other = msp_domestic_invoice(number="MSP-2025-000002")
    other_id = store_document(session, other)
    assert archive_document(session, other_id, FILES).previous_hash == entry.content_hash
    assert verify(session) == []


def test_archiving_is_committed_by_the_caller(session_factory):
    with session_factory() as s:
        ident = store_document(s, msp_reverse_charge_invoice())
        archive_document(s, ident, FILES)
        s.rollback()
    with session_factory() as s:
        assert archive_counts(s) == (0, 0)
        ident = store_document(s, msp_reverse_charge_invoice())
        archive_document(s, ident, FILES)
        s.commit()
    with session_factory() as s:
        assert archive_counts(s) == (1, 1) and verify(s) == []
        assert read_file(s, "MSP-2026-000001", "xml") == FILES["xml"]
