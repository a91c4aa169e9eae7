"""The PDF: what a reader sees (text extracted with pypdf), Factur-X attachment, fonts, determinism."""

from __future__ import annotations

import re
from dataclasses import replace
from io import BytesIO

import pytest
from pypdf import PdfReader

from doc_helpers import (
    adhoc_small_receipt, msp_credit_note, msp_domestic_invoice, msp_reverse_charge_invoice, sessions,
    subscription_consumption_invoice,
)
from engine.documents.render import render_all, render_einvoice, render_pdf


def read(pdf: bytes) -> PdfReader:
    return PdfReader(BytesIO(pdf))


def text_of(pdf: bytes) -> str:
    """All pages' text, whitespace collapsed (table cells come out in reading order)."""
    return " ".join(" ".join(page.extract_text().split()) for page in read(pdf).pages)


@pytest.fixture(scope="module")
def rc_pdf() -> bytes:
    return render_pdf(msp_reverse_charge_invoice())


def test_reverse_charge_invoice_shows_the_full_invoice_content(rc_pdf):
    text = text_of(rc_pdf)
    for expected in [
        "Voltaro Charging GmbH", "Chausseestraße 86", "10115 Berlin", "DE811907980", "37/123/45678",   # seller
        "Mobilix GmbH", "Hafenstraße 12", "20457 Hamburg",                                            # buyer
        "Rechnung", "MSP-2026-000001", "03.11.2026", "01.10.2026 – 31.10.2026",                       # number, dates
        "AC urban", "412,5 kWh", "0,39", "160,88", "DC highway", "233,125 kWh", "137,54",              # lines
        "3 Ladevorgänge", "Volume discount: 5 %", "-15,00",
        "Summe netto", "284,92 EUR", "USt 0 % (Reverse Charge) auf 284,92 EUR", "0,00 EUR", "Gesamtbetrag",
        "Steuerschuldnerschaft des Leistungsempfängers (§ 13b UStG).",                                # tax note
        "USt-IdNr. des Leistungsempfängers: DE136695976",                                             # buyer VAT id
        "bis zum 03.12.2026", "IBAN DE02 1203 0000 0000 2020 51", "Verwendungszweck MSP-2026-000001", # payment
        "Seite 1 von 2", "Seite 2 von 2",
    ]:
        assert expected in text, expected
    assert "Kleinbetragsrechnung" not in text


def test_msp_invoice_has_the_session_list_as_appendix(rc_pdf):
    reader = read(rc_pdf)
    appendix = " ".join(reader.pages[-1].extract_text().split())
    assert "Anlage: Liste der Ladevorgänge" in appendix
    assert "zu Rechnung MSP-2026-000001 · 3 Ladevorgänge" in appendix
    for ref in ("DE*VLT*CDR-00001", "DE*VLT*CDR-00002", "DE*VLT*CDR-00003"):
        assert ref in appendix
    assert "2026-10-01 08:00" in appendix and "67,035" in appendix


def test_long_session_lists_run_over_pages_with_the_header_repeated():
    doc = msp_reverse_charge_invoice(sessions=sessions(260, late_every=50))
    reader = read(render_pdf(doc))
    assert len(reader.pages) >= 4
    last = " ".join(reader.pages[-1].extract_text().split())
    assert "DE*VLT*CDR-00260" in last and "CDR (OCPI-Referenz)" in last
    assert f"Seite {len(reader.pages)} von {len(reader.pages)}" in last
    assert "Rechnung MSP-2026-000001" in last            # running head on follow-on pages


def test_a_huge_session_list_is_cut_in_the_pdf_but_totalled_over_all(monkeypatch):
    import engine.documents.pdf as pdf

    monkeypatch.setattr(pdf, "MAX_APPENDIX_ROWS", 40)
    many = sessions(45)
    doc = msp_reverse_charge_invoice(sessions=many)
    text = text_of(render_pdf(doc))
    assert "DE*VLT*CDR-00040" in text and "DE*VLT*CDR-00041" not in text
    assert "Aufgeführt sind die ersten 40 von 45 Ladevorgängen" in text
    assert "zu Rechnung MSP-2026-000001 · 45 Ladevorgänge" in text
    total_kwh = sum(s.energy_kwh for s in many)   # 1,950.525 kWh: the total row covers all 45
    assert str(total_kwh) == "1950.525" and "1.950,525" in text
    # the session-list CSV still carries every session
    csv = render_all(doc)["csv"].decode("utf-8")
    assert "CDR-00045" in csv


def test_b2b_pdf_is_a_facturx_pdf_carrying_the_same_xml(rc_pdf):
    reader = read(rc_pdf)
    attachments = reader.attachments
    assert list(attachments) == ["factur-x.xml"]
    assert attachments["factur-x.xml"][0] == render_einvoice(msp_reverse_charge_invoice())
    root = reader.trailer["/Root"]
    assert "/OutputIntents" in root and "/AF" in root and "/Metadata" in root
    xmp = root["/Metadata"].get_object().get_data()
    assert b"urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#" in xmp
    assert b"<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp


