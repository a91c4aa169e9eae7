"""The PDF of a billing document (reportlab), optionally a Factur-X PDF/A-3 with its XML.

Layout (A4, DIN 5008-like): letterhead with the seller, the buyer's address window with the
seller's return line, an info box (number, dates, supply period, customer number, the buyer's
VAT id and reference), the title by type and form, the line table, the totals with the VAT per
rate, the notes (reverse-charge / exemption wording with the buyer's VAT id), the payment and,
for documents with sessions, the session list as an appendix. Every page carries the seller's
legal footer and "page x of y".

Deterministic: the same document renders the same bytes (the archive hashes them). reportlab
runs in invariant mode (no clock, ID from the content) with the creation date set to the issue
date; fonts are the Bitstream Vera TrueType fonts shipped with reportlab, embedded (PDF/A needs
embedded fonts; the standard 14 fonts are not). The Factur-X step (factur-x + pypdf) stamps
"now" into the PDF and XMP metadata; it is run with those timestamps pinned to the issue date.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import date, datetime, time, timezone
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from typing import Any, Iterator
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    BaseDocTemplate, Frame, KeepTogether, LongTable, PageBreak, PageTemplate, Paragraph, Spacer, Table, TableStyle,
)

from engine.documents.model import CREDIT_NOTE, SMALL_AMOUNT, BillingDocument, Party
from engine.documents.text import Texts, country_name, utc_short

FONT, FONT_BOLD = "Vera", "Vera-Bold"
INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
ACCENT = colors.HexColor("#0b5394")
RULE = colors.HexColor("#c5cdd6")
SHADE = colors.HexColor("#eef2f6")

PAGE_W, PAGE_H = A4
LEFT, RIGHT, TOP, BOTTOM = 20 * mm, 18 * mm, 16 * mm, 30 * mm
CONTENT_W = PAGE_W - LEFT - RIGHT


@lru_cache(maxsize=1)
def _register_fonts() -> None:
    """Vera and Vera-Bold, shipped inside reportlab (no system fonts needed)."""
    pdfmetrics.registerFont(TTFont(FONT, "Vera.ttf"))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, "VeraBd.ttf"))
    from reportlab.lib.fonts import addMapping

    addMapping(FONT, 0, 0, FONT)
    addMapping(FONT, 1, 0, FONT_BOLD)
    addMapping(FONT, 0, 1, FONT)
    addMapping(FONT, 1, 1, FONT_BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=12, textColor=INK)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED),
        "tiny": ParagraphStyle("tiny", parent=base, fontSize=6.5, leading=8, textColor=MUTED),
        "seller": ParagraphStyle("seller", parent=base, fontName=FONT_BOLD, fontSize=15, leading=18,
                                 textColor=ACCENT),
        "letterhead": ParagraphStyle("letterhead", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED,
                                     alignment=TA_RIGHT),
        "address": ParagraphStyle("address", parent=base, fontSize=10, leading=13),
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=16, leading=20, spaceAfter=1 * mm),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10, leading=13, textColor=MUTED),
        "heading": ParagraphStyle("heading", parent=base, fontName=FONT_BOLD, fontSize=9.5, leading=13,
                                  spaceBefore=4 * mm, spaceAfter=1 * mm),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=10.5),
        "cell_right": ParagraphStyle("cell_right", parent=base, fontSize=8.5, leading=10.5, alignment=TA_RIGHT),
        "session": ParagraphStyle("session", parent=base, fontSize=6.5, leading=8, alignment=TA_LEFT),
        "appendix": ParagraphStyle("appendix", parent=base, fontName=FONT_BOLD, fontSize=12.5, leading=16,
                                   spaceAfter=1 * mm),
    }


def _table(rows: list[list[Any]], widths: list[float], style: list[tuple[Any, ...]], *, long: bool = False,
           **kwargs: Any) -> Table:
    """A table whose every cell names the embedded font (reportlab sets the cell font even for
    Paragraph cells, and its default would pull in a non-embedded Helvetica)."""
    table = (LongTable if long else Table)(rows, colWidths=widths, **kwargs)
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), FONT, 8.5), *style]))
    return table


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _pdf_date(doc: BillingDocument) -> datetime:
    """The one instant written into the PDF: the issue date, 00:00 UTC."""
    return datetime.combine(doc.issue_date, time(0, 0), tzinfo=timezone.utc)


# --------------------------------------------------------------------------- page furniture


def _address_lines(party: Party) -> list[str]:
    lines = []
    if party.street:
        lines.append(party.street)
    city = " ".join(x for x in (party.postal_code, party.city) if x)
    if city:
        lines.append(city)
    return lines


def _canvas_class(doc: BillingDocument, texts: Texts) -> type[rl_canvas.Canvas]:
    """A canvas that knows the page count (for "page x of y"), draws the legal footer and pins
    the PDF's creation date to the issue date."""
    stamp = _pdf_date(doc).strftime("D:%Y%m%d%H%M%S+00'00'")
    seller = doc.seller
    footer_columns = [
        [seller.name, *_address_lines(seller)],
        [x for x in (f"{texts['vat_id']} {seller.vat_id}" if seller.vat_id else "",
                     f"{texts['tax_number']} {seller.tax_number}" if seller.tax_number else "") if x],
        [x for x in (f"{texts['email']} {seller.email}" if seller.email else "",
                     f"{texts['iban']} {doc.payment.iban}" if doc.payment.iban else "") if x],
    ]
    running_head = f"{_title(doc, texts)} {doc.number}"

    class DocumentCanvas(rl_canvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.setDateFormatter(lambda *_: stamp)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._furniture(total)
                super().showPage()
            super().save()

        def _furniture(self, total: int) -> None:
            page = self._pageNumber
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            self.line(LEFT, BOTTOM - 8 * mm, PAGE_W - RIGHT, BOTTOM - 8 * mm)
            self.setFillColor(MUTED)
            self.setFont(FONT, 6.8)
            width = CONTENT_W / 3
            for col, lines in enumerate(footer_columns):
                y = BOTTOM - 12 * mm
                for text in lines:
                    self.drawString(LEFT + col * width, y, text)
                    y -= 3.2 * mm
            self.drawRightString(PAGE_W - RIGHT, 10 * mm, texts.label("page", page=page, pages=total))
            if page > 1:
                self.drawString(LEFT, PAGE_H - 10 * mm, f"{seller.name} · {running_head}")
                self.line(LEFT, PAGE_H - 11.5 * mm, PAGE_W - RIGHT, PAGE_H - 11.5 * mm)
            self.restoreState()

    return DocumentCanvas


# --------------------------------------------------------------------------- content


def _title(doc: BillingDocument, texts: Texts) -> str:
    if doc.doc_type == CREDIT_NOTE:
        return texts["title_credit_note"]
    if doc.form == SMALL_AMOUNT:
        return texts["title_small_amount"]
    return texts["title_invoice"]


def _letterhead(doc: BillingDocument, st: dict[str, ParagraphStyle]) -> Table:
    seller = doc.seller
    right = "<br/>".join(escape(x) for x in [*_address_lines(seller), *( [seller.email] if seller.email else [])])
    return _table([[_p(seller.name, st["seller"]), Paragraph(right, st["letterhead"])]],
                  [CONTENT_W * 0.6, CONTENT_W * 0.4],
                  [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                   ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT),
                   ("BOTTOMPADDING", (0, 0), (-1, -1), 3 * mm)])


