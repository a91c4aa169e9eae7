"""MSP stream: sessions at the bilateral tariff, and one consolidated document per MSP and period.

A session is priced at the version of the MSP's tariff (``facts.msp.tariff_id``) valid on the
session's local date, with the price row of its power type (AC/DC) and location category
(``facts.location.category``; the power type's ``*`` row when the category has none).

``msp_period`` aggregates the period's priced sessions into lines by product × power type ×
location category × price (× tariff version and tax group, which must not be mixed on a line).
Each line's net is its summed quantity × unit price rounded once — not the sum of per-session
roundings — and it lists the CDR ids it covers, so every line is OCPI-CDR-referenced. Credit
CDRs of the period contribute negated quantities to the same lines.

Discounts (the version valid on the period's last day) are applied in list order, each on what
earlier discounts left of its lines, and appear as their own negative lines per tax group. A
discount never exceeds the lines it discounts: it is clamped to that remainder, and the remainder
is reduced line by line (largest-remainder split) so later discounts see what is really left.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any, Mapping, Sequence

from engine.money import CENT, HUNDRED, line_net, round_amount
from engine.problems import Problem
from engine.rates.books import Discount, MspTariff, MspVersion
from engine.rates.common import (
    cdr_reference, currency_check, location_category, session_day, treatment,
)
from engine.rates.config import msp_tariffs_of
from engine.rates.model import DISCOUNT, ENERGY, PriceLine, StreamPrice, build_price, failed, session_price
from engine.rates.ratecard import power_type_of, session_lines, session_usage
from engine.tax.periods import as_date

STREAM = "msp"
ZERO = Decimal("0.00")


# --------------------------------------------------------------------------- one session

def price_msp_session(cdr: Mapping[str, Any], facts: Mapping[str, Any], bundle: Any) -> StreamPrice:
    """Price one roaming session at the MSP's bilateral tariff (no discounts: they are per period)."""
    cdr_id = cdr.get("id")
    day, problems = session_day(cdr, facts)
    if day is None:
        return failed(STREAM, problems, cdr_id=cdr_id)
    msp = facts.get("msp") or {}
    tariff = msp_tariffs_of(bundle).get(msp.get("tariff_id"))
    if tariff is None:
        problems.append(Problem("MSP_TARIFF_UNKNOWN",
                                f"MSP tariff {msp.get('tariff_id')!r} is not in rules/msp_tariffs.yaml"
                                if msp.get("tariff_id") else f"the MSP contract of {msp.get('party')} names no tariff",
                                path="facts.msp.tariff_id"))
        return _fail(problems, cdr_id)
    power = power_type_of(cdr)
    category = location_category(facts)
    version, row, row_source = tariff.session_lookup(day, power, category)
    if version is None:
        problems.append(Problem("MSP_TARIFF_NOT_VALID", f"MSP tariff {tariff.id!r} has no version valid on "
                                f"{day.isoformat()}", path="facts.msp.tariff_id"))
        return _fail(problems, cdr_id)
    if power is None:
        problems.append(Problem("POWER_TYPE_UNKNOWN", "cdr_location.connector_power_type is missing or unknown",
                                path="cdr_location.connector_power_type"))
        return _fail(problems, cdr_id, source=tariff.source(version))
    if category is None:
        problems.append(Problem("LOCATION_CATEGORY_UNKNOWN", "the location has no category: the '*' price row "
                                "was used", path="facts.location.category", severity="warning"))
    if row is None:
        problems.append(Problem("MSP_NO_PRICE", f"MSP tariff {tariff.id!r} {version.version} has no {power} price "
                                f"for category {category!r} and no '*' row", path="facts.location.category"))
        return _fail(problems, cdr_id, source=tariff.source(version))
    source = dict(row_source)
    tax, found = treatment(bundle, STREAM, cdr, facts, day)
    problems += found
    if tax is None:
        return _fail(problems, cdr_id, source=source)
    energy, charging, _, idle, found = session_usage(cdr, row.card)
    problems += found
    problems += currency_check(cdr, tariff.currency, f"MSP tariff {tariff.id!r}")
    shown_category = category if category is not None else row.category
    reference = cdr_reference(cdr)  # a new dict: completed here rather than copied
    reference.update(tariff_id=tariff.id, version=version.version, power_type=power, category=shown_category,
                     session_date=day.isoformat())
    lines = session_lines(row.card, energy, charging, idle, tax, False, f"{power} {shown_category}", reference)
    return session_price(STREAM, lines, prices_include_vat=False, tax=tax, currency=tariff.currency, source=source,
                         cdr_id=cdr_id, problems=problems)


def _fail(problems: list[Problem], cdr_id: Any, **kwargs: Any) -> StreamPrice:
    return failed(STREAM, [p for p in problems if p.is_error], cdr_id=cdr_id,
                  warnings=[p for p in problems if not p.is_error], **kwargs)


# --------------------------------------------------------------------------- aggregation

