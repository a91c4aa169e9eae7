"""The write-once archive of issued documents (GoBD: archived documents are immutable).

Storage: the rendered files go into the database (``archived_files``, with SHA-256 and size),
not into a directory. The database is already the system of record: the file rows are written
in the same transaction as the document and its chain link (no orphan files after a rollback,
no document whose file never reached the disk), one backup covers both, and any number of
stateless processes (PostgreSQL) read them without a shared file system. Files are small
(tens of KB; the session list of a large MSP makes the biggest). Triggers (migration 0002)
refuse UPDATE and DELETE on the archive tables.

The chain. Documents are chained per number range (``range_key`` = "<stream>/<year>", the
range the number was issued from), in the order they are archived (``seq`` 1, 2, ...)::

    content_hash = sha256(canonical_json({
        "v": 1, "number": ..., "range": range_key, "seq": seq,
        "previous_hash": <content_hash of entry seq-1 of the range, null for seq 1>,
        "document": <snapshot: canonical JSON of the billing_documents header + its lines>,
        "files": {kind: sha256 of the file bytes},
    }))

The hash covers the previous hash, so changing any archived document (or file) changes its
hash, which no longer matches the next document's ``previous_hash``: rewriting history means
rewriting every later link of the range. ``billing_documents.content_hash/previous_hash`` get
the same values as the archive entry. The snapshot holds the fields that make the document
(number, stream, type, parties' refs, period, currency, amounts, original document, dates, and
every line); operational fields that legitimately change after issue (``status``,
``provider_ref``) are not part of it.

``verify`` recomputes all of it - file hashes, snapshots against the live rows, entry hashes,
links, sequence gaps - and names the document number of every finding. The chain protects
against edits, not against someone who rewrites a whole range including the hashes (the hash
is not keyed): record the chain heads (``verify_report().heads``) somewhere else to catch that.

Callers own the transaction: ``archive_document`` flushes, it does not commit.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Mapping

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, selectinload

from engine.jsonable import to_jsonable
from engine.problems import Problem
from engine.store._sql import for_update, utcnow
from engine.store.archive_models import ArchivedFile, ArchiveEntry
from engine.store.canonical import canonical_json
from engine.store.models import BillingDocument, BillingDocumentLine, NumberLogEntry

HASH_VERSION = 1
KIND_PATTERN = re.compile(r"^[a-z0-9_-]{1,16}$")
MEDIA_TYPES = {"pdf": "application/pdf", "xml": "application/xml", "csv": "text/csv"}
HEADER_FIELDS = ("number", "stream", "doc_type", "customer_ref", "msp_ref", "period_key", "currency",
                 "net_amount", "vat_amount", "gross_amount", "created_at", "issued_at")
LINE_FIELDS = ("line_no", "product", "description", "quantity", "unit", "unit_price", "net_amount", "tax_rate",
               "tax_treatment", "posting_group", "cost_centre", "cdr_pk")
_YEAR_IN_NUMBER = re.compile(r"(\d{4})-\d+$")
_BATCH = 200


class ArchiveError(Exception):
    """The archive cannot do what was asked."""


class ArchiveConflict(ArchiveError):
    """Write-once: the document is archived already, with different content."""


class ArchiveIntegrityError(ArchiveError):
    """An archived file no longer matches its recorded hash."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- snapshot and hash


def _value(value: Any) -> Any:
    """Decimals stay numbers (canonical JSON compares them by value: 4.40 == 4.4, whatever the
    column scale), instants become RFC 3339 UTC."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, datetime):
        return to_jsonable(value)
    return value


_DOCS = BillingDocument.__table__
_LINES = BillingDocumentLine.__table__
_FILES = ArchivedFile.__table__


def document_snapshots(session: Session, document_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The archived content of ``billing_documents`` rows: header fields and every line, read
    with plain SQL (what is in the database now, never an object cached in the session)."""
    ids = list(document_ids)
    if not ids:
        return {}
    out: dict[int, dict[str, Any]] = {}
    originals: dict[int, int] = {}
    for row in session.execute(select(_DOCS).where(_DOCS.c.id.in_(ids))).mappings():
        out[row["id"]] = {name: _value(row[name]) for name in HEADER_FIELDS}
        out[row["id"]]["lines"] = []
        if row["original_document_id"] is not None:
            originals[row["id"]] = row["original_document_id"]
    names = dict(session.execute(select(_DOCS.c.id, _DOCS.c.number)
                                 .where(_DOCS.c.id.in_(set(originals.values())))).all()) if originals else {}
    for doc_id, snapshot in out.items():
        original = originals.get(doc_id)
        snapshot["original_number"] = None if original is None else names.get(original, f"id:{original}")
    for row in session.execute(select(_LINES).where(_LINES.c.document_id.in_(ids))
                               .order_by(_LINES.c.document_id, _LINES.c.line_no)).mappings():
        out[row["document_id"]]["lines"].append({name: _value(row[name]) for name in LINE_FIELDS})
    return out


