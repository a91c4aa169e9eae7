"""The session list of a period document as CSV: what an MSP reconciles the invoice against.

One row per session (CDR): its OCPI reference, times in UTC (ISO 8601 with Z), energy, the net
amount as priced for this document's stream, location, power type, category and whether it
arrived late (after its own period closed). UTF-8 without BOM, a header row, comma separated,
RFC 4180 quoting and CRLF line ends; numbers with a decimal point, never localised. Text cells
that a spreadsheet would run as a formula (leading ``=``, ``+``, ``-``, ``@``) are prefixed
with an apostrophe: the file goes to partners who open it in Excel.

The rows are written as the session list is iterated (``write_session_csv``): a period
document's list is streamed from the database, never held in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
from typing import BinaryIO

from engine.documents.model import BillingDocument
from engine.documents.text import utc_text
from engine.money import fmt, fmt_exact

COLUMNS = ("cdr_id", "session_id", "start_utc", "end_utc", "energy_kwh", "amount_net", "currency",
           "ocpi_reference", "location_id", "power_type", "category", "late")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def build_session_csv(doc: BillingDocument) -> bytes | None:
    """The CSV bytes, or None when the document lists no sessions."""
    if not doc.sessions:
        return None
    out = io.BytesIO()
    write_session_csv(doc, out)
    return out.getvalue()


def write_session_csv(doc: BillingDocument, sink: BinaryIO, *, chunk_rows: int = 5_000) -> tuple[int, str]:
    """Write the CSV of ``doc`` to ``sink`` as it goes - the session list is iterated once, so a
    stored one (``engine.streams.documents.StoredSessions``: read with a server-side cursor) is
    never held in memory - and return (bytes written, SHA-256 hex of them): the content hash the
    archive records for the file. Same bytes as ``build_session_csv``."""
    digest = hashlib.sha256()
    size = 0
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    currency = doc.currency
    pending = 0

    def flush() -> None:
        nonlocal size
        data = text.getvalue().encode("utf-8")
        text.seek(0)
        text.truncate()
        digest.update(data)
        sink.write(data)
        size += len(data)

    for s in doc.sessions:
        writer.writerow([_text(s.cdr_id), _text(s.session_id), utc_text(s.start), utc_text(s.end),
                         fmt_exact(s.energy_kwh), fmt(s.amount), currency, _text(s.ocpi_reference),
                         _text(s.location_id), _text(s.power_type), _text(s.category),
                         "true" if s.late else "false"])
        pending += 1
        if pending >= chunk_rows:
            flush()
            pending = 0
    flush()
    return size, digest.hexdigest()
