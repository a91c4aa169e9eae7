"""``GET /documents/<number>.pdf``: an issued billing document's archived PDF.

The archive (write-once, hash-chained) is ``engine.documents.archive``; this endpoint only serves
what ``read_file(session, number, "pdf")`` returns (bytes, a binary file object or a path). Until
that module exists every document answers 404 with a message saying so. A file that fails the
archive's integrity check (``ArchiveIntegrityError``) is never served: 500, logged.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, g

from engine.http.ocpi import CLIENT_ERROR, INVALID_PARAMETERS, SERVER_ERROR, error_response
from engine.http.runtime import runtime

log = logging.getLogger("cdrflow.http")

bp = Blueprint("documents", __name__)


class _Never(Exception):
    """Stands in for an exception class the archive module does not define."""

ARCHIVE_MODULE = "engine.documents.archive"
NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def archive_module() -> Any | None:
    """``engine.documents.archive``, or None while that module does not exist (an ImportError
    from *inside* the archive module is a real error and propagates)."""
    try:
        return importlib.import_module(ARCHIVE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name in (ARCHIVE_MODULE, "engine.documents"):
            return None
        raise


def _bytes(content: Any) -> bytes | None:
    if content is None:
        return None
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content)
    if hasattr(content, "read"):
        try:
            return content.read()
        finally:
            close = getattr(content, "close", None)
            if close:
                close()
    if isinstance(content, (str, os.PathLike)):
        path = Path(content)
        return path.read_bytes() if path.is_file() else None
    raise TypeError(f"{ARCHIVE_MODULE}.read_file returned {type(content).__name__}, not bytes")


@bp.get("/documents/<number>.pdf")
def document_pdf(number: str) -> Response:
    if not NUMBER.fullmatch(number):
        return error_response(400, f"{number!r} is not a document number", INVALID_PARAMETERS)
    module = archive_module()
    read_file = getattr(module, "read_file", None) if module is not None else None
    if read_file is None:
        return error_response(404, f"document {number}: the document archive is not available in this "
                                   "installation yet", CLIENT_ERROR)
    integrity_error = getattr(module, "ArchiveIntegrityError", None) or _Never
    with runtime().session_factory() as session:
        try:
            content = _bytes(read_file(session, number, "pdf"))
        except (LookupError, FileNotFoundError):
            content = None
        except integrity_error as exc:
            log.error("document %s: %s (request_id=%s)", number, exc, g.get("request_id"))
            return error_response(500, f"the archived PDF of document {number} failed its integrity check and is "
                                       f"not served; the error is logged (request id {g.get('request_id')})",
                                  SERVER_ERROR)
        finally:
            session.rollback()
    if content is None:
        return error_response(404, f"no archived PDF for document {number}", CLIENT_ERROR)
    return Response(content, status=200, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{number}.pdf"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    })
