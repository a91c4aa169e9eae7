"""VAT for cdrflow: rate table, treatment per stream, VAT-id validation, EN 16931 totals.

Pure: no I/O, no clock. ``engine.tax.config`` registers the ``tax_rules`` config kind.
"""

from engine.tax.rates import RateTable, VatRate, alpha2
from engine.tax.totals import DocumentTotals, TaxGroup, allocate_nets, document_totals, settle_nets
from engine.tax.treatment import TaxRules, TaxTreatment, decide_treatment
from engine.tax.vat_id import VatIdCheck, check_vat_id, is_valid_vat_id

__all__ = [
    "DocumentTotals", "RateTable", "TaxGroup", "TaxRules", "TaxTreatment", "VatIdCheck", "VatRate",
    "allocate_nets", "alpha2", "check_vat_id", "decide_treatment", "document_totals", "is_valid_vat_id",
    "settle_nets",
]
