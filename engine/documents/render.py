"""Render a BillingDocument: PDF, EN 16931 e-invoice XML, session-list CSV.

    render_pdf(doc)          -> bytes        always; a Factur-X PDF/A-3 (XML attached) when an
                                             e-invoice applies
    render_einvoice(doc)     -> bytes | None CII XML (Factur-X / ZUGFeRD EN 16931; XRechnung
                                             fields for domestic B2B); None for §33 small-amount
                                             invoices and consumers
    render_session_csv(doc)  -> bytes | None the session list; None without sessions
    render_all(doc)          -> {"pdf": ..., "xml": ..., "csv": ...}  (xml/csv only when present)

All of them are pure and deterministic: the same document gives the same bytes (no clock, no
random ids), which is what the write-once archive (``engine.documents.archive``) relies on when
it hashes them. The e-invoice is checked against the Factur-X EN 16931 XSD every time it is
rendered; an invalid one raises ``EInvoiceInvalid`` instead of leaving the house.
"""

from __future__ import annotations

from engine.documents.einvoice import EInvoiceInvalid, einvoice_applies, is_b2b, render_cii, xrechnung_applies
from engine.documents.model import BillingDocument
from engine.documents.pdf import build_pdf, embed_facturx
from engine.documents.sessions_csv import COLUMNS as SESSION_CSV_COLUMNS
from engine.documents.sessions_csv import build_session_csv
from engine.documents.text import Texts, language_for

__all__ = ["render_pdf", "render_einvoice", "render_session_csv", "render_all", "texts_for", "is_b2b",
           "einvoice_applies", "xrechnung_applies", "EInvoiceInvalid", "SESSION_CSV_COLUMNS", "MEDIA_TYPES"]

MEDIA_TYPES = {"pdf": "application/pdf", "xml": "application/xml", "csv": "text/csv"}


def texts_for(doc: BillingDocument) -> Texts:
    """German, or English for buyers outside DE/AT/CH/LI; ``doc.metadata["language"]`` wins."""
    return Texts(language_for(doc.buyer.country, doc.metadata.get("language")))


def render_einvoice(doc: BillingDocument) -> bytes | None:
    return render_cii(doc)


def render_session_csv(doc: BillingDocument) -> bytes | None:
    return build_session_csv(doc)


def _pdf(doc: BillingDocument, xml: bytes | None) -> bytes:
    texts = texts_for(doc)
    pdf = build_pdf(doc, texts, e_invoice=xml is not None)
    return embed_facturx(pdf, xml, doc, texts) if xml is not None else pdf


def render_pdf(doc: BillingDocument) -> bytes:
    return _pdf(doc, render_cii(doc))


def render_all(doc: BillingDocument) -> dict[str, bytes]:
    """Every file of ``doc`` keyed by kind ("pdf", and "xml"/"csv" when present); the XML is
    rendered once and is byte-identical to the one inside the PDF."""
    xml = render_cii(doc)
    files = {"pdf": _pdf(doc, xml)}
    if xml is not None:
        files["xml"] = xml
    csv = build_session_csv(doc)
    if csv is not None:
        files["csv"] = csv
    return files
