"""Semantic checks of the price and tax configuration that need more than one kind at a time.

The builders (``engine.rates.config``, ``engine.tax.config``) check each kind on its own. These
checks look across kinds and at the operator, and ``reference_problems`` across configuration and
reference data. Each lint check is a plain function ``check(ctx) -> Iterable[Problem]`` for the
linter's registry (it uses only ``ctx.bundle_result`` and ``ctx.problem``); none raises on bad
configuration and none runs when the bundle did not build (the build errors are reported anyway).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Iterable, Iterator, Mapping

from engine.problems import Problem
from engine.rates.config import msp_tariffs_of, plans_of, tariffs_of
from engine.tax.config import tax_rules_of
from engine.tax.rates import alpha2
from engine.tax.treatment import EU_RESELLER, REVERSE_CHARGE, decide_treatment
from engine.tax.vat_id import check_vat_id

PRICE_KINDS = ("tariffs", "tariff_plans", "msp_tariffs")


def _bundle(ctx: Any) -> Any | None:
    result = getattr(ctx, "bundle_result", None)
    return result[0] if result else None


def _problem(code: str, loc: Any, message: str, severity: str = "error", file: str | None = None) -> Problem:
    if loc is not None:
        return Problem(code=code, message=message, file=loc.file, line=loc.line, col=loc.col, severity=severity)
    return Problem(code=code, message=message, file=file, line=1 if file else None, col=1 if file else None,
                   severity=severity)


def tax_rules_present(ctx: Any) -> Iterator[Problem]:
    """tax.missing: prices are configured but no tax_rules file: nothing could be priced."""
    bundle = _bundle(ctx)
    if bundle is None:
        return
    has_prices = any(bundle.docs(kind) for kind in PRICE_KINDS)
    if has_prices and tax_rules_of(bundle).empty:
        yield _problem("tax.missing", None, "price files exist but no 'kind: tax_rules' file: every session "
                       "would fail with TAX_RULES_MISSING", file=bundle.docs(PRICE_KINDS[0])[0].file
                       if bundle.docs(PRICE_KINDS[0]) else "rules")


def tax_supplier_country(ctx: Any) -> Iterator[Problem]:
    """tax.supplier_country: tax_rules.supplier_country differs from operator.country, or has no rate."""
    bundle = _bundle(ctx)
    if bundle is None:
        return
    rules = tax_rules_of(bundle)
    if rules.empty:
        return
    where = bundle.docs("tax_rules")[0].file if bundle.docs("tax_rules") else None
    operator_country = bundle.operator.get("country")
    if operator_country and alpha2(operator_country) != alpha2(rules.supplier_country):
        yield _problem("tax.supplier_country", None, f"tax_rules.supplier_country {rules.supplier_country} differs "
                       f"from the operator's country {operator_country}", file=where)
    if alpha2(rules.supplier_country) not in rules.rates.countries():
        yield _problem("tax.no_supplier_rate", None, f"no VAT rate for the supplier country "
                       f"{rules.supplier_country}: base fees cannot be taxed", severity="warning", file=where)


def price_currencies(ctx: Any) -> Iterator[Problem]:
    """rates.currency_not_operator: a tariff, plan or MSP tariff not in the operator's currency."""
    bundle = _bundle(ctx)
    if bundle is None:
        return
    currency = bundle.operator.get("currency")
    if not currency:
        return
    items = [(f"tariff {t.id!r}", t.currency, t.loc) for versions in tariffs_of(bundle).tariffs.values()
             for t in versions]
    items += [(f"plan {p.id!r}", p.currency, p.loc) for p in plans_of(bundle).plans.values()]
    items += [(f"MSP tariff {t.id!r}", t.currency, t.loc) for t in msp_tariffs_of(bundle).tariffs.values()]
    for label, cur, loc in items:
        if cur != currency:
            yield _problem("rates.currency_not_operator", loc, f"{label} is in {cur}, the operator books in "
                           f"{currency}", severity="warning")


