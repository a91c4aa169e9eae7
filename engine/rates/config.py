"""Build the price kinds ``tariffs``, ``tariff_plans`` and ``msp_tariffs`` and check what their
schemas cannot: duplicate ids, overlapping versions (error) and gaps (warning), currencies that
change between versions, unit prices with more than 4 decimals (EN 16931 BT-146), categories
that do not exist, volume tiers out of order, OCPI tariffs the pricing engine cannot read.

Importing this module registers the three kinds with the bundle loader.
"""

from __future__ import annotations

import difflib
from datetime import datetime, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Callable, Iterable

from engine.config.bundle import Document, register_kind
from engine.config.yamlload import Loc, location_of, plain
from engine.money import UNIT_PRICE_QUANTUM
from engine.pricing.tariff import parse_tariff
from engine.problems import Problem
from engine.rates.books import (
    ANY_CATEGORY, DEFAULT_CATEGORIES, Discount, MspPriceRow, MspTariff, MspTariffBook, MspVersion,
    Plan, PlanBook, PlanVersion, PublicTariff, Scope, TariffBook,
)
from engine.rates.ratecard import POWER_TYPES, RateCard, parse_card
from engine.tax.periods import Period, as_date, check_sequence, problem_at

TARIFFS, PLANS, MSP_TARIFFS = "tariffs", "tariff_plans", "msp_tariffs"


def _precision(card: RateCard, what: str, problems: list[Problem]) -> None:
    for price in card.prices:
        if price != price.quantize(UNIT_PRICE_QUANTUM):
            problems.append(problem_at(card.loc, "rates.price_precision",
                                       f"{what}: price {price} has more than 4 decimals (EN 16931 unit prices "
                                       f"have at most 4)"))


def _duplicate_ids(items: Iterable[tuple[str, Loc | None]], what: str) -> list[Problem]:
    seen: dict[str, Loc | None] = {}
    problems = []
    for ident, loc in items:
        if ident in seen:
            first = seen[ident]
            problems.append(problem_at(loc, "rates.duplicate_id",
                                       f"{what} id {ident!r} already defined at line {first.line if first else '?'}"))
        seen.setdefault(ident, loc)
    return problems


# --------------------------------------------------------------------------- tariffs

def _instant(text: Any) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(str(text).rstrip("Z"))
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def build_tariffs(docs: list[Document]) -> tuple[TariffBook, list[Problem]]:
    """Builder for ``kind: tariffs``."""
    problems: list[Problem] = []
    versions: dict[str, list[PublicTariff]] = {}
    for doc in docs:
        for i, raw in enumerate(doc.data["tariffs"]):
            loc = location_of(doc.data, ["tariffs", i])
            data = plain(raw)
            start, end = _instant(data.get("start_date_time")), _instant(data.get("end_date_time"))
            data["start_date_time"], data["end_date_time"] = start, end
            data = {k: v for k, v in data.items() if v is not None}
            _, found = parse_tariff(data, f"tariffs[{i}]")
            for p in found:
                problems.append(problem_at(loc, f"tariff.{p.code.lower()}", f"tariff {raw['id']!r}: {p.message}",
                                           severity="warning" if not p.is_error else "error", path=p.path))
            for j, el in enumerate(raw["elements"]):
                for k, pc in enumerate(el["price_components"]):
                    price = Decimal(pc["price"])
                    if price != price.quantize(UNIT_PRICE_QUANTUM):
                        problems.append(problem_at(
                            location_of(doc.data, ["tariffs", i, "elements", j, "price_components", k, "price"]),
                            "rates.price_precision", f"tariff {raw['id']!r}: price {price} has more than 4 decimals"))
            tariff = PublicTariff(str(raw["id"]), raw["currency"], MappingProxyType(data), start, end, loc)
            if start and end and end <= start:
                problems.append(problem_at(loc, "validity.inverted",
                                           f"tariff {tariff.id!r}: end_date_time is not after start_date_time"))
            versions.setdefault(tariff.id, []).append(tariff)
    for tariff_id, group in versions.items():
        problems += _tariff_windows(tariff_id, group)
    book = TariffBook(MappingProxyType({k: tuple(sorted(v, key=lambda t: t.start or datetime.min.replace(
        tzinfo=timezone.utc))) for k, v in versions.items()}))
    return book, problems