def _buyer_vat_id(doc: BillingDocument) -> str | None:
    return doc.buyer.vat_id or (doc.price.tax.buyer_vat_id if doc.price.tax else None)


def _address_block(doc: BillingDocument, texts: Texts, st: dict[str, ParagraphStyle]) -> Table:
    seller, buyer = doc.seller, doc.buyer
    return_line = " · ".join([seller.name, *_address_lines(seller)])
    lines = [f"<b>{escape(buyer.name)}</b>", *(escape(x) for x in _address_lines(buyer))]
    if buyer.country and seller.country and buyer.country.upper() != seller.country.upper():
        lines.append(escape(country_name(buyer.country)))
    left = [Paragraph(f"<u>{escape(return_line)}</u>", st["tiny"]), Spacer(1, 2 * mm),
            Paragraph("<br/>".join(lines), st["address"])]

    info: list[tuple[str, str]] = [(texts["number"], doc.number), (texts["issue_date"], texts.date(doc.issue_date))]
    period_label = texts["supply_date"] if doc.period_start == doc.period_end else texts["supply_period"]
    info.append((period_label, texts.period(doc.period_start, doc.period_end)))
    if buyer.id:
        info.append((texts["customer_no"], buyer.id))
    if _buyer_vat_id(doc) and doc.form != SMALL_AMOUNT:
        info.append((texts["buyer_vat_id"], _buyer_vat_id(doc) or ""))
    if buyer.buyer_reference:
        info.append((texts["buyer_reference"], buyer.buyer_reference))
    box = _table([[_p(k, st["small"]), _p(v, st["cell_right"])] for k, v in info], [30 * mm, 46 * mm],
                 [("LEFTPADDING", (0, 0), (-1, -1), 2 * mm), ("RIGHTPADDING", (0, 0), (-1, -1), 2 * mm),
                  ("TOPPADDING", (0, 0), (-1, -1), 1.2), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2),
                  ("TOPPADDING", (0, 0), (-1, 0), 2 * mm), ("BOTTOMPADDING", (0, -1), (-1, -1), 2 * mm),
                  ("BACKGROUND", (0, 0), (-1, -1), SHADE), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])
    return _table([[left, box]], [CONTENT_W - 76 * mm, 76 * mm],
                  [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                   ("RIGHTPADDING", (0, 0), (-1, -1), 0)])