def tariff_vat_rates(ctx: Any) -> Iterator[Problem]:
    """tariff.vat_not_in_tax_rules: a public tariff's ``vat`` is no rate of the tax table at its start.

    The rate billed always comes from the tax rules; a tariff that publishes another one (a
    fraction like 0.19, an outdated 16) shows customers a wrong price breakdown.
    """
    bundle = _bundle(ctx)
    if bundle is None:
        return
    rules = tax_rules_of(bundle)
    if rules.empty:
        return
    for versions in tariffs_of(bundle).tariffs.values():
        for tariff in versions:
            if tariff.start is None:
                continue
            day = tariff.start.date()
            known = {r.rate for r in rules.rates.rates if r.period.contains(day)}
            for element in tariff.data.get("elements") or []:
                for pc in element.get("price_components") or []:
                    vat = pc.get("vat")
                    if vat is not None and Decimal(vat) not in known:
                        yield _problem("tariff.vat_not_in_tax_rules", tariff.loc,
                                       f"tariff {tariff.id!r}: vat {vat} is not a rate of rules/tax_rules.yaml on "
                                       f"{day} (billed VAT comes from the tax rules)", severity="warning")


_OCPI_PRODUCT = {"ENERGY": "ENERGY", "TIME": "TIME", "PARKING_TIME": "PARKING", "FLAT": "SESSION_FEE"}


def _card_products(card: Any) -> set[str]:
    out = set()
    if card.energy is not None:
        out.add("ENERGY")
    if card.time_price:
        out.add("TIME")
    if card.session:
        out.add("SESSION_FEE")
    if card.idle_per_minute:
        out.add("IDLE_FEE")
    return out


def producible(bundle: Any) -> dict[str, tuple[set[str], set[str], Any]]:
    """stream -> (tax treatments its rules can decide, products its prices can produce, a location)."""
    rules = tax_rules_of(bundle)
    treatments = {s: {r.treatment for r in rules.treatments if r.stream in ("*", s)}
                  for s in ("adhoc", "subscription", "msp")}
    adhoc: set[str] = set()
    adhoc_loc = None
    for versions in tariffs_of(bundle).tariffs.values():
        for t in versions:
            adhoc_loc = adhoc_loc or t.loc
            for element in t.data.get("elements") or []:
                for pc in element.get("price_components") or []:
                    adhoc.add(_OCPI_PRODUCT.get(str(pc.get("type")), "SESSION_FEE"))
            if t.data.get("min_price"):
                adhoc.add("SESSION_FEE")
            if t.data.get("max_price"):
                adhoc.add("DISCOUNT")
    sub: set[str] = set()
    sub_loc = None
    for plan in plans_of(bundle).plans.values():
        sub_loc = sub_loc or plan.loc
        for version in plan.versions:
            if version.base_fee:
                sub.add("SUBSCRIPTION")
            for card in version.cards.values():
                sub |= _card_products(card)
    msp: set[str] = set()
    msp_loc = None
    for tariff in msp_tariffs_of(bundle).tariffs.values():
        msp_loc = msp_loc or tariff.loc
        for version in tariff.versions:
            for row in version.rows:
                msp |= _card_products(row.card)
            if version.discounts:
                msp.add("DISCOUNT")
    return {"adhoc": (treatments["adhoc"], adhoc, adhoc_loc),
            "subscription": (treatments["subscription"], sub, sub_loc),
            "msp": (treatments["msp"], msp, msp_loc)}


def posting_coverage(ctx: Any) -> Iterator[Problem]:
    """posting.uncovered: a (stream, tax treatment, product) the prices and tax rules can produce has
    no posting group, so its lines could not be booked. Only runs when posting groups exist."""
    bundle = _bundle(ctx)
    if bundle is None or not bundle.posting_groups or tax_rules_of(bundle).empty:
        return
    have = {(g.get("stream"), g.get("tax_treatment"), g.get("product")) for g in bundle.posting_groups}
    where = bundle.docs("posting_groups")[0].file if bundle.docs("posting_groups") else None
    for stream, (treatments, products, loc) in producible(bundle).items():
        missing = sorted((t, p) for t in treatments for p in products if (stream, t, p) not in have)
        if missing:
            shown = ", ".join(f"{t}/{p}" for t, p in missing)
            yield _problem("posting.uncovered", loc, f"stream {stream}: no posting group for {shown} "
                           f"(add them to {where or 'mappings/posting_groups.yaml'})", severity="warning")


