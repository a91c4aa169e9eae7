"""Tables of the write-once document archive (``engine.documents.archive``).

Kept apart from ``engine/store/models.py`` (one owner per module) but on the same ``Base``, so
the schema check and ``Base.metadata`` see them once this module is imported
(``engine.documents.archive`` imports it). The schema comes from migration 0002.

* ``archive_entries``: one row per archived document - its place in the hash chain of its number
  range (``range_key`` = "stream/year", ``seq`` = 1, 2, ...), the canonical JSON snapshot of
  the document as archived, and the hashes. Unique per document, per number and per (range, seq).
* ``archived_files``: the rendered files (pdf, xml, csv) of an entry, bytes in the database,
  with their SHA-256 and size. Unique per (entry, kind).

Both tables are write-once: database triggers (migration 0002) refuse UPDATE and DELETE.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.store.models import Base
from engine.store.types import UTCDateTime


class ArchiveEntry(Base):
    """One archived document: a link in the hash chain of its number range."""

    __tablename__ = "archive_entries"
    __table_args__ = (
        UniqueConstraint("document_id", name="uq_archive_entries_document_id"),
        UniqueConstraint("number", name="uq_archive_entries_number"),
        UniqueConstraint("range_key", "seq", name="uq_archive_entries_range_key_seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("billing_documents.id"))
    number: Mapped[str] = mapped_column(String(32))
    range_key: Mapped[str] = mapped_column(String(64))      # "msp/2026"
    seq: Mapped[int] = mapped_column(Integer)               # 1, 2, ... within range_key
    hash_version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[str] = mapped_column(Text)             # canonical JSON of header + lines
    content_hash: Mapped[str] = mapped_column(String(64))
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime())

    files: Mapped[list[ArchivedFile]] = relationship(back_populates="entry", order_by="ArchivedFile.kind")


class ArchivedFile(Base):
    """One rendered file of an archived document, stored once and never changed."""

    __tablename__ = "archived_files"
    __table_args__ = (UniqueConstraint("entry_id", "kind", name="uq_archived_files_entry_id_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("archive_entries.id"))
    kind: Mapped[str] = mapped_column(String(16))           # pdf | xml | csv
    media_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary())

    entry: Mapped[ArchiveEntry] = relationship(back_populates="files")