def _title_block(doc: BillingDocument, texts: Texts, st: dict[str, ParagraphStyle]) -> list[Any]:
    out: list[Any] = [_p(_title(doc, texts), st["title"])]
    if doc.doc_type == CREDIT_NOTE and doc.preceding_number:
        text = texts.label("corrects", number=doc.preceding_number)
        preceding_date = doc.metadata.get("preceding_issue_date")
        if preceding_date:
            value = preceding_date if isinstance(preceding_date, date) else date.fromisoformat(str(preceding_date))
            text += (" vom " if texts.lang == "de" else " of ") + texts.date(value)
        out.append(_p(text, st["subtitle"]))
    return out


def _line_table(doc: BillingDocument, texts: Texts, st: dict[str, ParagraphStyle]) -> Table:
    gross = doc.price.prices_include_vat
    cur = doc.currency
    head = [texts["pos"], texts["description"], texts["quantity"],
            f'{texts["unit_price_gross"] if gross else texts["unit_price"]} ({cur})', texts["vat"],
            f'{texts["amount_gross"] if gross else texts["net"]} ({cur})']
    rows: list[list[Any]] = [[_p(h, st["cell"]) if i < 2 else _p(h, st["cell_right"]) for i, h in enumerate(head)]]
    for n, line in enumerate(doc.price.lines, start=1):
        unit_price = line.unit_price_gross if gross else line.unit_price
        amount = line.gross if gross and line.gross is not None else line.net
        rows.append([
            str(n), _p(line.description or line.product, st["cell"]),
            _p(f"{texts.quantity(line.quantity)} {texts.unit(line.unit, line.quantity)}", st["cell_right"]),
            _p(texts.unit_price(unit_price), st["cell_right"]),
            _p(texts.rate(line.tax_rate), st["cell_right"]),
            _p(texts.amount(amount), st["cell_right"]),
        ])
    widths = [10 * mm, 0, 30 * mm, 28 * mm, 14 * mm, 26 * mm]
    widths[1] = CONTENT_W - sum(widths)
    return _table(rows, widths, [
        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, INK),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ], repeatRows=1)


