"""Credit CDRs: a full reversal of the original's priced lines, never a sum of sub-totals.

OCPI puts the negative amount only in a credit CDR's ``total_cost``; the sign of its sub-totals
is unspecified. So a credit is priced by reversing its original: the same lines with every
amount negated, totals recomputed from them. Because rounding is symmetric and VAT is computed
per rate on summed nets, the credit's VAT is exactly minus the invoice's — no one-cent
difference between invoice and credit note.

Where the original's pricing comes from, best first:

1. the stored ``decision.pricing`` of the original (``original`` has ``lines``, or is a
   Decision JSON with ``pricing``) — exactly what was invoiced;
2. the original CDR (``original`` has ``charging_periods``) re-priced with today's config —
   a warning says so, prices may have changed since;
3. nothing known: the credit CDR's own charging periods are priced and negated, with a warning.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any, Callable, Mapping

from engine.money import to_decimal
from engine.problems import Problem
from engine.rates.model import StreamPrice, totals_of

Pricer = Callable[[str, dict, dict, Any], StreamPrice]
TOLERANCE = Decimal("0.01")


def reverse(original: StreamPrice, *, cdr_id: str | None = None, reference_id: str | None = None,
            how: str = "stored") -> StreamPrice:
    """The credit document: the original's lines negated, totals recomputed (= exactly negated)."""
    ref_id = reference_id if reference_id is not None else original.cdr_id
    lines = tuple(replace(ln.negated(), reference=dict(
        ln.reference, cdr_id=cdr_id if cdr_id is not None else ln.reference.get("cdr_id"), credit=True,
        credit_reference_id=ref_id)) for ln in original.lines)
    credit = {"reference_id": ref_id, "original": how, "original_cdr_id": original.cdr_id}
    return replace(original, lines=lines, totals=totals_of(lines, original.prices_include_vat, original.tax),
                   cdr_id=cdr_id, credit=credit, charged=None, difference=None, recomputed=None,
                   warnings=original.warnings, errors=original.errors)


def _stored(original: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if "lines" in original and "total_cost" in original:
        return original
    pricing = original.get("pricing")
    if isinstance(pricing, Mapping) and "lines" in pricing:
        return pricing
    return None


def _compare_with_cdr(credit: StreamPrice, cdr: Mapping[str, Any]) -> list[Problem]:
    """The credit CDR's own total_cost (negative) against the reversal; report, never adjust."""
    given = cdr.get("total_cost")
    if not isinstance(given, Mapping) or given.get("excl_vat") is None:
        return []
    try:
        excl = to_decimal(given["excl_vat"], field="total_cost.excl_vat")
    except (TypeError, ValueError):
        return []
    if excl > 0:
        excl = -excl  # some senders forget the sign; OCPI says negative
    diff = credit.excl_vat - excl
    if diff == 0:
        return []
    return [Problem("CREDIT_TOTAL_DIFFERS" if abs(diff) > TOLERANCE else "CREDIT_TOTAL_DIFFERENCE",
                    f"the credit CDR says {excl} excl. VAT, the reversal of the original is {credit.excl_vat}",
                    path="total_cost", severity="warning" if abs(diff) > TOLERANCE else "info")]


def price_credit(stream: str, cdr: Mapping[str, Any], facts: Mapping[str, Any], bundle: Any,
                 original: Mapping[str, Any] | StreamPrice | None, pricer: Pricer) -> StreamPrice:
    """Price a credit CDR as the reversal of ``original`` (see the module doc for its forms)."""
    cdr_id, ref = cdr.get("id"), cdr.get("credit_reference_id")
    warnings: list[Problem] = []
    if isinstance(original, StreamPrice):
        base, how = original, "stored"
    elif original is not None and _stored(original) is not None:
        base, how = StreamPrice.from_json(_stored(original)), "stored"
    elif original is not None and original.get("charging_periods") is not None:
        plain_original = {k: v for k, v in original.items() if k not in ("credit", "credit_reference_id")}
        base, how = pricer(stream, plain_original, dict(facts), bundle), "recomputed"
        warnings.append(Problem("CREDIT_ORIGINAL_REPRICED", "the original's stored pricing was not given: the "
                                "original CDR was priced again with the current configuration",
                                path="credit_reference_id", severity="warning"))
    else:
        own = {k: v for k, v in cdr.items() if k not in ("credit", "credit_reference_id", "total_cost")}
        base, how = pricer(stream, own, dict(facts), bundle), "credit_cdr_periods"
        warnings.append(Problem("CREDIT_ORIGINAL_UNKNOWN", f"original CDR {ref!r} is unknown: the credit CDR's own "
                                "charging periods were priced and negated", path="credit_reference_id",
                                severity="warning"))
        if base.ok and base.excl_vat < 0:
            warnings.append(Problem("CREDIT_VOLUMES_NEGATIVE", "the credit CDR's volumes are negative: its price is "
                                    "taken as the credit without negating it again", path="charging_periods",
                                    severity="warning"))
            credit = replace(base, cdr_id=cdr_id, charged=None, difference=None,
                             credit={"reference_id": ref, "original": how, "original_cdr_id": None})
            return replace(credit, warnings=tuple(warnings) + credit.warnings)
    if ref is not None and base.cdr_id is not None and how != "credit_cdr_periods" and str(base.cdr_id) != str(ref):
        warnings.append(Problem("CREDIT_REFERENCE_MISMATCH", f"credit_reference_id is {ref!r} but the original "
                                f"given is CDR {base.cdr_id!r}", path="credit_reference_id", severity="warning"))
    if not base.ok:
        return replace(base, cdr_id=cdr_id, warnings=tuple(warnings) + base.warnings,
                       credit={"reference_id": ref, "original": how, "original_cdr_id": base.cdr_id})
    credit = reverse(base, cdr_id=cdr_id, reference_id=ref, how=how)
    if how == "credit_cdr_periods":
        credit = replace(credit, credit=dict(credit.credit or {}, original_cdr_id=None))
    if stream == "adhoc":  # only there is the CDR's own total our price; plans and MSP tariffs differ by design
        warnings += _compare_with_cdr(credit, cdr)
    return replace(credit, warnings=tuple(warnings) + tuple(base.warnings if how != "stored" else ()))
