"""The session list CSV of period documents."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from doc_helpers import adhoc_small_receipt, msp_reverse_charge_invoice, sessions
from engine.documents.model import SessionRef
from engine.documents.render import SESSION_CSV_COLUMNS, render_session_csv


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_header_and_one_row_per_session_with_every_reference():
    doc = msp_reverse_charge_invoice(sessions=sessions(5, late_every=2))
    data = render_session_csv(doc)
    assert data.split(b"\r\n")[0].decode() == ",".join(SESSION_CSV_COLUMNS)
    assert SESSION_CSV_COLUMNS == ("cdr_id", "session_id", "start_utc", "end_utc", "energy_kwh", "amount_net",
                                   "currency", "ocpi_reference", "location_id", "power_type", "category", "late")
    parsed = rows(data)
    assert len(parsed) == 5
    first = parsed[0]
    assert first == {"cdr_id": "CDR-00001", "session_id": "S-00001", "start_utc": "2026-10-01T08:00:00Z",
                     "end_utc": "2026-10-01T08:45:00Z", "energy_kwh": "21.345", "amount_net": "6.83",
                     "currency": "EUR", "ocpi_reference": "DE*VLT*CDR-00001", "location_id": "LOC-1",
                     "power_type": "AC", "category": "highway", "late": "false"}
    assert [r["late"] for r in parsed] == ["false", "true", "false", "true", "false"]
    assert sum(Decimal(r["amount_net"]) for r in parsed) == sum(s.amount for s in doc.sessions)


def test_times_are_utc_whatever_zone_they_came_in():
    cet = timezone(timedelta(hours=1))
    session = SessionRef("X1", None, datetime(2026, 10, 1, 9, 0, tzinfo=cet), datetime(2026, 10, 1, 10, 30, tzinfo=cet),
                         Decimal("7.5"), Decimal("-2.93"), "DE*VLT*X1", late=True)
    row = rows(render_session_csv(msp_reverse_charge_invoice(sessions=(session,))))[0]
    assert (row["start_utc"], row["end_utc"]) == ("2026-10-01T08:00:00Z", "2026-10-01T09:30:00Z")
    assert row["session_id"] == "" and row["location_id"] == "" and row["amount_net"] == "-2.93"


def test_utf8_quoting_and_no_spreadsheet_formulas():
    session = replace(sessions(1)[0], cdr_id="=HYPERLINK(\"x\")", location_id="Köln, Hbf \"Süd\"")
    data = render_session_csv(msp_reverse_charge_invoice(sessions=(session,)))
    row = rows(data)[0]
    assert row["cdr_id"] == "'=HYPERLINK(\"x\")"
    assert row["location_id"] == "Köln, Hbf \"Süd\""
    assert not data.startswith(b"\xef\xbb\xbf")


def test_no_sessions_no_csv():
    assert render_session_csv(adhoc_small_receipt()) is None


def test_deterministic():
    doc = msp_reverse_charge_invoice(sessions=sessions(50))
    assert render_session_csv(doc) == render_session_csv(doc)