def _tariff_windows(tariff_id: str, group: list[PublicTariff]) -> list[Problem]:
    problems = []
    low = datetime.min.replace(tzinfo=timezone.utc)
    ordered = sorted(group, key=lambda t: t.start or low)
    for prev, cur in zip(ordered, ordered[1:]):
        if prev.end is None or (cur.start or low) < prev.end:
            problems.append(problem_at(cur.loc, "validity.overlap",
                                       f"tariff {tariff_id!r}: two versions are active at the same time "
                                       f"(set end_date_time / start_date_time so they do not overlap)"))
        elif cur.start is not None and cur.start > prev.end:
            problems.append(problem_at(cur.loc, "validity.gap",
                                       f"tariff {tariff_id!r}: no version active from {prev.end.isoformat()} "
                                       f"to {cur.start.isoformat()}", severity="warning"))
        if cur.currency != prev.currency:
            problems.append(problem_at(cur.loc, "rates.currency_mismatch",
                                       f"tariff {tariff_id!r}: versions in {prev.currency} and {cur.currency}"))
    return problems


# --------------------------------------------------------------------------- plans

def build_plans(docs: list[Document]) -> tuple[PlanBook, list[Problem]]:
    """Builder for ``kind: tariff_plans``."""
    problems: list[Problem] = []
    plans: dict[str, Plan] = {}
    ids: list[tuple[str, Loc | None]] = []
    for doc in docs:
        for i, raw in enumerate(doc.data["plans"]):
            loc = location_of(doc.data, ["plans", i])
            ids.append((raw["id"], loc))
            versions = []
            for j, rv in enumerate(raw["versions"]):
                vpath = ["plans", i, "versions", j]
                cards = {}
                for pt in POWER_TYPES:
                    if pt in rv["rates"]:
                        card = parse_card(rv["rates"][pt], location_of(doc.data, vpath + ["rates", pt]))
                        _precision(card, f"plan {raw['id']!r} {rv['version']} {pt}", problems)
                        cards[pt] = card
                fee = Decimal(rv["base_fee"])
                if fee != fee.quantize(Decimal("0.01")):
                    problems.append(problem_at(location_of(doc.data, vpath + ["base_fee"]), "rates.fee_precision",
                                               f"plan {raw['id']!r}: base_fee {fee} must have at most 2 decimals"))
                versions.append(PlanVersion(str(rv["version"]), Period(as_date(rv["valid_from"]),
                                                                      as_date(rv.get("valid_to"))),
                                            fee, MappingProxyType(cards), location_of(doc.data, vpath)))
            problems += check_sequence([(v.period, v.loc) for v in versions], f"plan {raw['id']!r}")
            problems += _duplicate_ids(((v.version, v.loc) for v in versions), f"plan {raw['id']!r} version")
            plan = Plan(raw["id"], raw["name"], raw["currency"], bool(raw["prices_include_vat"]),
                        tuple(sorted(versions, key=lambda v: v.period.valid_from)), raw["billing_cycle"],
                        raw.get("customer_type"), loc)
            plans.setdefault(plan.id, plan)
    problems += _duplicate_ids(ids, "plan")
    return PlanBook(MappingProxyType(plans)), problems


# --------------------------------------------------------------------------- MSP tariffs