def document_snapshot(session: Session, document_id: int) -> dict[str, Any] | None:
    return document_snapshots(session, [document_id]).get(document_id)


def compute_content_hash(*, number: str, range_key: str, seq: int, previous_hash: str | None,
                         snapshot: Mapping[str, Any] | str, file_hashes: Mapping[str, str]) -> str:
    """The content hash of one chain link (see the module docstring)."""
    document = json.loads(snapshot, parse_float=Decimal) if isinstance(snapshot, str) else snapshot
    payload = {"v": HASH_VERSION, "number": number, "range": range_key, "seq": seq, "previous_hash": previous_hash,
               "document": document, "files": dict(sorted(file_hashes.items()))}
    return sha256_hex(canonical_json(payload).encode("utf-8"))


def range_key_of(session: Session, doc: BillingDocument) -> str:
    """"<stream>/<year>" of the number range the document's number came from (the number log),
    else the year in the number (``MSP-2026-000001``), else the year it was issued/created."""
    logged = session.execute(select(NumberLogEntry.stream, NumberLogEntry.year).where(
        NumberLogEntry.number == doc.number, NumberLogEntry.action == "issued")).first()
    if logged is not None:
        return f"{logged.stream}/{logged.year}"
    match = _YEAR_IN_NUMBER.search(doc.number)
    year = int(match.group(1)) if match else (doc.issued_at or doc.created_at).year
    return f"{doc.stream}/{year}"


# --------------------------------------------------------------------------- writing