LINT_CHECKS = (tax_rules_present, tax_supplier_country, price_currencies, tariff_vat_rates, posting_coverage)


# --------------------------------------------------------------------------- reference data

def reference_problems(bundle: Any, records: Mapping[str, Iterable[Mapping[str, Any]]], *,
                       on: date | None = None) -> list[Problem]:
    """Reference data against the price and tax configuration (for ``cdrflow load`` or lint).

    ``records`` as loaded by ``engine.reference`` (``subscriptions``, ``msp_contracts``,
    ``locations``). ``on``: only records valid on that day are checked for dated things (pass the
    go-live or period date; None checks all). Problems carry ``path`` = "<kind>[i].field".
    """
    problems: list[Problem] = []
    plans = plans_of(bundle)
    msp_book = msp_tariffs_of(bundle)
    rules = tax_rules_of(bundle)

    def valid(rec: Mapping[str, Any]) -> bool:
        if on is None:
            return True
        start, end = rec.get("valid_from"), rec.get("valid_to")
        return (not start or str(start) <= on.isoformat()) and (not end or on.isoformat() <= str(end))

    for i, sub in enumerate(records.get("subscriptions") or ()):
        if valid(sub) and plans.get(sub.get("plan_id")) is None:
            problems.append(Problem("reference.unknown_plan", f"subscription {sub.get('id')!r} names plan "
                                    f"{sub.get('plan_id')!r}, which rules/tariff_plans.yaml does not define",
                                    path=f"subscriptions[{i}].plan_id"))
    for i, msp in enumerate(records.get("msp_contracts") or ()):
        if not valid(msp):
            continue
        label = f"MSP contract {msp.get('contract_id')!r} ({msp.get('party')})"
        if msp.get("tariff_id") and msp_book.get(msp.get("tariff_id")) is None:
            problems.append(Problem("reference.unknown_msp_tariff", f"{label} names tariff {msp.get('tariff_id')!r}, "
                                    "which rules/msp_tariffs.yaml does not define",
                                    path=f"msp_contracts[{i}].tariff_id"))
        if msp.get("reseller") is None:
            problems.append(Problem("reference.reseller_missing", f"{label}: 'reseller' decides the VAT treatment "
                                    "and must be set", path=f"msp_contracts[{i}].reseller"))
        if msp.get("reseller") and not rules.empty:
            treatment, _ = decide_treatment(rules, "msp", {"msp": dict(msp, vat_id=msp.get("vat_id"))},
                                            location_country=None, on=on or date(2100, 1, 1))
            needs_id = treatment is not None and treatment.treatment in (REVERSE_CHARGE, EU_RESELLER)
            check = check_vat_id(msp.get("vat_id"), expected_country=msp.get("country"))
            if needs_id and not check.valid:
                problems.append(Problem("reference.vat_id_invalid", f"{label}: {check.message} (reverse charge "
                                        "needs the buyer's valid VAT id)", path=f"msp_contracts[{i}].vat_id"))
    for i, loc in enumerate(records.get("locations") or ()):
        if loc.get("category") and loc.get("category") not in msp_book.categories:
            problems.append(Problem("reference.unknown_category", f"location {loc.get('id')!r} has category "
                                    f"{loc.get('category')!r}, not one of rules/msp_tariffs.yaml location_categories",
                                    path=f"locations[{i}].category", severity="warning"))
        country = loc.get("country")
        if country and not rules.empty and alpha2(country) not in rules.rates.countries():
            problems.append(Problem("reference.no_vat_rate", f"location {loc.get('id')!r} is in {country}, which has "
                                    "no VAT rate in rules/tax_rules.yaml", path=f"locations[{i}].country"))
    return problems
