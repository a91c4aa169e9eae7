"""Labels and formatting for the rendered documents, in German and English.

German is the language of a German supplier's invoices; English is used for buyers outside the
German-speaking countries (roaming partners abroad) unless the document says otherwise
(``doc.metadata["language"]``). Numbers, dates and amounts are formatted here, never with the
process locale (which would make the output depend on the machine that renders it).
"""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from engine.money import fmt_exact, round_amount, round_unit_price

GERMAN_SPEAKING = frozenset({"DE", "AT", "CH", "LI"})
LANGUAGES = ("de", "en")

LABELS: dict[str, dict[str, str]] = {
    "de": {
        "title_invoice": "Rechnung",
        "title_small_amount": "Rechnung (Kleinbetragsrechnung §33 UStDV)",
        "title_credit_note": "Rechnungskorrektur",
        "corrects": "zu Rechnung Nr. {number}",
        "number": "Rechnungsnummer",
        "credit_number": "Korrekturnummer",
        "issue_date": "Rechnungsdatum",
        "supply_period": "Leistungszeitraum",
        "supply_date": "Leistungsdatum",
        "customer_no": "Kundennummer",
        "buyer_reference": "Ihre Referenz",
        "buyer_vat_id": "Ihre USt-IdNr.",
        "page": "Seite {page} von {pages}",
        "pos": "Pos.",
        "description": "Beschreibung",
        "quantity": "Menge",
        "unit_price": "Einzelpreis",
        "unit_price_gross": "Einzelpreis brutto",
        "net": "Netto",
        "gross": "Brutto",
        "amount_gross": "Betrag brutto",
        "tax_rate": "USt-Satz",
        "tax_category": "Steuerkategorie",
        "vat": "USt",
        "total_net": "Summe netto",
        "total_vat": "Umsatzsteuer",
        "total_gross": "Gesamtbetrag",
        "vat_included": "darin enthaltene Umsatzsteuer {rate} %",
        "tax_breakdown": "Umsatzsteuer",
        "notes": "Hinweise",
        "buyer_vat_id_note": "USt-IdNr. des Leistungsempfängers: {vat_id}",
        "payment": "Zahlung",
        "paid_psp": "Der Betrag von {amount} wurde bereits bezahlt (Zahlungsreferenz {reference}).",
        "pay_by": "Bitte überweisen Sie {amount} ohne Abzug bis zum {due} auf das unten genannte Konto.",
        "pay_terms": "Zahlbar innerhalb von {days} Tagen ohne Abzug.",
        "pay_transfer": "Überweisung an IBAN {iban}, Verwendungszweck {number}.",
        "credit_settlement": "Der Betrag von {amount} wird mit offenen Forderungen verrechnet oder erstattet.",
        "vat_id": "USt-IdNr.",
        "tax_number": "Steuernummer",
        "email": "E-Mail",
        "iban": "IBAN",
        "appendix_title": "Anlage: Liste der Ladevorgänge",
        "appendix_summary": "zu {kind} {number} · {count} Ladevorgänge, {kwh} kWh, {amount} netto",
        "appendix_truncated": "Aufgeführt sind die ersten {shown} von {count} Ladevorgängen; die vollständige "
                              "Liste enthält die Sitzungsliste (CSV) zu {number}. Die Summenzeile gilt für alle.",
        "col_ocpi": "CDR (OCPI-Referenz)",
        "col_start": "Beginn (UTC)",
        "col_end": "Ende (UTC)",
        "col_kwh": "kWh",
        "col_amount": "Netto",
        "col_location": "Standort",
        "col_power": "Typ",
        "col_category": "Kategorie",
        "col_late": "Nachtrag",
        "late_mark": "ja",
        "kind_invoice": "Rechnung",
        "kind_credit_note": "Rechnungskorrektur",
        "e_invoice_note": "Dieses Dokument enthält die elektronische Rechnung (EN 16931, CII) als "
                          "Anhang factur-x.xml.",
    },
    "en": {
        "title_invoice": "Invoice",
        "title_small_amount": "Invoice (small-amount invoice, §33 UStDV)",
        "title_credit_note": "Invoice correction",
        "corrects": "to invoice no. {number}",
        "number": "Invoice number",
        "credit_number": "Correction number",
        "issue_date": "Invoice date",
        "supply_period": "Supply period",
        "supply_date": "Supply date",
        "customer_no": "Customer no.",
        "buyer_reference": "Your reference",
        "buyer_vat_id": "Your VAT id",
        "page": "Page {page} of {pages}",
        "pos": "Item",
        "description": "Description",
        "quantity": "Quantity",
        "unit_price": "Unit price",
        "unit_price_gross": "Unit price gross",
        "net": "Net",
        "gross": "Gross",
        "amount_gross": "Amount gross",
        "tax_rate": "VAT rate",
        "tax_category": "Tax category",
        "vat": "VAT",
        "total_net": "Total net",
        "total_vat": "VAT",
        "total_gross": "Total amount",
        "vat_included": "includes VAT {rate} %",
        "tax_breakdown": "VAT",
        "notes": "Notes",
        "buyer_vat_id_note": "VAT id of the recipient: {vat_id}",
        "payment": "Payment",
        "paid_psp": "The amount of {amount} has already been paid (payment reference {reference}).",
        "pay_by": "Please transfer {amount} without deduction by {due} to the account below.",
        "pay_terms": "Payable within {days} days without deduction.",
        "pay_transfer": "Bank transfer to IBAN {iban}, reference {number}.",
        "credit_settlement": "The amount of {amount} will be offset against open items or refunded.",
        "vat_id": "VAT id",
        "tax_number": "Tax number",
        "email": "E-mail",
        "iban": "IBAN",
        "appendix_title": "Appendix: list of charging sessions",
        "appendix_summary": "of {kind} {number} · {count} sessions, {kwh} kWh, {amount} net",
        "appendix_truncated": "The first {shown} of {count} sessions are listed; the complete list is the "
                              "session-list CSV of {number}. The total row covers all of them.",
        "col_ocpi": "CDR (OCPI reference)",
        "col_start": "Start (UTC)",
        "col_end": "End (UTC)",
        "col_kwh": "kWh",
        "col_amount": "Net",
        "col_location": "Location",
        "col_power": "Type",
        "col_category": "Category",
        "col_late": "Late",
        "late_mark": "yes",
        "kind_invoice": "invoice",
        "kind_credit_note": "invoice correction",
        "e_invoice_note": "This document carries the electronic invoice (EN 16931, CII) as the "
                          "attachment factur-x.xml.",
    },
}