def _totals(doc: BillingDocument, texts: Texts, st: dict[str, ParagraphStyle]) -> Table:
    cur = doc.currency
    totals = doc.price.totals
    rows: list[list[Any]] = [[_p(texts["total_net"], st["cell"]), _p(texts.amount(totals.excl_vat, cur), st["cell_right"])]]
    for group in totals.groups:
        label = f"{texts['vat']} {texts.rate(group.rate)}"
        if group.tax_class != "S":
            label += f" ({texts.tax_category_short(group.tax_class)})"
        label += (" auf " if texts.lang == "de" else " on ") + texts.amount(group.taxable, cur)
        rows.append([_p(label, st["cell"]), _p(texts.amount(group.vat, cur), st["cell_right"])])
    bold_left = ParagraphStyle("tl", parent=st["cell"], fontName=FONT_BOLD, fontSize=10, leading=13)
    bold_right = ParagraphStyle("tr", parent=st["cell_right"], fontName=FONT_BOLD, fontSize=10, leading=13)
    rows.append([_p(texts["total_gross"], bold_left), _p(texts.amount(totals.incl_vat, cur), bold_right)])
    return _table(rows, [74 * mm, 34 * mm], [
        ("LINEABOVE", (0, -1), (-1, -1), 0.8, INK),
        ("LINEBELOW", (0, -1), (-1, -1), 0.8, INK),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, -1), (-1, -1), 4), ("BOTTOMPADDING", (0, -1), (-1, -1), 4),
    ], hAlign="RIGHT")


def tax_notes(doc: BillingDocument, texts: Texts) -> list[str]:
    """The legal wording per VAT group (BT-120) and, where the buyer owes the tax, its VAT id."""
    notes: list[str] = []
    for group in doc.price.totals.groups:
        note = group.note or (doc.price.tax.note if doc.price.tax and doc.price.tax.treatment == group.treatment
                              else None)
        if note and note not in notes:
            notes.append(note)
    reverse = any(g.tax_class in ("AE", "K") for g in doc.price.totals.groups)
    vat_id = _buyer_vat_id(doc)
    if reverse and vat_id:
        notes.append(texts.label("buyer_vat_id_note", vat_id=vat_id))
    return notes


def payment_text(doc: BillingDocument, texts: Texts) -> list[str]:
    from engine.documents.einvoice import due_date, prepaid_amount

    cur = doc.currency
    gross = doc.gross
    pay = doc.payment
    if gross == 0:
        return []
    if doc.doc_type == CREDIT_NOTE or gross < 0:
        return [texts.label("credit_settlement", amount=texts.amount(abs(gross), cur))]
    if pay.psp_reference:
        return [texts.label("paid_psp", amount=texts.amount(prepaid_amount(doc), cur), reference=pay.psp_reference)]
    out = []
    due = due_date(doc)
    if due is not None:
        out.append(texts.label("pay_by", amount=texts.amount(gross, cur), due=texts.date(due)))
    elif pay.terms_days is not None:
        out.append(texts.label("pay_terms", days=pay.terms_days))
    if pay.iban:
        out.append(texts.label("pay_transfer", iban=pay.iban, number=doc.number))
    return out


# Rows of the PDF's session appendix. An MSP invoice of a busy month has hundreds of thousands of
# sessions: as PDF rows that is thousands of pages nobody reads and minutes of rendering. The
# session-list CSV, delivered with every document that has sessions, always holds all of them.
MAX_APPENDIX_ROWS = 1_000


