"""Ad-hoc sessions: priced with the session's public OCPI tariff, charged what the PSP captured.

The tariff is the one the CDR embeds (OCPI: "as valid at session start"), else the one its
charging periods name, looked up in ``rules/tariffs.yaml`` (the version active at the session
start). The OCPI engine (``engine.pricing``) computes one line per price component; we keep its
nets and quantities but take the VAT rate from the tax rules (the rate snapshot is ours, not
the CPMS's), warning when the tariff's ``vat`` says otherwise.

The customer has already paid: what was *charged* is the PSP's captured amount (gross). The
receipt must show that amount, so it is recorded next to the recomputed price together with the
difference; a difference beyond the tolerance is a warning for the analyst, not a silent fix.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from engine.money import net_from_gross, to_decimal
from engine.pricing import try_price_cdr
from engine.pricing.price import select_tariff
from engine.pricing.result import PriceResult
from engine.problems import Problem
from engine.rates.common import cdr_reference, currency_check, session_day, treatment
from engine.rates.config import tariffs_of
from engine.rates.model import (
    DISCOUNT, ENERGY, PARKING, SESSION_FEE, TIME, PriceLine, StreamPrice, failed, severities, totals_of,
)
from engine.tax.totals import DocumentTotals
from engine.tax.treatment import TaxTreatment

STREAM = "adhoc"
TOLERANCE = Decimal("0.01")
# OCPI dimension -> (product, description)
PRODUCT_OF = {
    "ENERGY": (ENERGY, "Energy"),
    "TIME": (TIME, "Charging time"),
    "PARKING_TIME": (PARKING, "Parking time"),
    "FLAT": (SESSION_FEE, "Session fee"),
    "RESERVATION_TIME": (TIME, "Reservation time"),
    "RESERVATION_FLAT": (SESSION_FEE, "Reservation fee"),
}


def _as_dict(cdr: Mapping[str, Any]) -> dict[str, Any]:
    """The CDR as the dict the tariff engine wants; a dict as it is (the engine only reads it,
    tests/pricing test_inputs_are_not_modified), another mapping copied."""
    return cdr if type(cdr) is dict else dict(cdr)


def find_tariff(cdr: Mapping[str, Any], bundle: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(tariff dict, source) — embedded in the CDR first, else by charging_periods[].tariff_id."""
    embedded, path = select_tariff(_as_dict(cdr))
    if embedded is not None:
        return embedded, {"kind": "cdr", "id": embedded.get("id"), "version": None, "path": path}
    book = tariffs_of(bundle)
    start = cdr.get("start_date_time")
    for period in cdr.get("charging_periods") or []:
        wanted = period.get("tariff_id") if isinstance(period, dict) else None
        if wanted is None:
            continue
        found = book.find(str(wanted), start)
        if found is not None:
            return dict(found.data), found.source()
    return None, None


def result_lines(result: PriceResult, tax: TaxTreatment, reference: Mapping[str, Any]) -> list[PriceLine]:
    """One line per priced component, plus the min/max price clamp as its own line."""
    lines = []
    for c in result.components:
        product, text = PRODUCT_OF.get(c.dimension, (SESSION_FEE, c.dimension.title()))
        ref = dict(reference, tariff_id=c.tariff_id, element=c.element_index)
        lines.append(PriceLine(product, text, c.billed_volume, c.unit, c.unit_price, c.excl_vat, tax.rate,
                               tax.treatment, tax.tax_class, reference=ref))
    adj = result.adjustment
    if adj is not None and adj.excl_vat != 0:
        raising = adj.excl_vat > 0
        product, text = (SESSION_FEE, "Minimum price") if raising else (DISCOUNT, "Maximum price cap")
        lines.append(PriceLine(product, text, Decimal(1), "item", adj.excl_vat, adj.excl_vat, tax.rate,
                               tax.treatment, tax.tax_class, reference=dict(reference, adjustment=adj.kind)))
    return lines


def _vat_checks(result: PriceResult, tax: TaxTreatment) -> list[Problem]:
    rates = {c.vat_rate for c in result.components}
    if tax.charges_vat and rates and rates != {tax.rate}:
        shown = ", ".join("none" if r is None else str(r) for r in sorted(rates, key=lambda r: (r is None, r or 0)))
        return [Problem("TARIFF_VAT_DIFFERS", f"the tariff's vat ({shown}) differs from the tax rules' {tax.rate} % "
                        f"for {tax.country}: billed at {tax.rate} %", path="tariffs", severity="warning")]
    return []