def test_only_embedded_fonts_are_used(rc_pdf):
    reader = read(rc_pdf)
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            fonts.add(font["/BaseFont"])
            assert "/FontDescriptor" in font and "/FontFile2" in font["/FontDescriptor"], font["/BaseFont"]
    assert fonts and all("Vera" in f for f in fonts)


def test_pdf_is_deterministic_and_dated_by_the_issue_date(rc_pdf):
    again = render_pdf(msp_reverse_charge_invoice())
    assert again == rc_pdf
    info = read(rc_pdf).metadata
    assert info["/CreationDate"].startswith("D:20261103000000")
    assert info["/ModDate"].startswith("D:20261103000000")
    xmp = read(rc_pdf).trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    stamps = set(re.findall(r"<xmp:\w+Date>([^<]+)</xmp:\w+Date>", xmp))
    assert stamps == {"2026-11-03T00:00:00+00:00"}
    assert "2026-11-03" in info["/Subject"]


def test_a_different_document_renders_different_bytes(rc_pdf):
    assert render_pdf(msp_reverse_charge_invoice(number="MSP-2026-000009")) != rc_pdf


def test_small_amount_receipt_is_titled_as_such_and_shows_gross_and_rate():
    pdf = render_pdf(adhoc_small_receipt())
    text = text_of(pdf)
    assert "Rechnung (Kleinbetragsrechnung §33 UStDV)" in text
    assert "AH-2026-000042" in text and "14.10.2026" in text
    assert "USt 19 % auf 9,87 EUR 1,88 EUR" in text
    assert "Gesamtbetrag 11,75 EUR" in text
    assert "bereits bezahlt (Zahlungsreferenz pi_3Q0xYz2026)" in text
    assert read(pdf).attachments == {}                    # no e-invoice for §33 / B2C
    assert len(read(pdf).pages) == 1


def test_credit_note_is_a_rechnungskorrektur_referencing_the_invoice():
    text = text_of(render_pdf(msp_credit_note()))
    assert "Rechnungskorrektur" in text
    assert "zu Rechnung Nr. MSP-2026-000001 vom 03.11.2026" in text
    assert "Gutschrift" not in text                       # that word means self-billing
    assert "-8,00 EUR" in text and "-0,00" not in text
    assert "Korrektur: CDR-00003 wurde doppelt abgerechnet." in text
    assert "wird mit offenen Forderungen verrechnet oder erstattet" in text


def test_foreign_buyer_gets_english_labels():
    text = text_of(render_pdf(msp_domestic_invoice()))
    for expected in ["Invoice", "Invoice number", "MSP-2026-000002", "2026-11-03", "Laadnet B.V.", "NETHERLANDS",
                     "VAT 19 % on 94.01 EUR", "17.86 EUR", "Total amount", "111.87 EUR", "by 2026-11-17",
                     "Page 1 of 2"]:
        assert expected in text, expected


def test_gross_priced_consumer_invoice_shows_gross_lines_and_the_tax_breakdown():
    pdf = render_pdf(subscription_consumption_invoice())
    text = text_of(pdf)
    assert "Betrag brutto" in text and "70,40" in text and "56,05" in text
    assert "Summe netto 106,26 EUR" in text
    assert "USt 19 % auf 106,26 EUR 20,19 EUR" in text
    assert "Gesamtbetrag 126,45 EUR" in text
    assert read(pdf).attachments == {}


def test_text_from_the_data_is_not_markup():
    doc = msp_domestic_invoice(notes=("Net <b>30</b> & more",))
    assert "Net <b>30</b> & more" in text_of(render_pdf(doc))


def test_render_all_returns_pdf_xml_and_csv_when_present():
    files = render_all(msp_reverse_charge_invoice())
    assert set(files) == {"pdf", "xml", "csv"}
    assert read(files["pdf"]).attachments["factur-x.xml"][0] == files["xml"]
    assert set(render_all(adhoc_small_receipt())) == {"pdf"}
    assert set(render_all(subscription_consumption_invoice())) == {"pdf", "csv"}
    assert set(render_all(replace(msp_domestic_invoice(), sessions=()))) == {"pdf", "xml"}
    assert render_all(msp_credit_note()) == render_all(msp_credit_note())


def test_same_bytes_in_a_fresh_process_with_another_hash_seed():
    """Nothing process-dependent (hash seed, font caches warmed by earlier documents) leaks in."""
    import hashlib
    import os
    import subprocess
    import sys
    from pathlib import Path

    render_pdf(subscription_consumption_invoice())           # warm this process's caches first
    here = Path(__file__).resolve().parent
    code = ("import hashlib, sys; from doc_helpers import msp_reverse_charge_invoice as f; "
            "from engine.documents.render import render_all; "
            "sys.stdout.write(' '.join(k + ':' + hashlib.sha256(v).hexdigest() for k, v in sorted(render_all(f()).items())))")
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=os.pathsep.join([str(here), str(here.parents[1])]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    mine = " ".join(k + ":" + hashlib.sha256(v).hexdigest()
                    for k, v in sorted(render_all(msp_reverse_charge_invoice()).items()))
    assert out.stdout == mine
