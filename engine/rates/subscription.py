"""Subscription stream: sessions at the customer's plan rates, and the documents of one cycle.

A session is priced at the plan version valid on its local date (``facts.session_date``), with
the rates of its power type. B2C plans are quoted gross: lines then carry the gross amount the
customer was promised and the net is derived per VAT rate (``engine.tax.totals``).

``billing_cycle`` makes the two documents of one cycle:

* the base fee, pro-rata to the day for a start, an end or a plan change inside the cycle
  (plan A until 2026-10-14, plan B from 2026-10-15: 14/31 of A's fee + 17/31 of B's). The
  segments are rounded *cumulatively* (each line = round(running exact total) − round(previous
  running total)), so a full cycle whose plan changes at the same price sums to exactly the fee,
  and each line is within a cent of its exact share and never above its plan's fee. When part
  of the cycle was billed in advance (``billed``), the result is the difference per plan: a
  credit is never larger than what was billed for that plan — no "credit larger than the fee".
* the consumption document: every session of the cycle at plan rates, VAT once per rate on
  the summed nets of the whole document.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import Any, Mapping, Sequence

from engine.money import round_amount, round_unit_price, to_decimal
from engine.problems import Problem
from engine.rates.books import Plan, PlanVersion
from engine.rates.common import cdr_reference, currency_check, session_day, treatment
from engine.rates.config import plans_of
from engine.rates.model import SUBSCRIPTION, PriceLine, StreamPrice, build_price, failed, session_price
from engine.rates.ratecard import power_type_of, session_lines, session_usage
from engine.tax.config import tax_rules_of
from engine.tax.periods import as_date
from engine.tax.treatment import TaxTreatment, decide_treatment

STREAM = "subscription"
ZERO = Decimal("0.00")


# --------------------------------------------------------------------------- one session

def price_subscription_session(cdr: Mapping[str, Any], facts: Mapping[str, Any], bundle: Any) -> StreamPrice:
    """Price one session at the rates of the customer's plan valid on the session date."""
    cdr_id = cdr.get("id")
    day, problems = session_day(cdr, facts)
    if day is None:
        return failed(STREAM, problems, cdr_id=cdr_id)
    plan_id = (facts.get("subscription") or {}).get("plan_id")
    plan = plans_of(bundle).get(plan_id)
    if plan is None:
        problems.append(Problem("PLAN_UNKNOWN", f"plan {plan_id!r} is not in rules/tariff_plans.yaml"
                                if plan_id else "the session has no subscription plan (facts.subscription.plan_id)",
                                path="facts.subscription.plan_id"))
        return _fail(problems, cdr_id)
    version, plan_source = plan.session_lookup(day)
    if version is None:
        problems.append(Problem("PLAN_NOT_VALID", f"plan {plan.id!r} has no version valid on {day.isoformat()}",
                                path="facts.subscription.plan_id"))
        return _fail(problems, cdr_id)
    source = dict(plan_source)
    power = power_type_of(cdr)
    card = version.cards.get(power) if power else None
    if card is None:
        problems.append(Problem("PLAN_NO_RATE", f"plan {plan.id!r} {version.version} has no rates for power type "
                                f"{power or 'unknown'} (cdr_location.connector_power_type)",
                                path="cdr_location.connector_power_type"))
        return _fail(problems, cdr_id, source=source)
    tax, found = treatment(bundle, STREAM, cdr, facts, day)
    problems += found
    if tax is None:
        return _fail(problems, cdr_id, source=source)
    energy, charging, _, idle, found = session_usage(cdr, card)
    problems += found
    problems += currency_check(cdr, plan.currency, f"plan {plan.id!r}")
    reference = cdr_reference(cdr)  # a new dict: completed here rather than copied
    reference.update(plan_id=plan.id, version=version.version, power_type=power)
    gross = plan.prices_include_vat
    lines = session_lines(card, energy, charging, idle, tax, gross, power, reference)
    return session_price(STREAM, lines, prices_include_vat=gross, tax=tax, currency=plan.currency, source=source,
                         cdr_id=cdr_id, problems=problems)


def _fail(problems: list[Problem], cdr_id: Any, **kwargs: Any) -> StreamPrice:
    return failed(STREAM, [p for p in problems if p.is_error], cdr_id=cdr_id,
                  warnings=[p for p in problems if not p.is_error], **kwargs)


# --------------------------------------------------------------------------- one cycle