_GROUP_FIELDS = ("power_type", "category", "tariff_id", "version")


def aggregate(lines: Sequence[PriceLine]) -> list[PriceLine]:
    """Session lines -> period lines (one per product, power type, category, version, price, tax)."""
    groups: dict[tuple, list[PriceLine]] = {}
    for line in lines:
        ref = line.reference
        key = (line.product, *(ref.get(f) for f in _GROUP_FIELDS), line.unit, line.unit_price, line.tax_rate,
               line.tax_class, line.tax_treatment)
        groups.setdefault(key, []).append(line)
    out = []
    for key, members in groups.items():
        first = members[0]
        quantity = sum((m.quantity for m in members), Decimal(0))
        cdr_ids = sorted({str(m.reference.get("cdr_id")) for m in members})
        credits = sorted({str(m.reference.get("cdr_id")) for m in members if m.reference.get("credit")})
        ref = {f: first.reference.get(f) for f in _GROUP_FIELDS}
        ref.update(cdr_ids=cdr_ids, sessions=len(cdr_ids) - 2 * len(credits))
        if credits:
            ref["credit_cdr_ids"] = credits
        net = line_net(quantity, first.unit_price) if first.unit_price is not None else \
            sum((m.net for m in members), ZERO)
        out.append(replace(first, quantity=quantity, net=net, reference=ref))
    return out


# --------------------------------------------------------------------------- discounts

