"""``GET /documents/<number>.pdf``: an issued billing document's archived PDF.

Served from the archive (write-once, hash-chained: ``engine.documents.archive``) only, so the app
gets exactly the bytes that were issued, never a re-rendering. A file that fails the archive's
integrity check (``ArchiveIntegrityError``) is never served: 500, logged.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, g

from engine.documents.archive import ArchiveIntegrityError, read_file
from engine.http.ocpi import CLIENT_ERROR, INVALID_PARAMETERS, SERVER_ERROR, error_response
from engine.http.runtime import runtime

log = logging.getLogger("cdrflow.http")

bp = Blueprint("documents", __name__)
NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@bp.get("/documents/<number>.pdf")
def document_pdf(number: str) -> Response:
    if not NUMBER.fullmatch(number):
        return error_response(400, f"{number!r} is not a document number", INVALID_PARAMETERS)
    with runtime().session_factory() as session:
        try:
            content = read_file(session, number, "pdf")
        except ArchiveIntegrityError as exc:
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