def monthly_cycle(day: date, anchor_day: int = 1) -> tuple[date, date]:
    """The monthly cycle containing ``day`` that starts on ``anchor_day`` (clamped to month end)."""
    def start_in(year: int, month: int) -> date:
        return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))

    start = start_in(day.year, day.month)
    if day < start:
        start = start_in(day.year - (day.month == 1), 12 if day.month == 1 else day.month - 1)
    nxt = start_in(start.year + (start.month == 12), 1 if start.month == 12 else start.month + 1)
    return start, nxt - timedelta(days=1)


@dataclass(frozen=True)
class FeeSegment:
    """Days of one cycle at one plan version."""

    plan: Plan
    version: PlanVersion
    start: date
    end: date                 # inclusive
    cycle_days: int
    amount: Decimal = ZERO    # the pro-rata fee (gross for gross plans), after cumulative rounding

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def to_json(self) -> dict[str, Any]:
        return {"plan_id": self.plan.id, "version": self.version.version, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "days": self.days, "cycle_days": self.cycle_days,
                "fee": str(self.version.base_fee), "amount": str(self.amount)}


@dataclass(frozen=True)
class CycleDocuments:
    cycle_start: date
    cycle_end: date
    base_fee: StreamPrice
    consumption: StreamPrice
    segments: tuple[FeeSegment, ...] = ()
    warnings: tuple[Problem, ...] = ()
    errors: tuple[Problem, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"cycle": {"start": self.cycle_start.isoformat(), "end": self.cycle_end.isoformat()},
                "segments": [s.to_json() for s in self.segments],
                "base_fee": self.base_fee.to_json(), "consumption": self.consumption.to_json(),
                "warnings": [w.to_dict() for w in self.warnings], "errors": [e.to_dict() for e in self.errors]}


def fee_segments(plans: Mapping[str, Plan] | Any, subscriptions: Sequence[Mapping[str, Any]], cycle_start: date,
                 cycle_end: date) -> tuple[list[FeeSegment], list[Problem]]:
    """Split the cycle by subscription record and plan version; report overlaps and unknown plans.

    Only the validity dates of a record count (``valid_to`` inclusive): a record that was ended by
    a plan change was active during its validity whatever its status says today.
    """
    problems: list[Problem] = []
    cycle_days = (cycle_end - cycle_start).days + 1
    segments: list[FeeSegment] = []
    get = plans.get
    for i, sub in enumerate(subscriptions):
        start = max(cycle_start, as_date(sub.get("valid_from")) or cycle_start)
        end = min(cycle_end, as_date(sub.get("valid_to")) or cycle_end)
        if start > end:
            continue
        plan = get(sub.get("plan_id"))
        if plan is None:
            problems.append(Problem("PLAN_UNKNOWN", f"plan {sub.get('plan_id')!r} is not in rules/tariff_plans.yaml",
                                    path=f"subscriptions[{i}].plan_id"))
            continue
        day = start
        while day <= end:
            version = plan.version_on(day)
            if version is None:
                problems.append(Problem("PLAN_NOT_VALID", f"plan {plan.id!r} has no version valid on {day}",
                                        path=f"subscriptions[{i}]"))
                nxt = next((v.period.valid_from for v in plan.versions if v.period.valid_from > day), None)
                if nxt is None or nxt > end:
                    break
                day = nxt
                continue
            seg_end = min(end, version.period.valid_to or end)
            segments.append(FeeSegment(plan, version, day, seg_end, cycle_days))
            day = seg_end + timedelta(days=1)
    segments.sort(key=lambda s: s.start)
    for prev, cur in zip(segments, segments[1:]):
        if cur.start <= prev.end:
            problems.append(Problem("SUBSCRIPTION_OVERLAP", f"plans {prev.plan.id!r} and {cur.plan.id!r} both cover "
                                    f"{cur.start.isoformat()}: the base fee would be charged twice",
                                    path="subscriptions"))
    return segments, problems


def prorate(segments: Sequence[FeeSegment]) -> list[FeeSegment]:
    """Cumulative rounding of fee × days / cycle_days, each amount clamped to [0, its fee]."""
    out = []
    running = Decimal(0)
    shown = ZERO
    with localcontext() as ctx:
        ctx.prec = 34
        for seg in segments:
            running += seg.version.base_fee * seg.days / seg.cycle_days
            target = round_amount(running)
            amount = min(max(target - shown, ZERO), seg.version.base_fee)
            shown += amount
            out.append(replace(seg, amount=amount))
    return out