# unit -> (singular, plural)
UNITS: dict[str, dict[str, tuple[str, str]]] = {
    "de": {"kWh": ("kWh", "kWh"), "h": ("Std.", "Std."), "min": ("Min.", "Min."),
           "session": ("Ladevorgang", "Ladevorgänge"), "sessions": ("Ladevorgang", "Ladevorgänge"),
           "day": ("Tag", "Tage"), "month": ("Monat", "Monate"), "item": ("Stk.", "Stk.")},
    "en": {"kWh": ("kWh", "kWh"), "h": ("h", "h"), "min": ("min", "min"),
           "session": ("session", "sessions"), "sessions": ("session", "sessions"),
           "day": ("day", "days"), "month": ("month", "months"), "item": ("pc", "pcs")},
}

# EN 16931 VAT category codes (UNCL 5305) as a reader understands them.
TAX_CATEGORIES_SHORT: dict[str, dict[str, str]] = {
    "de": {"S": "Normalsatz", "AE": "Reverse Charge", "K": "innergem. Lieferung", "G": "Ausfuhr",
           "O": "nicht steuerbar", "Z": "Nullsatz", "E": "steuerfrei"},
    "en": {"S": "standard rate", "AE": "reverse charge", "K": "intra-community", "G": "export",
           "O": "out of scope", "Z": "zero rated", "E": "exempt"},
}
TAX_CATEGORIES: dict[str, dict[str, str]] = {
    "de": {"S": "Normalsatz", "AE": "Steuerschuldnerschaft des Leistungsempfängers", "K": "innergemeinschaftlich",
           "G": "Ausfuhr", "O": "nicht steuerbar", "Z": "Nullsatz", "E": "steuerbefreit", "L": "IGIC", "M": "IPSI"},
    "en": {"S": "standard rate", "AE": "reverse charge", "K": "intra-community supply", "G": "export",
           "O": "not subject to VAT", "Z": "zero rated", "E": "exempt", "L": "IGIC", "M": "IPSI"},
}