def _session_appendix(doc: BillingDocument, texts: Texts, st: dict[str, ParagraphStyle]) -> list[Any]:
    sessions = doc.sessions
    kind = texts["kind_credit_note"] if doc.doc_type == CREDIT_NOTE else texts["kind_invoice"]
    total_kwh = total_amount = Decimal(0)
    count = 0
    listed = []
    for s in sessions:               # one pass: a stored list is streamed from the database
        total_kwh += s.energy_kwh
        total_amount += s.amount
        count += 1
        if count <= MAX_APPENDIX_ROWS:
            listed.append(s)
    head = ["#", texts["col_ocpi"], texts["col_start"], texts["col_end"], texts["col_kwh"],
            f"{texts['col_amount']} ({doc.currency})", texts["col_location"], texts["col_power"],
            texts["col_category"], texts["col_late"]]
    widths = [8 * mm, 32 * mm, 24 * mm, 24 * mm, 14 * mm, 17 * mm, 16 * mm, 8 * mm, 14 * mm, 0]
    widths[-1] = CONTENT_W - sum(widths)
    size = 6.5
    ref_width = widths[1] - 4
    rows: list[list[Any]] = [head]
    for n, s in enumerate(listed, start=1):
        ref: Any = s.ocpi_reference
        if pdfmetrics.stringWidth(ref, FONT, size) > ref_width:
            ref = _p(ref, st["session"])       # wrap the rare long reference, never cut it
        rows.append([str(n), ref, utc_short(s.start), utc_short(s.end), texts.quantity(s.energy_kwh),
                     texts.amount(s.amount), s.location_id or "", s.power_type or "", s.category or "",
                     texts["late_mark"] if s.late else ""])
    rows.append(["", "", "", "", texts.quantity(total_kwh), texts.amount(total_amount), "", "", "", ""])
    table = _table(rows, widths, [
        ("FONT", (0, 0), (-1, -1), FONT, size),
        ("FONT", (0, 0), (-1, 0), FONT_BOLD, size),
        ("FONT", (0, -1), (-1, -1), FONT_BOLD, size),
        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, INK),
        ("LINEABOVE", (0, -1), (-1, -1), 0.5, INK),
        ("ALIGN", (4, 0), (5, -1), "RIGHT"),
        ("LEFTPADDING", (6, 0), (6, -1), 8), ("RIGHTPADDING", (3, 0), (3, -1), 6),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.2), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2),
        ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("ROWBACKGROUNDS", (0, 1), (-1, -2), [colors.white, colors.HexColor("#f7f9fb")]),
    ], long=True, repeatRows=1)
    summary = texts.label("appendix_summary", kind=kind, number=doc.number, count=count,
                          kwh=texts.quantity(total_kwh), amount=texts.amount(total_amount, doc.currency))
    head_block = [PageBreak(), _p(texts["appendix_title"], st["appendix"]), _p(summary, st["subtitle"])]
    if count > len(listed):
        head_block.append(_p(texts.label("appendix_truncated", shown=len(listed), count=count, number=doc.number),
                             st["small"]))
    return head_block + [Spacer(1, 4 * mm), table]