def split_cents(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` (2 dp, ≥ 0) over non-negative ``weights`` pro rata, to the cent, summing
    exactly to ``total``; no share exceeds its weight when total ≤ sum(weights)."""
    whole = sum(weights, Decimal(0))
    if not weights or whole <= 0 or total == 0:
        return [ZERO for _ in weights]
    with localcontext() as ctx:
        ctx.prec = 34
        exact = [total * w / whole for w in weights]
        shares = [e.quantize(CENT, rounding=ROUND_FLOOR) for e in exact]
        missing = int(((total - sum(shares, ZERO)) / CENT).to_integral_value())
        order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
        for i in order[:missing]:
            shares[i] += CENT
    return shares


def _volume(discount: Discount, lines: Sequence[PriceLine]) -> Decimal:
    """kWh (ENERGY lines) or sessions of the discount's scope, ignoring its product filter."""
    scope = replace(discount.scope, products=None)
    chosen = [ln for ln in lines
              if scope.matches(ln.reference.get("power_type"), ln.reference.get("category"), ln.product)]
    if discount.basis == "sessions":
        ids: set[str] = set()
        credits: set[str] = set()
        for ln in chosen:
            ids.update(ln.reference.get("cdr_ids") or ())
            credits.update(ln.reference.get("credit_cdr_ids") or ())
        return Decimal(len(ids - credits) - len(credits))
    return sum((ln.quantity for ln in chosen if ln.product == ENERGY), Decimal(0))


def _percent(discount: Discount, volume: Decimal) -> Decimal:
    """The effective percentage: the reached tier ('whole') or the volume-weighted bands ('graduated')."""
    if discount.type == "percentage":
        return discount.percent or Decimal(0)
    tiers = discount.tiers
    if discount.mode != "graduated":
        reached = [pct for start, pct in tiers if volume >= start]
        return reached[-1] if reached else Decimal(0)
    if volume <= 0:
        return Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 34
        weighted = Decimal(0)
        for k, (start, pct) in enumerate(tiers):
            end = tiers[k + 1][0] if k + 1 < len(tiers) else volume
            band = max(Decimal(0), min(volume, end) - start)
            weighted += band * pct
        return weighted / volume


def apply_discounts(lines: Sequence[PriceLine], discounts: Sequence[Discount]) -> tuple[list[PriceLine], list[Problem]]:
    """Discount lines for the period lines ``lines`` (see the module doc)."""
    remaining = [ln.net for ln in lines]
    out: list[PriceLine] = []
    problems: list[Problem] = []
    for d in discounts:
        idx = [i for i, ln in enumerate(lines)
               if d.scope.matches(ln.reference.get("power_type"), ln.reference.get("category"), ln.product)]
        base = sum((remaining[i] for i in idx), ZERO)
        if base <= 0:
            continue
        volume = _volume(d, lines)
        if d.type == "cap":
            amount = max(ZERO, base - (d.max_net or ZERO))
            pct = None
        else:
            pct = _percent(d, volume)
            with localcontext() as ctx:
                ctx.prec = 34
                amount = round_amount(base * pct / HUNDRED)
        amount = min(max(amount, ZERO), base)
        if amount == 0:
            continue
        groups: dict[tuple, list[int]] = {}
        for i in idx:
            ln = lines[i]
            groups.setdefault((ln.tax_class, ln.tax_rate, ln.tax_treatment), []).append(i)
        keys = list(groups)
        per_group = split_cents(amount, [max(ZERO, sum((remaining[i] for i in groups[k]), ZERO)) for k in keys])
        for key, share in zip(keys, per_group):
            if share == 0:
                continue
            members = groups[key]
            for i, cut in zip(members, split_cents(share, [max(ZERO, remaining[i]) for i in members])):
                remaining[i] -= cut
            group_base = sum((lines[i].net for i in members), ZERO)
            tax_class, rate, treatment = key
            text = d.description or d.id
            if pct is not None:
                unit = "sessions" if d.basis == "sessions" else "kWh"
                text += f": {pct.normalize():f} %" + (f" ({volume.normalize():f} {unit})" if d.type == "volume" else "")
            else:
                text += f": capped at {d.max_net}"
            ref = {"discount_id": d.id, "type": d.type, "base": str(group_base), "amount": str(share),
                   "percent": None if pct is None else str(pct), "volume": str(volume), "basis": d.basis,
                   "cdr_ids": sorted({c for i in members for c in (lines[i].reference.get("cdr_ids") or ())})}
            out.append(PriceLine(DISCOUNT, text, Decimal(1), "item", -share, -share, rate, treatment, tax_class,
                                 reference=ref))
    return out, problems


# --------------------------------------------------------------------------- one period

def msp_period(bundle: Any, sessions: Sequence[StreamPrice | tuple[Mapping[str, Any], Mapping[str, Any]]], *,
               msp: Mapping[str, Any], period_start: date, period_end: date) -> StreamPrice:
    """The consolidated document of one MSP for one period (both dates inclusive, local).

    ``sessions`` are the period's sessions of this MSP, priced (StreamPrice from
    ``price_for_stream``) or as (cdr, facts). Sessions dated outside the period, priced for another
    MSP tariff, or not priceable are errors: the document is not complete without them.
    """
    problems: list[Problem] = []
    priced: list[StreamPrice] = []
    for item in sessions:
        if isinstance(item, StreamPrice):
            priced.append(item)
        else:
            from engine.rates import price_for_stream  # credit CDRs need the dispatcher
            priced.append(price_for_stream(STREAM, dict(item[0]), dict(item[1]), bundle))
    book = msp_tariffs_of(bundle)
    tariff: MspTariff | None = book.get(msp.get("tariff_id"))
    if tariff is None:
        problems.append(Problem("MSP_TARIFF_UNKNOWN", f"MSP tariff {msp.get('tariff_id')!r} is not in "
                                f"rules/msp_tariffs.yaml", path="msp.tariff_id"))
    lines: list[PriceLine] = []
    for sp in priced:
        for p in sp.errors:
            problems.append(replace(p, extra=dict(p.extra, cdr_id=sp.cdr_id)))
        for p in sp.warnings:
            problems.append(replace(p, extra=dict(p.extra, cdr_id=sp.cdr_id)))
        for ln in sp.lines:
            day = as_date(ln.reference.get("session_date"))
            if day is not None and not (period_start <= day <= period_end) and not ln.reference.get("credit"):
                problems.append(Problem("SESSION_OUTSIDE_PERIOD", f"CDR {sp.cdr_id} is dated {day}, outside "
                                        f"{period_start} – {period_end}", path="sessions"))
                break
            if tariff is not None and ln.reference.get("tariff_id") not in (None, tariff.id):
                problems.append(Problem("MSP_TARIFF_MIXED", f"CDR {sp.cdr_id} was priced with MSP tariff "
                                        f"{ln.reference.get('tariff_id')!r}, the contract names {tariff.id!r}",
                                        path="sessions"))
                break
        lines += sp.lines
    period_lines = aggregate(lines)
    version: MspVersion | None = tariff.version_on(period_end) if tariff else None
    if tariff is not None and version is None:
        problems.append(Problem("MSP_TARIFF_NOT_VALID", f"MSP tariff {tariff.id!r} has no version valid on "
                                f"{period_end}: no discounts applied", path="msp.tariff_id", severity="warning"))
    if tariff is not None and len({ln.reference.get("version") for ln in period_lines}) > 1:
        problems.append(Problem("MSP_TARIFF_VERSION_CHANGE", f"the period spans two versions of {tariff.id!r}: "
                                f"discounts of {version.version if version else '-'} apply to all lines",
                                path="msp.tariff_id", severity="info"))
    discount_lines, found = apply_discounts(period_lines, version.discounts if version else ())
    problems += found
    taxes = [sp.tax for sp in priced if sp.tax is not None]
    source = tariff.source(version) if tariff and version else ({"kind": "msp_tariff", "id": msp.get("tariff_id")})
    source = dict(source, period={"start": period_start.isoformat(), "end": period_end.isoformat()},
                  msp={k: msp.get(k) for k in ("party", "contract_id", "name", "country", "vat_id", "reseller")})
    return build_price(STREAM, period_lines + discount_lines, tax=taxes[0] if taxes else None,
                       currency=tariff.currency if tariff else None, source=source,
                       warnings=tuple(p for p in problems if not p.is_error),
                       errors=tuple(p for p in problems if p.is_error))