def _lock_range(session: Session, range_key: str) -> None:
    """Serialise archiving within a range: PostgreSQL advisory lock for this transaction (SQLite's
    BEGIN IMMEDIATE already holds the write lock). The unique (range_key, seq) is the backstop."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"cdrflow-archive:{range_key}".encode()).digest()[:8], "big",
                             signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _check_files(files: Mapping[str, bytes]) -> dict[str, bytes]:
    if not files:
        raise ArchiveError("nothing to archive: no files given")
    out = {}
    for kind, data in files.items():
        if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
            raise ArchiveError(f"file kind {kind!r} is not valid (lower-case letters, digits, _ or -, ≤ 16)")
        if not isinstance(data, (bytes, bytearray)):
            raise ArchiveError(f"file {kind!r} must be bytes, not {type(data).__name__}")
        out[kind] = bytes(data)
    return out


def archive_document(session: Session, document_id: int, files: Mapping[str, bytes], *,
                     now: datetime | None = None) -> ArchiveEntry:
    """Archive the files of a document and link it into its range's chain (write-once).

    Archiving the same document again with byte-identical files is a no-op that returns the
    existing entry; with different (or differently named) files it raises ArchiveConflict.
    Sets ``content_hash``/``previous_hash`` on the document. Flushes; the caller commits.
    """
    files = _check_files(files)
    hashes = {kind: sha256_hex(data) for kind, data in files.items()}
    doc = session.execute(for_update(session, select(BillingDocument).where(BillingDocument.id == document_id))
                          .execution_options(populate_existing=True)).scalar_one_or_none()
    if doc is None:
        raise ArchiveError(f"no billing document with id {document_id}")

    existing = session.execute(select(ArchiveEntry).where(ArchiveEntry.document_id == document_id)
                               .options(selectinload(ArchiveEntry.files))).scalar_one_or_none()
    if existing is not None:
        archived = {f.kind: f.sha256 for f in existing.files}
        if archived != hashes:
            changed = sorted(k for k in set(archived) | set(hashes) if archived.get(k) != hashes.get(k))
            raise ArchiveConflict(f"{doc.number} is archived already (write-once); these files differ: "
                                  f"{', '.join(changed)}")
        return existing
    if doc.content_hash is not None or doc.previous_hash is not None:
        raise ArchiveConflict(f"{doc.number} already carries a content hash but has no archive entry")

    range_key = range_key_of(session, doc)
    _lock_range(session, range_key)
    last = session.execute(select(ArchiveEntry).where(ArchiveEntry.range_key == range_key)
                           .order_by(ArchiveEntry.seq.desc()).limit(1)).scalar_one_or_none()
    seq = 1 if last is None else last.seq + 1
    previous_hash = None if last is None else last.content_hash
    snapshot = canonical_json(document_snapshot(session, doc.id))
    content_hash = compute_content_hash(number=doc.number, range_key=range_key, seq=seq,
                                        previous_hash=previous_hash, snapshot=snapshot, file_hashes=hashes)
    entry = ArchiveEntry(document_id=doc.id, number=doc.number, range_key=range_key, seq=seq,
                         hash_version=HASH_VERSION, snapshot=snapshot, content_hash=content_hash,
                         previous_hash=previous_hash, archived_at=now or utcnow())
    entry.files = [ArchivedFile(kind=kind, media_type=MEDIA_TYPES.get(kind, "application/octet-stream"),
                                sha256=hashes[kind], size=len(data), content=data)
                   for kind, data in sorted(files.items())]
    session.add(entry)
    doc.content_hash = content_hash
    doc.previous_hash = previous_hash
    session.flush()
    return entry


# --------------------------------------------------------------------------- reading


def read_file(session: Session, number: str, kind: str) -> bytes | None:
    """The archived ``kind`` file of document ``number``; None if there is none. Raises
    ArchiveIntegrityError when the bytes no longer match their recorded hash."""
    # Columns, not the ORM entity: an entity already in the session's identity map would hand
    # back the bytes as first loaded, and a file changed on disk since would go unnoticed.
    row = session.execute(select(ArchivedFile.content, ArchivedFile.sha256, ArchivedFile.size)
                          .join(ArchiveEntry, ArchivedFile.entry_id == ArchiveEntry.id)
                          .where(ArchiveEntry.number == number, ArchivedFile.kind == kind)).one_or_none()
    if row is None:
        return None
    data = bytes(row.content)
    if sha256_hex(data) != row.sha256 or len(data) != row.size:
        raise ArchiveIntegrityError(f"{number}: archived {kind} file does not match its recorded SHA-256")
    return data


def archived_kinds(session: Session, number: str) -> list[str]:
    return list(session.execute(select(ArchivedFile.kind).join(ArchiveEntry, ArchivedFile.entry_id == ArchiveEntry.id)
                                .where(ArchiveEntry.number == number).order_by(ArchivedFile.kind)).scalars())


# --------------------------------------------------------------------------- verifying


@dataclass
class VerifyReport:
    documents: int = 0
    chains: int = 0
    heads: dict[str, tuple[str, str]] = field(default_factory=dict)   # range -> (number, content_hash)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _short(digest: str | None) -> str:
    return "none" if digest is None else digest[:12] + "…"


def _shown(value: Any) -> str:
    return "null" if value is None else str(value)


def _diff(archived: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two snapshots (compared as canonical JSON values)."""
    def same(a: Any, b: Any) -> bool:
        return canonical_json(a) == canonical_json(b)

    out = []
    for name in sorted(set(archived) | set(current)):
        if name == "lines":
            continue
        if not same(archived.get(name), current.get(name)):
            out.append(f"{name} changed: {_shown(archived.get(name))} -> {_shown(current.get(name))}")
    old = {ln.get("line_no"): ln for ln in archived.get("lines") or []}
    new = {ln.get("line_no"): ln for ln in current.get("lines") or []}
    for no in sorted(set(old) | set(new), key=lambda n: (n is None, n)):
        if no not in new:
            out.append(f"line {no} deleted")
        elif no not in old:
            out.append(f"line {no} added")
        else:
            for name in sorted(set(old[no]) | set(new[no])):
                if not same(old[no].get(name), new[no].get(name)):
                    out.append(f"line {no} {name} changed: {_shown(old[no].get(name))} -> "
                               f"{_shown(new[no].get(name))}")
    return out