def _fee_line(text: str, quantity: Decimal, unit: str, amount: Decimal, fee_per_unit: Decimal, plan: Plan,
              tax: TaxTreatment, reference: Mapping[str, Any]) -> PriceLine:
    if plan.prices_include_vat:
        with localcontext() as ctx:
            ctx.prec = 34
            divisor = 1 + tax.rate / 100
            return PriceLine(SUBSCRIPTION, text, quantity, unit, round_unit_price(fee_per_unit / divisor),
                             round_amount(amount / divisor), tax.rate, tax.treatment, tax.tax_class, gross=amount,
                             unit_price_gross=round_unit_price(fee_per_unit), reference=dict(reference))
    return PriceLine(SUBSCRIPTION, text, quantity, unit, round_unit_price(fee_per_unit), amount, tax.rate,
                     tax.treatment, tax.tax_class, reference=dict(reference))


def billing_cycle(bundle: Any, subscriptions: Sequence[Mapping[str, Any]], cycle_start: date,
                  cycle_end: date | None = None, *,
                  sessions: Sequence[StreamPrice | tuple[Mapping[str, Any], Mapping[str, Any]]] = (),
                  billed: Mapping[str, Any] | None = None, customer: Mapping[str, Any] | None = None,
                  tax_country: str | None = None) -> CycleDocuments:
    """The base-fee and consumption documents of one billing cycle (pure).

    * ``subscriptions``: the customer's subscription records touching the cycle
      (``{plan_id, valid_from, valid_to}``; a plan change is two records).
    * ``cycle_end`` defaults to the end of the calendar month of ``cycle_start``.
    * ``sessions``: the cycle's sessions, already priced (StreamPrice) or as (cdr, facts).
    * ``billed``: amounts already invoiced for this cycle per plan id (gross for gross plans);
      the base-fee document is then the correction (never a credit above what was billed).
    * ``tax_country``: where the base fee is taxed (default: the tax rules' supplier country).
    """
    cycle_end = cycle_end or monthly_cycle(cycle_start, cycle_start.day)[1]
    problems: list[Problem] = []
    segments, found = fee_segments(plans_of(bundle).plans, subscriptions, cycle_start, cycle_end)
    problems += found
    segments = prorate(segments)
    base = _base_fee_document(bundle, segments, billed or {}, customer, tax_country, cycle_end, problems)
    consumption = consumption_document(bundle, sessions)
    errors = [p for p in problems if p.is_error] + list(base.errors) + list(consumption.errors)
    warnings = [p for p in problems if not p.is_error]
    return CycleDocuments(cycle_start, cycle_end, base, consumption, tuple(segments),
                          tuple(dict.fromkeys(warnings)), tuple(dict.fromkeys(errors)))


def _base_fee_document(bundle: Any, segments: Sequence[FeeSegment], billed: Mapping[str, Any],
                       customer: Mapping[str, Any] | None, tax_country: str | None, cycle_end: date,
                       problems: list[Problem]) -> StreamPrice:
    rules = tax_rules_of(bundle)
    book = plans_of(bundle)
    country = tax_country or rules.supplier_country
    facts = {"customer": dict(customer) if customer else None}
    plans = {s.plan.id: s.plan for s in segments}
    for plan_id in billed:
        plan = book.get(plan_id)
        if plan is None:
            return failed(STREAM, [Problem("PLAN_UNKNOWN", f"billed plan {plan_id!r} is not in "
                                           f"rules/tariff_plans.yaml", path=f"billed.{plan_id}")])
        plans.setdefault(plan_id, plan)
    bases = {p.prices_include_vat for p in plans.values()}
    if len(bases) > 1:
        return failed(STREAM, [Problem("MIXED_PRICE_BASIS", "gross and net plans in one cycle: the base-fee "
                                       "document cannot mix them", path="subscriptions")])
    gross = bases.pop() if bases else False

    def tax_on(day: date) -> TaxTreatment | None:
        tax, found = decide_treatment(rules, STREAM, facts, location_country=country, on=day)
        problems.extend(found)
        return tax

    by_plan: dict[str, list[PriceLine]] = {}
    taxes: list[TaxTreatment] = []
    for seg in segments:
        if seg.version.base_fee == 0:
            continue  # a plan without a fee gives no line (its days still count in the segments)
        tax = tax_on(seg.end)  # periodic supply: the rate of the segment's last day
        if tax is None:
            return failed(STREAM, [p for p in problems if p.is_error])
        taxes.append(tax)
        text = (f"{seg.plan.name} base fee {seg.start.isoformat()} – {seg.end.isoformat()} "
                f"({seg.days}/{seg.cycle_days} days)")
        ref = {"plan_id": seg.plan.id, "version": seg.version.version, "start": seg.start.isoformat(),
               "end": seg.end.isoformat(), "days": seg.days, "cycle_days": seg.cycle_days}
        with localcontext() as ctx:
            ctx.prec = 34
            per_day = seg.version.base_fee / seg.cycle_days
        by_plan.setdefault(seg.plan.id, []).append(
            _fee_line(text, Decimal(seg.days), "day", seg.amount, per_day, seg.plan, tax, ref))
    lines: list[PriceLine] = []
    for plan_id in list(by_plan) + [p for p in billed if p not in by_plan]:
        plan_lines = by_plan.get(plan_id, [])
        if plan_id not in billed:
            lines += plan_lines
            continue
        tax = taxes[-1] if plan_lines else tax_on(cycle_end)
        if tax is None:
            return failed(STREAM, [p for p in problems if p.is_error])
        taxes.append(tax)
        already = to_decimal(billed[plan_id], field=f"billed.{plan_id}")
        lines += _correction(plans[plan_id], plan_lines, already, gross, tax)
    tax = taxes[0] if taxes else None
    source = {"kind": "plan", "ids": sorted(plans)} if plans else None
    currencies = {p.currency for p in plans.values()}
    return build_price(STREAM, lines, prices_include_vat=gross, tax=tax,
                       currency=currencies.pop() if len(currencies) == 1 else None,
                       source=source, warnings=tuple(p for p in problems if not p.is_error))