def build_pdf(doc: BillingDocument, texts: Texts, *, e_invoice: bool = False) -> bytes:
    """The visual PDF of ``doc`` (no attachment)."""
    _register_fonts()
    st = _styles()
    story: list[Any] = [_letterhead(doc, st), Spacer(1, 9 * mm), _address_block(doc, texts, st), Spacer(1, 11 * mm)]
    story += _title_block(doc, texts, st)
    story += [Spacer(1, 5 * mm), _line_table(doc, texts, st), Spacer(1, 4 * mm)]
    story.append(KeepTogether([_totals(doc, texts, st)]))

    notes = tax_notes(doc, texts) + list(doc.notes)
    if notes:
        block = [_p(texts["notes"], st["heading"])] + [_p(n, st["base"]) for n in notes]
        story.append(KeepTogether(block))
    payment = payment_text(doc, texts)
    if payment:
        story.append(KeepTogether([_p(texts["payment"], st["heading"])] + [_p(t, st["base"]) for t in payment]))
    if e_invoice:
        story += [Spacer(1, 3 * mm), _p(texts["e_invoice_note"], st["small"])]
    if doc.sessions:
        story += _session_appendix(doc, texts, st)

    out = BytesIO()
    title = f"{doc.seller.name}: {_title(doc, texts)} {doc.number}"
    template = BaseDocTemplate(
        out, pagesize=A4, leftMargin=LEFT, rightMargin=RIGHT, topMargin=TOP, bottomMargin=BOTTOM,
        title=title, author=doc.seller.name, subject=title, creator="cdrflow", invariant=1,
        initialFontName=FONT, lang="de-DE" if texts.lang == "de" else "en-GB")
    frame = Frame(LEFT, BOTTOM, CONTENT_W, PAGE_H - TOP - BOTTOM, id="body",
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    template.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    template.build(story, canvasmaker=_canvas_class(doc, texts))
    return out.getvalue()


# --------------------------------------------------------------------------- Factur-X


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """An sRGB ICC profile for the PDF/A output intent (made by Pillow's littleCMS), with its
    creation date fixed so that the bytes never depend on the clock."""
    from PIL import ImageCms

    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[24:36] = bytes([0x07, 0xD0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0])  # 2000-01-01 00:00:00
    return bytes(data)


def _add_output_intent(pdf: bytes) -> bytes:
    """PDF/A needs an output intent with an ICC profile; reportlab's open-source edition does not
    write one, so it is added here."""
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, NumberObject, \
        TextStringObject

    writer = PdfWriter(clone_from=BytesIO(pdf))
    icc = DecodedStreamObject()
    icc.set_data(srgb_profile())
    icc[NameObject("/N")] = NumberObject(3)
    icc_ref = writer._add_object(icc.flate_encode())
    intent = DictionaryObject({
        NameObject("/Type"): NameObject("/OutputIntent"),
        NameObject("/S"): NameObject("/GTS_PDFA1"),
        NameObject("/OutputConditionIdentifier"): TextStringObject("sRGB"),
        NameObject("/RegistryName"): TextStringObject("http://www.color.org"),
        NameObject("/Info"): TextStringObject("sRGB IEC61966-2.1"),
        NameObject("/DestOutputProfile"): icc_ref,
    })
    writer._root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(intent)])
    # The XMP written by factur-x names pypdf as the producer; PDF/A wants the Info dictionary to agree.
    writer.add_metadata({"/Producer": "pypdf"})
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


_FACTURX_LOCK = threading.Lock()


@contextmanager
def _pinned_facturx_clock(instant: datetime) -> Iterator[None]:
    """factur-x writes "now" into the Info dictionary, the embedded file and the XMP; pin it.

    The library is patched for the duration of one call, under a lock (the patch is global)."""
    import facturx.facturx as fx

    pdf_stamp = instant.strftime("D:%Y%m%d%H%M%S+00'00'")
    xmp_stamp = instant.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    with _FACTURX_LOCK:
        saved = fx._get_pdf_timestamp, fx._get_metadata_timestamp
        fx._get_pdf_timestamp = lambda date=None: pdf_stamp
        fx._get_metadata_timestamp = lambda: xmp_stamp
        try:
            yield
        finally:
            fx._get_pdf_timestamp, fx._get_metadata_timestamp = saved


def embed_facturx(pdf: bytes, xml: bytes, doc: BillingDocument, texts: Texts) -> bytes:
    """The Factur-X PDF/A-3: ``pdf`` with ``xml`` attached as factur-x.xml (AFRelationship Data)
    and the Factur-X XMP metadata (profile EN 16931). The XML was checked against the XSD by its
    renderer already."""
    from facturx import generate_from_binary

    title = f"{doc.seller.name}: {_title(doc, texts)} {doc.number}"
    metadata = {"author": doc.seller.name, "keywords": "Factur-X, EN 16931", "title": title,
                "subject": f"{_title(doc, texts)} {doc.number} {doc.issue_date.isoformat()} {doc.seller.name}"}
    with _pinned_facturx_clock(_pdf_date(doc)):
        return generate_from_binary(_add_output_intent(pdf), xml, flavor="factur-x", level="en16931",
                                    check_xsd=False, pdf_metadata=metadata,
                                    lang="de-DE" if texts.lang == "de" else "en-GB")
