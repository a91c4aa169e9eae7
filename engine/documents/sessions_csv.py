"""The session list of a period document as CSV: what an MSP reconciles the invoice against.

One row per session (CDR): its OCPI reference, times in UTC (ISO 8601 with Z), energy, the net
amount as priced for this document's stream, location, power type, category and whether it
arrived late (after its own period closed). UTF-8 without BOM, a header row, comma separated,
RFC 4180 quoting and CRLF line ends; numbers with a decimal point, never localised. Text cells
that a spreadsheet would run as a formula (leading ``=``, ``+``, ``-``, ``@``) are prefixed
with an apostrophe: the file goes to partners who open it in Excel.
"""

from __future__ import annotations

import csv
import io

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
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for s in doc.sessions:
        writer.writerow([_text(s.cdr_id), _text(s.session_id), utc_text(s.start), utc_text(s.end),
                         fmt_exact(s.energy_kwh), fmt(s.amount), doc.currency, _text(s.ocpi_reference),
                         _text(s.location_id), _text(s.power_type), _text(s.category),
                         "true" if s.late else "false"])
    return out.getvalue().encode("utf-8")