def _correction(plan: Plan, plan_lines: list[PriceLine], already: Decimal, gross: bool,
                tax: TaxTreatment) -> list[PriceLine]:
    """One line: what this cycle owes for the plan minus what was billed in advance.

    ``due`` is never negative, so the line is never below −``already``: a credit can give back at
    most what was billed for that plan (and what was billed is at most the fee).
    """
    due = sum(((ln.gross if gross else ln.net) for ln in plan_lines), ZERO)
    delta = max(due - already, -already)
    if delta == 0:
        return []
    what = "credit for unused days" if delta < 0 else "remaining days"
    text = f"{plan.name} base fee: {what} (due {due}, billed {already})"
    ref = {"plan_id": plan.id, "due": str(due), "billed": str(already)}
    if gross:
        with localcontext() as ctx:
            ctx.prec = 34
            net = round_amount(delta / (1 + tax.rate / 100))
        return [PriceLine(SUBSCRIPTION, text, Decimal(1), "item", None, net, tax.rate, tax.treatment, tax.tax_class,
                          gross=delta, reference=ref)]
    return [PriceLine(SUBSCRIPTION, text, Decimal(1), "item", delta, delta, tax.rate, tax.treatment, tax.tax_class,
                      reference=ref)]


def consumption_document(bundle: Any, sessions: Sequence[StreamPrice | tuple[Mapping[str, Any], Mapping[str, Any]]]
                         ) -> StreamPrice:
    """Every session of the cycle at plan rates on one document; VAT once per rate over all of them."""
    priced: list[StreamPrice] = []
    for item in sessions:
        if isinstance(item, StreamPrice):
            priced.append(item)
        else:
            from engine.rates import price_for_stream  # credit CDRs need the dispatcher
            cdr, facts = item[0], item[1]
            priced.append(price_for_stream(STREAM, dict(cdr), dict(facts), bundle))
    errors: list[Problem] = []
    warnings: list[Problem] = []
    lines: list[PriceLine] = []
    for sp in priced:
        for p in sp.errors:
            errors.append(replace(p, extra=dict(p.extra, cdr_id=sp.cdr_id)))
        for p in sp.warnings:
            warnings.append(replace(p, extra=dict(p.extra, cdr_id=sp.cdr_id)))
        lines += sp.lines
    bases = {sp.prices_include_vat for sp in priced if sp.lines}
    if len(bases) > 1:
        errors.append(Problem("MIXED_PRICE_BASIS", "sessions priced gross and net in one consumption document",
                              path="sessions"))
        return failed(STREAM, errors, warnings=warnings)
    gross = bases.pop() if bases else False
    currencies = {sp.currency for sp in priced if sp.currency}
    if len(currencies) > 1:
        errors.append(Problem("CURRENCY_MISMATCH", f"sessions in several currencies: {sorted(currencies)}",
                              path="sessions"))
    taxes = [sp.tax for sp in priced if sp.tax is not None]
    source = {"kind": "plan", "ids": sorted({str(sp.source.get("id")) for sp in priced if sp.source})}
    # One invoice: for gross plans the net is derived once per rate over the whole document.
    return build_price(STREAM, lines, prices_include_vat=gross, tax=taxes[0] if taxes else None,
                       currency=currencies.pop() if len(currencies) == 1 else None, source=source,
                       warnings=tuple(warnings), errors=tuple(errors))