def language_for(country: str | None, requested: Any = None) -> str:
    """``requested`` when it is a known language, else German for German-speaking (or unknown)
    buyer countries and English for everyone else."""
    if isinstance(requested, str) and requested.lower()[:2] in LANGUAGES:
        return requested.lower()[:2]
    if not country or country.upper() in GERMAN_SPEAKING:
        return "de"
    return "en"


class Texts:
    """Labels and number/date formats of one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "de"
        self._labels = LABELS[self.lang]

    def __getitem__(self, key: str) -> str:
        return self._labels[key]

    def label(self, key: str, **values: Any) -> str:
        return self._labels[key].format(**values)

    def unit(self, unit: str, quantity: Decimal | None = None) -> str:
        names = UNITS[self.lang].get(unit)
        if names is None:
            return unit
        return names[0] if quantity is None or abs(quantity) == 1 else names[1]

    def tax_category(self, code: str) -> str:
        return TAX_CATEGORIES[self.lang].get(code, code)

    def tax_category_short(self, code: str) -> str:
        return TAX_CATEGORIES_SHORT[self.lang].get(code, code)

    # --- numbers ---------------------------------------------------------------------------

    def _group(self, text: str) -> str:
        """Digit grouping and decimal mark of the language on a plain ``-1234.56`` string."""
        sign = "-" if text.startswith("-") else ""
        text = text.lstrip("-")
        whole, _, frac = text.partition(".")
        groups = []
        while len(whole) > 3:
            groups.insert(0, whole[-3:])
            whole = whole[:-3]
        groups.insert(0, whole)
        thousands, point = (".", ",") if self.lang == "de" else (",", ".")
        return sign + thousands.join(groups) + (point + frac if frac else "")

    def amount(self, value: Decimal, currency: str | None = None) -> str:
        """An amount with 2 decimals: ``1.234,56 EUR`` / ``1,234.56 EUR`` (never ``-0,00``)."""
        value = round_amount(value)
        text = self._group(format(value if value != 0 else abs(value), "f"))
        return f"{text} {currency}" if currency else text

    def unit_price(self, value: Decimal | None, currency: str | None = None) -> str:
        """A unit price with 2 to 4 decimals."""
        if value is None:
            return ""
        text = self._group(format(round_unit_price(value), "f"))
        return f"{text} {currency}" if currency else text

    def quantity(self, value: Decimal) -> str:
        """A quantity exactly as priced (no rounding: 12.345 kWh stays 12,345)."""
        return self._group(fmt_exact(value) or "0")

    def rate(self, value: Decimal) -> str:
        return f"{self._group(fmt_exact(value) or '0')} %"

    def date(self, value: Date | None) -> str:
        if value is None:
            return ""
        return value.strftime("%d.%m.%Y") if self.lang == "de" else value.isoformat()

    def period(self, start: Date, end: Date) -> str:
        if start == end:
            return self.date(start)
        return f"{self.date(start)} – {self.date(end)}"


# Country names for the last line of a foreign postal address (UPU: in capitals, in English).
COUNTRY_NAMES = {
    "AT": "AUSTRIA", "BE": "BELGIUM", "BG": "BULGARIA", "CH": "SWITZERLAND", "CY": "CYPRUS", "CZ": "CZECHIA",
    "DE": "GERMANY", "DK": "DENMARK", "EE": "ESTONIA", "ES": "SPAIN", "FI": "FINLAND", "FR": "FRANCE",
    "GB": "UNITED KINGDOM", "GR": "GREECE", "HR": "CROATIA", "HU": "HUNGARY", "IE": "IRELAND", "IT": "ITALY",
    "LI": "LIECHTENSTEIN", "LT": "LITHUANIA", "LU": "LUXEMBOURG", "LV": "LATVIA", "MT": "MALTA",
    "NL": "NETHERLANDS", "NO": "NORWAY", "PL": "POLAND", "PT": "PORTUGAL", "RO": "ROMANIA", "SE": "SWEDEN",
    "SI": "SLOVENIA", "SK": "SLOVAKIA",
}


def country_name(code: str) -> str:
    return COUNTRY_NAMES.get(code.upper(), code.upper())


def utc_text(value: datetime) -> str:
    """An instant as ISO 8601 UTC with a Z (``2026-10-01T10:00:00Z``); naive values are taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def utc_short(value: datetime) -> str:
    """An instant in UTC for a table cell: ``2026-10-01 10:00``."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M")
