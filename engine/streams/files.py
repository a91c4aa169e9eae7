"""The document files (PDF, e-invoice XML, session-list CSV): rendered and archived when the
renderer (``engine.documents.render``) and the archive (``engine.documents.archive``) exist.

Both modules are optional to the streams: documents are issued without them, and their files
can be produced later (``document_files`` renders on demand). Discovery uses
``importlib.util.find_spec``, so a *missing* module means "not available", while an import
error inside an existing module is still an error that surfaces.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any, Callable

from sqlalchemy.orm import Session

from engine.documents.model import BillingDocument

log = logging.getLogger(__name__)

RENDER_MODULE = "engine.documents.render"
ARCHIVE_MODULE = "engine.documents.archive"
KINDS = ("pdf", "xml", "csv")
MIME_TYPES = {"pdf": ("application", "pdf"), "xml": ("application", "xml"), "csv": ("text", "csv")}


def _function(module: str, name: str) -> Callable[..., Any] | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    return getattr(importlib.import_module(module), name, None)


def renderer() -> Callable[[BillingDocument], dict[str, bytes]] | None:
    """``render_all(doc) -> {"pdf": bytes, "xml"?: bytes, "csv"?: bytes}``, or None."""
    return _function(RENDER_MODULE, "render_all")


def archiver() -> Callable[..., Any] | None:
    """``archive_document(session, document_id, files)``, or None."""
    return _function(ARCHIVE_MODULE, "archive_document")


def archive_reader() -> Callable[..., Any] | None:
    """``read_file(session, number, kind) -> bytes | None``, or None."""
    return _function(ARCHIVE_MODULE, "read_file")


def availability() -> dict[str, bool]:
    return {"render": renderer() is not None, "archive": archiver() is not None}


def render(doc: BillingDocument) -> dict[str, bytes]:
    """The document's files ({} when no renderer is installed)."""
    render_all = renderer()
    if render_all is None:
        return {}
    files = render_all(doc)
    return {kind: data for kind, data in (files or {}).items() if data}


def render_and_archive(session: Session, document_id: int, doc: BillingDocument) -> dict[str, bytes]:
    """Render ``doc`` and archive the files under its stored id; the files ({} without a renderer)."""
    files = render(doc)
    archive = archiver()
    if files and archive is not None:
        archive(session, document_id, files)
    return files


def document_files(session: Session, number: str, doc: BillingDocument | None = None,
                   kinds: tuple[str, ...] = KINDS) -> dict[str, bytes]:
    """The files of an issued document: from the archive (the originals) when it holds them,
    else rendered now from the issued document."""
    out: dict[str, bytes] = {}
    read = archive_reader()
    if read is not None:
        for kind in kinds:
            try:
                data = read(session, number, kind)
            except (KeyError, LookupError, FileNotFoundError):
                data = None
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