def _unknown_category(category: str, known: frozenset[str], loc: Loc | None, what: str) -> Problem:
    close = difflib.get_close_matches(category, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return problem_at(loc, "msp.unknown_category",
                      f"{what}: location category {category!r} is not one of {sorted(known)}{hint}")


def _discount(raw: dict[str, Any], loc: Loc | None, known: frozenset[str], what: str,
              problems: list[Problem]) -> Discount:
    scope_raw = raw.get("applies_to") or {}
    categories = scope_raw.get("categories")
    for cat in categories or ():
        if cat not in known:
            problems.append(_unknown_category(cat, known, loc, f"{what} discount {raw['id']!r}"))
    tiers = tuple((Decimal(t["from"]), Decimal(t["percent"])) for t in raw.get("tiers") or ())
    if any(b[0] <= a[0] for a, b in zip(tiers, tiers[1:])):
        problems.append(problem_at(loc, "msp.tiers_order",
                                   f"{what} discount {raw['id']!r}: tier thresholds must strictly ascend"))
    scope = Scope(scope_raw.get("power_type"), frozenset(categories) if categories else None,
                  frozenset(scope_raw["products"]) if scope_raw.get("products") else None)
    return Discount(raw["id"], raw["type"], raw.get("description"), scope, raw.get("basis", "kwh"),
                    raw.get("mode", "whole"), tiers,
                    Decimal(raw["percent"]) if raw.get("percent") is not None else None,
                    Decimal(raw["max_net"]) if raw.get("max_net") is not None else None, loc)


def _msp_version(doc: Document, path: list[Any], tariff_id: str, known: frozenset[str],
                 problems: list[Problem]) -> MspVersion:
    rv = doc.data
    for step in path:
        rv = rv[step]
    what = f"MSP tariff {tariff_id!r} {rv['version']}"
    rows = []
    seen: dict[tuple[str, str], Loc | None] = {}
    for k, raw in enumerate(rv["prices"]):
        loc = location_of(doc.data, path + ["prices", k])
        card = parse_card(raw, loc)
        _precision(card, what, problems)
        key = (raw["power_type"], raw["category"])
        if raw["category"] != ANY_CATEGORY and raw["category"] not in known:
            problems.append(_unknown_category(raw["category"], known, location_of(doc.data, path + ["prices", k, "category"]), what))
        if key in seen:
            problems.append(problem_at(loc, "msp.duplicate_row",
                                       f"{what}: a second price row for {key[0]}/{key[1]} "
                                       f"(first at line {seen[key].line if seen[key] else '?'})"))
        seen.setdefault(key, loc)
        rows.append(MspPriceRow(raw["power_type"], raw["category"], card, loc))
    for pt in {r.power_type for r in rows}:
        if (pt, ANY_CATEGORY) not in seen:
            missing = sorted(c for c in known if (pt, c) not in seen)
            if missing:
                problems.append(problem_at(location_of(doc.data, path + ["prices"]), "msp.uncovered",
                                           f"{what}: no {pt} price for categories {missing} and no '*' row: "
                                           f"such sessions cannot be priced", severity="warning"))
    discounts = [_discount(raw, location_of(doc.data, path + ["discounts", d]), known, what, problems)
                 for d, raw in enumerate(rv.get("discounts") or [])]
    problems += _duplicate_ids(((d.id, d.loc) for d in discounts), f"{what} discount")
    return MspVersion(str(rv["version"]), Period(as_date(rv["valid_from"]), as_date(rv.get("valid_to"))),
                      tuple(rows), tuple(discounts), location_of(doc.data, path))


def build_msp_tariffs(docs: list[Document]) -> tuple[MspTariffBook, list[Problem]]:
    """Builder for ``kind: msp_tariffs``."""
    problems: list[Problem] = []
    declared = [d for d in docs if d.data.get("location_categories")]
    known = frozenset(declared[0].data["location_categories"]) if declared else frozenset(DEFAULT_CATEGORIES)
    for extra in declared[1:]:
        if frozenset(extra.data["location_categories"]) != known:
            problems.append(problem_at(location_of(extra.data, ["location_categories"]), "msp.categories_conflict",
                                       f"location_categories differ from {declared[0].file}"))
    tariffs: dict[str, MspTariff] = {}
    ids: list[tuple[str, Loc | None]] = []
    for doc in docs:
        for i, raw in enumerate(doc.data["tariffs"]):
            loc = location_of(doc.data, ["tariffs", i])
            ids.append((raw["id"], loc))
            versions = [_msp_version(doc, ["tariffs", i, "versions", j], raw["id"], known, problems)
                        for j in range(len(raw["versions"]))]
            problems += check_sequence([(v.period, v.loc) for v in versions], f"MSP tariff {raw['id']!r}")
            problems += _duplicate_ids(((v.version, v.loc) for v in versions), f"MSP tariff {raw['id']!r} version")
            tariff = MspTariff(raw["id"], raw["currency"], tuple(sorted(versions, key=lambda v: v.period.valid_from)),
                               raw.get("name"), loc)
            tariffs.setdefault(tariff.id, tariff)
    problems += _duplicate_ids(ids, "MSP tariff")
    return MspTariffBook(MappingProxyType(tariffs), known), problems


# --------------------------------------------------------------------------- access from a bundle

def _ext(bundle: Any, kind: str, empty: Callable[[], Any]) -> Any:
    """The bundle's built ``kind``, else ``empty()`` (made only then: every priced CDR asks)."""
    built = (getattr(bundle, "extensions", None) or {}).get(kind) if bundle is not None else None
    return built if built is not None else empty()


def tariffs_of(bundle: Any) -> TariffBook:
    return _ext(bundle, TARIFFS, TariffBook)


def plans_of(bundle: Any) -> PlanBook:
    return _ext(bundle, PLANS, PlanBook)


def msp_tariffs_of(bundle: Any) -> MspTariffBook:
    return _ext(bundle, MSP_TARIFFS, MspTariffBook)


register_kind(TARIFFS, build_tariffs)
register_kind(PLANS, build_plans)
register_kind(MSP_TARIFFS, build_msp_tariffs)
