"""The document files (PDF, e-invoice XML, session-list CSV): rendered by
``engine.documents.render`` and archived write-once by ``engine.documents.archive``.

The renderer is imported when first needed: it pulls in reportlab, lxml and factur-x, which
commands that never render (lint, dry-run, ingest) should not pay for at start-up.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from engine.documents.archive import archive_document, read_file
from engine.documents.model import BillingDocument

log = logging.getLogger(__name__)

KINDS = ("pdf", "xml", "csv")
MIME_TYPES = {"pdf": ("application", "pdf"), "xml": ("application", "xml"), "csv": ("text", "csv")}


def render(doc: BillingDocument) -> dict[str, bytes]:
    """The document's files that have content: {"pdf": ..., "xml"?: ..., "csv"?: ...}."""
    from engine.documents.render import render_all

    files = render_all(doc)
    return {kind: data for kind, data in (files or {}).items() if data}


def render_and_archive(session: Session, document_id: int, doc: BillingDocument) -> dict[str, bytes]:
    """Render ``doc`` and archive the files under its stored id; the files."""
    files = render(doc)
    if files:
        archive_document(session, document_id, files)
    return files


def document_files(session: Session, number: str, doc: BillingDocument | None = None,
                   kinds: tuple[str, ...] = KINDS) -> dict[str, bytes]:
    """The files of an issued document: from the archive (the originals) when it holds them,
    else rendered now from the issued document."""
    out: dict[str, bytes] = {}
    for kind in kinds:
        data = read_file(session, number, kind)
        if data:
            out[kind] = data
    if "pdf" in kinds and "pdf" not in out:
        if doc is None:
            from engine.streams.documents import claimed_document

            doc = claimed_document(session, number)
        if doc is not None:
            rendered = render(doc)
            for kind in kinds:
                if kind not in out and rendered.get(kind):
                    out[kind] = rendered[kind]
    return out
