"""The priced document every stream produces: lines, totals, tax, source, warnings.

One shape for adhoc, subscription and MSP so that mappings, posting groups and credit notes
work the same way for all three. Lines are the unit of truth: totals are always *computed* from
them (``engine.tax.totals``), never carried alongside, and a credit is the same lines negated.
``to_json()`` renders amounts as strings with 2 decimals, unit prices with 2 to 4, quantities
exactly; ``from_json()`` reads it back (a stored ``decision.pricing`` is what a later credit
CDR reverses).
"""

from __future__ import annotations

from dataclasses import field, replace
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence

from engine.frozen import frozen
from engine.jsonable import is_flat_json, json_object
from engine.memo import remembered, remembered_for
from engine.money import fmt, fmt_exact, fmt_exact_constant, round_unit_price, to_decimal
from engine.problems import Problem
from engine.tax.totals import DocumentTotals, document_totals, settle_nets
from engine.tax.treatment import TaxTreatment

PRODUCTS = ("ENERGY", "TIME", "PARKING", "SESSION_FEE", "IDLE_FEE", "SUBSCRIPTION", "DISCOUNT")
ENERGY, TIME, PARKING, SESSION_FEE, IDLE_FEE, SUBSCRIPTION, DISCOUNT = PRODUCTS
ZERO = Decimal("0.00")