def charged_amount(facts: Mapping[str, Any], totals: DocumentTotals, currency: str | None, tax: TaxTreatment | None
                   ) -> tuple[dict[str, Any] | None, Decimal | None, list[Problem]]:
    """What the PSP captured (gross), its net/VAT split, and charged − recomputed incl. VAT
    (``totals`` and ``currency``: the priced document's)."""
    psp = facts.get("psp") or {}
    if psp.get("amount") is None:
        return None, None, [Problem("PSP_AMOUNT_MISSING", "no captured PSP amount: the receipt shows the "
                                    "recomputed price", path="facts.psp.amount", severity="warning")]
    problems: list[Problem] = []
    try:
        amount = to_decimal(psp["amount"], field="facts.psp.amount")
    except (TypeError, ValueError) as exc:
        return None, None, [Problem("PSP_AMOUNT_INVALID", str(exc), path="facts.psp.amount", severity="warning")]
    psp_currency = psp.get("currency")
    charged: dict[str, Any] = {"amount": amount, "currency": psp_currency, "psp_id": psp.get("id"),
                               "captured": psp.get("captured")}
    if tax is not None and len(totals.groups) <= 1:
        net, vat = net_from_gross(amount, tax.rate)
        charged.update(excl_vat=net, vat=vat)
    if psp_currency and currency and str(psp_currency).upper() != currency:
        problems.append(Problem("PSP_CURRENCY_DIFFERS", f"the PSP charged {psp_currency}, the tariff is in "
                                f"{currency}", path="facts.psp.currency", severity="warning"))
    incl_vat = totals.incl_vat
    difference = amount - incl_vat
    if difference:
        ok = abs(difference) <= TOLERANCE
        problems.append(Problem(
            "PSP_AMOUNT_DIFFERENCE" if ok else "PSP_AMOUNT_MISMATCH",
            f"the PSP captured {amount}, the recomputed price is {incl_vat} incl. VAT "
            f"(difference {difference})", path="facts.psp.amount", severity="info" if ok else "warning"))
    return charged, difference, problems


def price_adhoc(cdr: Mapping[str, Any], facts: Mapping[str, Any], bundle: Any, *,
                with_charge: bool = True) -> StreamPrice:
    """Price one ad-hoc session (``with_charge=False`` for credit/recomputation: no PSP link)."""
    cdr_id = cdr.get("id")
    day, problems = session_day(cdr, facts)
    if day is None:
        return failed(STREAM, problems, cdr_id=cdr_id)
    tax, found = treatment(bundle, STREAM, cdr, facts, day)
    problems += found
    tariff, source = find_tariff(cdr, bundle)
    if tariff is None:
        wanted = sorted({str(p.get("tariff_id")) for p in cdr.get("charging_periods") or []
                         if isinstance(p, dict) and p.get("tariff_id")})
        problems.append(Problem("NO_TARIFF", "the CDR embeds no tariff and "
                                + (f"tariff id(s) {', '.join(wanted)} are not in rules/tariffs.yaml (at the session "
                                   f"start)" if wanted else "its charging periods name none"),
                                path="charging_periods"))
    if tax is None or tariff is None:
        return failed(STREAM, [p for p in problems if p.is_error], cdr_id=cdr_id,
                      warnings=[p for p in problems if not p.is_error], source=source)
    location_tz = (facts.get("location") or {}).get("time_zone")
    result, found = try_price_cdr(_as_dict(cdr), tariff, location_tz=location_tz, tolerance=TOLERANCE)
    problems += found
    if result is None:
        return failed(STREAM, [p for p in problems if p.is_error], cdr_id=cdr_id,
                      warnings=[p for p in problems if not p.is_error], source=source, tax=tax)
    problems += _vat_checks(result, tax)
    currency = result.currency or tariff.get("currency")
    problems += currency_check(cdr, tariff.get("currency"), "the tariff")
    lines = result_lines(result, tax, cdr_reference(cdr))
    recomputed = {"total_cost": result.total_cost.to_json(), "tariff_id": result.tariff_id,
                  "time_zone": result.time_zone,
                  "cdr_difference": result.difference.to_json() if result.difference else None}
    # build_price's work for a net document (its lines are settled as they are), done once: the
    # charge needs the totals, and the document is made once it has the charge
    settled = tuple(lines)
    totals = totals_of(settled, False, tax)
    charged = difference = None
    if with_charge:
        charged, difference, found = charged_amount(facts, totals, currency, tax)
        problems += found
    warnings, errors = severities(problems)
    return StreamPrice(stream=STREAM, currency=currency, lines=settled, totals=totals, tax=tax, source=source,
                       cdr_id=cdr_id, charged=charged, difference=difference, recomputed=recomputed,
                       warnings=warnings, errors=errors)
