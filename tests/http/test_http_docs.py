"""GET /documents/<number>.pdf: serves what engine.documents.archive.read_file returns."""

from __future__ import annotations

import pytest

import engine.http.docs as docs

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def fake_archive(monkeypatch):
    """A stand-in for the archive's read_file holding one document."""
    calls = []

    def read_file(session, number, kind):
        calls.append((number, kind))
        if number == "AH-2026-000001":
            return PDF
        return None

    monkeypatch.setattr(docs, "read_file", read_file)
    return calls


def test_an_archived_pdf_is_served(client, auth, fake_archive):
    response = client.get("/documents/AH-2026-000001.pdf", headers=auth)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data == PDF
    assert response.headers["Content-Disposition"] == 'inline; filename="AH-2026-000001.pdf"'
    assert fake_archive == [("AH-2026-000001", "pdf")]


def test_an_unknown_document_is_404(client, auth, fake_archive):
    response = client.get("/documents/AH-2026-999999.pdf", headers=auth)
    assert response.status_code == 404
    assert response.get_json()["status_message"] == "no archived PDF for document AH-2026-999999"


def test_documents_need_a_token_and_a_sane_number(client, auth, fake_archive):
    assert client.get("/documents/AH-2026-000001.pdf").status_code == 401
    assert client.get("/documents/..%2Fetc.pdf", headers=auth).status_code in (400, 404)
    assert client.get("/documents/-x.pdf", headers=auth).status_code == 400


def test_a_file_failing_the_integrity_check_is_not_served(client, auth, monkeypatch):
    def read_file(session, number, kind):
        raise docs.ArchiveIntegrityError(f"{number}: archived pdf file does not match its recorded SHA-256")

    monkeypatch.setattr(docs, "read_file", read_file)
    response = client.get("/documents/AH-2026-000001.pdf", headers={**auth, "X-Request-ID": "doc-1"})
    assert response.status_code == 500
    assert response.get_json()["status_code"] == 3000
    assert "integrity check" in response.get_json()["status_message"] and "doc-1" in response.get_json()["status_message"]


def test_the_real_archive(app, client, auth):
    from datetime import datetime, timezone
    from decimal import Decimal

    from engine.documents.archive import archive_document
    from engine.http.runtime import EXTENSION
    from engine.store.models import BillingDocument

    now = datetime(2026, 10, 3, 8, 0, tzinfo=timezone.utc)
    with app.extensions[EXTENSION].session_factory() as s:
        doc = BillingDocument(number="AH-2026-000042", stream="adhoc", doc_type="receipt", status="issued",
                              currency="EUR", net_amount=Decimal("10.00"), vat_amount=Decimal("1.90"),
                              gross_amount=Decimal("11.90"), created_at=now, issued_at=now)
        s.add(doc)
        s.flush()
        archive_document(s, doc.id, {"pdf": PDF}, now=now)
        s.commit()
    response = client.get("/documents/AH-2026-000042.pdf", headers=auth)
    assert response.status_code == 200 and response.data == PDF
    unknown = client.get("/documents/NO-SUCH-DOCUMENT-1.pdf", headers=auth)
    assert unknown.status_code == 404 and unknown.is_json