def _problem(code: str, number: str, message: str) -> Problem:
    return Problem(code, message, path=number)


def _file_hashes(session: Session, problems: list[Problem], numbers: Mapping[int, str]) -> dict[int, dict[str, str]]:
    """Recorded file hashes per entry; every file re-hashed from its bytes on the way (one row
    in memory at a time)."""
    recorded: dict[int, dict[str, str]] = {}
    query = (select(_FILES.c.entry_id, _FILES.c.kind, _FILES.c.sha256, _FILES.c.size, _FILES.c.content)
             .order_by(_FILES.c.entry_id, _FILES.c.kind).execution_options(yield_per=20))
    for entry_id, kind, digest, size, content in session.execute(query):
        recorded.setdefault(entry_id, {})[kind] = digest
        data = bytes(content)
        number = numbers.get(entry_id, f"archive entry {entry_id}")
        if sha256_hex(data) != digest or len(data) != size:
            problems.append(_problem("ARCHIVE_FILE_CHANGED", number,
                                     f"file {kind} changed (sha256 {_short(sha256_hex(data))}, {len(data)} bytes; "
                                     f"archived {_short(digest)}, {size} bytes)"))
    return recorded


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def verify_report(session: Session) -> VerifyReport:
    """Recompute every chain, snapshot and file hash of the archive; report what changed."""
    report = VerifyReport()
    problems = report.problems
    entries = session.execute(select(ArchiveEntry.id, ArchiveEntry.document_id, ArchiveEntry.number,
                                     ArchiveEntry.range_key, ArchiveEntry.seq, ArchiveEntry.content_hash,
                                     ArchiveEntry.previous_hash)
                              .order_by(ArchiveEntry.range_key, ArchiveEntry.seq)).all()
    numbers = {e.id: e.number for e in entries}
    file_hashes = _file_hashes(session, problems, numbers)
    report.documents = len(entries)
    report.chains = len({e.range_key for e in entries})

    previous: Any = None
    for batch in _batches(entries, _BATCH):
        snapshots = dict(session.execute(select(ArchiveEntry.id, ArchiveEntry.snapshot)
                                         .where(ArchiveEntry.id.in_([e.id for e in batch]))).all())
        ids = [e.document_id for e in batch]
        current = document_snapshots(session, ids)
        hashes = {row.id: (row.content_hash, row.previous_hash) for row in session.execute(
            select(_DOCS.c.id, _DOCS.c.content_hash, _DOCS.c.previous_hash).where(_DOCS.c.id.in_(ids)))}
        for entry in batch:
            _verify_entry(entry, snapshots[entry.id], current.get(entry.document_id),
                          hashes.get(entry.document_id, (None, None)), file_hashes.get(entry.id, {}), previous,
                          problems)
            previous = entry
            report.heads[entry.range_key] = (entry.number, entry.content_hash)

    archived_ids = select(ArchiveEntry.document_id)
    for number in session.execute(select(BillingDocument.number).where(
            BillingDocument.content_hash.is_not(None), BillingDocument.id.not_in(archived_ids))
            .order_by(BillingDocument.number)).scalars():
        problems.append(_problem("ARCHIVE_ENTRY_MISSING", number,
                                 "document carries a content hash but its archive entry is gone"))
    _check_number_log(session, {e.range_key for e in entries}, problems)
    return report