def _dec(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


@frozen
class PriceLine:
    """One invoice line. ``net`` is 2 dp; ``gross`` is set on lines of gross-priced (B2C plan)
    documents, where it is the amount the customer sees and ``net`` is derived from it."""

    product: str
    description: str
    quantity: Decimal
    unit: str                       # kWh | h | min | session | day | item
    unit_price: Decimal | None      # net, ≤ 4 dp
    net: Decimal
    tax_rate: Decimal
    tax_treatment: str
    tax_class: str
    gross: Decimal | None = None
    unit_price_gross: Decimal | None = None
    reference: Mapping[str, Any] = field(default_factory=dict)  # cdr ids, power type, category, ...

    def negated(self) -> "PriceLine":
        return replace(self, net=-self.net, gross=None if self.gross is None else -self.gross,
                       quantity=-self.quantity)

    def to_json(self, reference_json: dict[str, Any] | None = None) -> dict[str, Any]:
        """``reference_json``: a new copy of the reference's JSON when the caller has it already
        (``_lines_json``: the lines of a session share one reference); else it is made here."""
        out = {
            "product": self.product,
            "description": self.description,
            "quantity": fmt_exact(self.quantity),
            "unit": self.unit,
            "unit_price": _price(self.unit_price),
            "net": fmt(self.net),
            "tax_rate": fmt_exact_constant(self.tax_rate),
            "tax_treatment": self.tax_treatment,
            "tax_class": self.tax_class,
        }
        if self.gross is not None:
            out["gross"] = fmt(self.gross)
            out["unit_price_gross"] = _price(self.unit_price_gross)
        if self.reference:
            out["reference"] = reference_json if reference_json is not None else _json_object(self.reference)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PriceLine":
        return cls(
            product=data["product"], description=data.get("description", ""),
            quantity=to_decimal(data.get("quantity", "1")), unit=data.get("unit", ""),
            unit_price=_dec(data.get("unit_price")), net=to_decimal(data["net"]),
            tax_rate=to_decimal(data.get("tax_rate") or "0"), tax_treatment=data.get("tax_treatment", ""),
            tax_class=data.get("tax_class", ""), gross=_dec(data.get("gross")),
            unit_price_gross=_dec(data.get("unit_price_gross")), reference=dict(data.get("reference") or {}))


def _lines_json(lines: Sequence[PriceLine]) -> list[dict[str, Any]]:
    """The lines' JSON; a reference that is one object with the previous line's is rendered once.

    Why it is the same: ``json_object`` of a dict is a plain copy exactly when ``is_flat_json``
    (the session references are: ``session_lines`` shares one between a session's lines), and
    rendering reads the reference without changing it, so a dict found flat stays flat for the
    next lines: a plain copy each (every line still gets its own dict) is what ``json_object``
    would return. Anything else (not a dict, empty, not flat) is rendered by the line itself.
    """
    out = []
    flat = None  # a reference found flat: a non-empty dict of str keys and JSON scalar values
    for line in lines:
        ref = line.reference
        if ref is not flat:
            flat = ref if type(ref) is dict and ref and is_flat_json(ref) else None
        out.append(line.to_json(dict(ref)) if flat is not None else line.to_json())
    return out


def _json_object(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A new JSON object for a mapping (``json_object`` copies a dict already: no extra copy)."""
    return json_object(mapping if type(mapping) is dict else dict(mapping))


_PRICE_TEXT: dict[str, str] = {}
_PRICE_OBJECTS: dict[int, tuple[object, str]] = {}
_PRICE_TEXT_LIMIT = 1024


def _price(value: Decimal | None) -> str | None:
    """A unit price: 2 to 4 decimals when that loses nothing (it always does: they are ≤ 4 dp).

    Unit prices are the few prices of the rate cards and tariffs, so the text is remembered:
    per object first (a card's price is one object for every CDR; ``remembered_for``), then
    keyed by ``str(value)`` (a price worked out per CDR): a Decimal's str is exact (sign, digits
    and exponent), so equal keys always render the same. Bounded; a lost race only renders a
    price twice.
    """
    if value is None:
        return None
    return remembered_for(_PRICE_OBJECTS, value, _price_by_value, _PRICE_TEXT_LIMIT)


def _price_by_value(value: Decimal) -> str:
    return remembered(_PRICE_TEXT, str(value), lambda: _price_text(value), _PRICE_TEXT_LIMIT)


def _price_text(value: Decimal) -> str:
    rounded = round_unit_price(value)
    return str(rounded) if rounded == value else fmt_exact(value)


def settle(lines: Sequence[PriceLine], prices_include_vat: bool) -> tuple[PriceLine, ...]:
    """Give gross-priced lines their nets (shared from the per-rate net); net lines unchanged."""
    nets = settle_nets(lines, prices_include_vat)
    return tuple(line if line.net == net else replace(line, net=net) for line, net in zip(lines, nets))


def totals_of(lines: Iterable[PriceLine], prices_include_vat: bool,
              tax: TaxTreatment | None = None) -> DocumentTotals:
    notes = {tax.treatment: tax.note} if tax is not None else None
    countries = {tax.treatment: tax.country} if tax is not None else None
    return document_totals(lines, prices_include_vat=prices_include_vat, notes=notes, countries=countries)


@frozen
class StreamPrice:
    """The priced result of one CDR (or one period / cycle document) in one stream."""

    stream: str
    currency: str | None
    lines: tuple[PriceLine, ...]
    totals: DocumentTotals
    prices_include_vat: bool = False
    tax: TaxTreatment | None = None
    source: Mapping[str, Any] | None = None      # {kind, id, version, file, line}
    cdr_id: str | None = None
    credit: Mapping[str, Any] | None = None      # {reference_id, original: stored|recomputed|cdr_periods}
    charged: Mapping[str, Any] | None = None     # adhoc: what the PSP captured (gross)
    difference: Decimal | None = None            # adhoc: charged - total incl. VAT
    recomputed: Mapping[str, Any] | None = None  # adhoc: the OCPI tariff engine's result (JSON)
    warnings: tuple[Problem, ...] = ()
    errors: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def excl_vat(self) -> Decimal:
        return self.totals.excl_vat

    @property
    def incl_vat(self) -> Decimal:
        return self.totals.incl_vat

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "cdr_id": self.cdr_id,
            "currency": self.currency,
            "prices_include_vat": self.prices_include_vat,
            "lines": _lines_json(self.lines),
            "total_cost": self.totals.to_json(),
            "tax": [g.to_json() for g in self.totals.groups],
            "tax_treatment": self.tax.to_jsonable() if self.tax else None,
            "source": _json_object(self.source) if self.source else None,
            "credit": _json_object(self.credit) if self.credit else None,
            "charged": _charged_json(self.charged) if self.charged else None,
            "difference": None if self.difference is None else fmt(self.difference),
            "recomputed": self.recomputed,
            "warnings": [w.to_dict() for w in self.warnings] if self.warnings else [],
            "errors": [e.to_dict() for e in self.errors] if self.errors else [],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "StreamPrice":
        """Read back a stored ``to_json()`` (the lines are authoritative; totals are recomputed)."""
        lines = tuple(PriceLine.from_json(line) for line in data.get("lines") or [])
        gross = bool(data.get("prices_include_vat"))
        tax = _tax_from_json(data.get("tax_treatment"))
        return cls(stream=data.get("stream", ""), currency=data.get("currency"), lines=lines,
                   totals=totals_of(lines, gross, tax), prices_include_vat=gross, tax=tax,
                   source=data.get("source"), cdr_id=data.get("cdr_id"), credit=data.get("credit"))


def _charged_json(charged: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not charged:
        return None
    out = {k: (fmt(v) if isinstance(v, Decimal) else v) for k, v in charged.items()}
    return out


def _tax_from_json(data: Mapping[str, Any] | None) -> TaxTreatment | None:
    if not data:
        return None
    return TaxTreatment(data["treatment"], to_decimal(data.get("rate") or "0"), data.get("country"),
                        data.get("tax_class", ""), data.get("note"), data.get("buyer_vat_id"),
                        data.get("rule"), data.get("rate_source"))


def build_price(stream: str, lines: Sequence[PriceLine], *, prices_include_vat: bool = False,
                tax: TaxTreatment | None, currency: str | None, **kwargs: Any) -> StreamPrice:
    """Settle the lines (gross -> net) and compute the totals: the one way a StreamPrice is made."""
    settled = _settled(lines, prices_include_vat)
    return StreamPrice(stream=stream, currency=currency, lines=settled,
                       totals=totals_of(settled, prices_include_vat, tax),
                       prices_include_vat=prices_include_vat, tax=tax, **kwargs)


def _settled(lines: Sequence[PriceLine], prices_include_vat: bool) -> tuple[PriceLine, ...]:
    # a net document's lines are settled as they are (settle_nets gives each its own net)
    return settle(lines, prices_include_vat) if prices_include_vat else tuple(lines)


def session_price(stream: str, lines: Sequence[PriceLine], *, prices_include_vat: bool, tax: TaxTreatment,
                  currency: str | None, source: Mapping[str, Any] | None, cdr_id: Any,
                  problems: Sequence[Problem]) -> StreamPrice:
    """``build_price(stream, lines, ..., source=source, cdr_id=cdr_id)`` with ``problems`` split by
    severity (``severities``), for one session (every session pricer's result), made with
    positional arguments: no keyword dicts per CDR.

    Why it is the same: the lines settled and the totals computed as build_price does, and the
    StreamPrice given every field in the order of its definition, the fields build_price leaves
    to their defaults (credit, charged, difference, recomputed) with those defaults (None).
    """
    settled = _settled(lines, prices_include_vat)
    warnings, errors = severities(problems)
    return StreamPrice(stream, currency, settled, totals_of(settled, prices_include_vat, tax), prices_include_vat,
                       tax, source, cdr_id, None, None, None, None, warnings, errors)


def severities(problems: Sequence[Problem]) -> tuple[tuple[Problem, ...], tuple[Problem, ...]]:
    """(warnings, errors): the problems by severity, each in order."""
    if not problems:
        return (), ()
    return tuple(p for p in problems if not p.is_error), tuple(p for p in problems if p.is_error)


def failed(stream: str, errors: Sequence[Problem], *, cdr_id: str | None = None, currency: str | None = None,
           warnings: Sequence[Problem] = (), **kwargs: Any) -> StreamPrice:
    """A StreamPrice that could not be priced: no lines, zero totals, the reasons as errors."""
    return StreamPrice(stream=stream, currency=currency, lines=(), totals=DocumentTotals(ZERO, ZERO, ()),
                       cdr_id=cdr_id, warnings=tuple(warnings), errors=tuple(errors), **kwargs)