def _verify_entry(entry: Any, snapshot: str, current: dict[str, Any] | None, doc_hashes: tuple[str | None, str | None],
                  files: Mapping[str, str], previous: Any, problems: list[Problem]) -> None:
    number = entry.number
    # the link to the previous entry of the same range
    if previous is None or previous.range_key != entry.range_key:
        if entry.seq != 1:
            problems.append(_problem("ARCHIVE_CHAIN_BROKEN", number,
                                     f"entries 1..{entry.seq - 1} of chain {entry.range_key} are missing "
                                     f"(deleted?)"))
        elif entry.previous_hash is not None:
            problems.append(_problem("ARCHIVE_CHAIN_BROKEN", number,
                                     f"first document of chain {entry.range_key} names a previous hash"))
    else:
        if entry.seq != previous.seq + 1:
            problems.append(_problem("ARCHIVE_CHAIN_BROKEN", number,
                                     f"chain {entry.range_key}: entries {previous.seq + 1}..{entry.seq - 1} between "
                                     f"{previous.number} and {number} are missing (deleted?)"))
        elif entry.previous_hash != previous.content_hash:
            problems.append(_problem("ARCHIVE_CHAIN_BROKEN", number,
                                     f"chain {entry.range_key} broken: previous_hash {_short(entry.previous_hash)} "
                                     f"is not the hash of {previous.number} ({_short(previous.content_hash)})"))
    # the entry itself: snapshot + file hashes + link must give its recorded hash
    if not files:
        problems.append(_problem("ARCHIVE_FILE_MISSING", number, "all archived files are gone"))
    expected = compute_content_hash(number=number, range_key=entry.range_key, seq=entry.seq,
                                    previous_hash=entry.previous_hash, snapshot=snapshot, file_hashes=files)
    if expected != entry.content_hash:
        problems.append(_problem("ARCHIVE_ENTRY_CHANGED", number,
                                 "archive entry changed: its snapshot, file list or link no longer gives its "
                                 f"content hash ({_short(entry.content_hash)} recorded, {_short(expected)} now)"))
    # the live document against what was archived
    if current is None:
        problems.append(_problem("ARCHIVE_DOCUMENT_DELETED", number,
                                 f"document deleted (was billing_documents id {entry.document_id})"))
        return
    if canonical_json(current) != snapshot:
        archived = json.loads(snapshot, parse_float=Decimal)
        changes = _diff(archived, json.loads(canonical_json(current), parse_float=Decimal)) or \
            ["content differs from the archived snapshot"]
        for change in changes:
            problems.append(_problem("ARCHIVE_DOCUMENT_CHANGED", number, change))
    content_hash, previous_hash = doc_hashes
    if content_hash != entry.content_hash:
        problems.append(_problem("ARCHIVE_DOCUMENT_CHANGED", number,
                                 f"content_hash changed: {_short(entry.content_hash)} -> {_short(content_hash)}"))
    if previous_hash != entry.previous_hash:
        problems.append(_problem("ARCHIVE_DOCUMENT_CHANGED", number,
                                 f"previous_hash changed: {_short(entry.previous_hash)} -> {_short(previous_hash)}"))


def _check_number_log(session: Session, ranges: set[str], problems: list[Problem]) -> None:
    """A number issued (and not voided) from an archived range must have a document: a document
    deleted together with its archive entry at the end of a chain leaves this trace. (Numbers
    with an archive entry are reported by the entry check already.)"""
    if not ranges:
        return
    voided = select(NumberLogEntry.number).where(NumberLogEntry.action == "voided")
    documents = select(BillingDocument.number)
    rows = session.execute(select(NumberLogEntry.number, NumberLogEntry.stream, NumberLogEntry.year)
                           .where(NumberLogEntry.action == "issued", NumberLogEntry.number.not_in(voided),
                                  NumberLogEntry.number.not_in(documents),
                                  NumberLogEntry.number.not_in(select(ArchiveEntry.number)))
                           .order_by(NumberLogEntry.stream, NumberLogEntry.year, NumberLogEntry.value)).all()
    for number, stream, year in rows:
        if f"{stream}/{year}" in ranges:
            problems.append(_problem("ARCHIVE_DOCUMENT_DELETED", number,
                                     "number was issued (and not voided) but has no document"))


def verify(session: Session) -> list[Problem]:
    """Every finding of ``verify_report``; empty when the archive is intact."""
    return verify_report(session).problems


def archive_counts(session: Session) -> tuple[int, int]:
    """(documents, chains) in the archive."""
    documents, chains = session.execute(select(func.count(ArchiveEntry.id),
                                               func.count(func.distinct(ArchiveEntry.range_key)))).one()
    return int(documents), int(chains)
