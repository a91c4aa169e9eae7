"""Build ``kind: tax_rules`` into a ``TaxRules`` and check what the schema cannot.

Registered with the bundle loader on import (``engine.config.bundle.register_kind``). Checks:
overlapping rate versions (error) and gaps (warning) per country and category, duplicate rule
ids, notes that do not exist, reverse-charge rules without the mandatory wording, rules that
can never match because an earlier rule catches everything, streams with no rule at all.
"""

from __future__ import annotations

import difflib
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from engine.config.bundle import Document, register_kind
from engine.config.yamlload import location_of
from engine.problems import Problem
from engine.tax.periods import Period, as_date, check_sequence, problem_at
from engine.tax.rates import STANDARD, RateTable, VatRate
from engine.tax.treatment import (
    EU_MEMBER_STATES, EU_RESELLER, REVERSE_CHARGE, TaxRules, TreatmentRule,
)

KIND = "tax_rules"
STREAMS = ("adhoc", "subscription", "msp")


def _rates(doc: Document, problems: list[Problem]) -> tuple[VatRate, ...]:
    data = doc.data
    rates = []
    for i, raw in enumerate(data["rates"]):
        loc = location_of(data, ["rates", i])
        period = Period(as_date(raw["valid_from"]), as_date(raw.get("valid_to")))
        rates.append(VatRate(raw["country"], raw.get("category", STANDARD), Decimal(raw["rate"]), period, loc))
    groups: dict[tuple[str, str], list[VatRate]] = {}
    for rate in rates:
        groups.setdefault((rate.country, rate.category), []).append(rate)
    for (country, category), versions in groups.items():
        problems += check_sequence([(r.period, r.loc) for r in versions], f"VAT rate {country}/{category}")
    return tuple(rates)


def _treatments(doc: Document, notes: dict[str, str], problems: list[Problem]) -> tuple[TreatmentRule, ...]:
    data = doc.data
    rules: list[TreatmentRule] = []
    seen: dict[str, TreatmentRule] = {}
    for i, raw in enumerate(data["treatments"]):
        loc = location_of(data, ["treatments", i])
        rule = TreatmentRule(
            id=raw["id"], stream=raw["stream"], treatment=raw["treatment"],
            when=MappingProxyType(dict(raw.get("when") or {})), tax_class=raw.get("tax_class"),
            note=raw.get("note"), rate_category=raw.get("rate_category", STANDARD), loc=loc)
        if rule.id in seen:
            first = seen[rule.id].loc
            problems.append(problem_at(loc, "tax.duplicate_id",
                                       f"treatment id {rule.id!r} already used at line {first.line if first else '?'}"))
        seen.setdefault(rule.id, rule)
        if rule.note is not None and rule.note not in notes:
            close = difflib.get_close_matches(rule.note, list(notes), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(problem_at(location_of(data, ["treatments", i, "note"]), "tax.unknown_note",
                                       f"treatment {rule.id!r}: note {rule.note!r} is not defined under 'notes'{hint}"))
        if rule.treatment in (REVERSE_CHARGE, EU_RESELLER) and rule.note is None:
            problems.append(problem_at(loc, "tax.reverse_charge_without_note",
                                       f"treatment {rule.id!r}: a reverse-charge invoice must say "
                                       f"'Steuerschuldnerschaft des Leistungsempfängers'; add a note",
                                       severity="warning"))
        for earlier in rules:
            if earlier.stream in ("*", rule.stream) and set(earlier.when.items()) <= set(rule.when.items()):
                problems.append(problem_at(loc, "tax.unreachable",
                                           f"treatment {rule.id!r} can never match: {earlier.id!r} "
                                           f"(line {earlier.loc.line if earlier.loc else '?'}) catches every case first",
                                           severity="warning"))
                break
        rules.append(rule)
    for stream in STREAMS:
        if not any(r.stream in ("*", stream) for r in rules):
            problems.append(problem_at(location_of(data, ["treatments"]), "tax.stream_without_rule",
                                       f"no treatment rule for stream {stream!r}: its sessions cannot be priced",
                                       severity="warning"))
    return tuple(rules)


def build_tax_rules(docs: list[Document]) -> tuple[TaxRules, list[Problem]]:
    """Builder for ``register_kind``: documents of kind tax_rules -> (TaxRules, problems)."""
    problems: list[Problem] = []
    if not docs:
        return TaxRules(), problems
    for extra in docs[1:]:
        problems.append(Problem(code="tax.duplicate_file", file=extra.file, line=1, col=1,
                                message=f"a second 'kind: tax_rules' file (first: {docs[0].file}); keep one"))
    doc = docs[0]
    data = doc.data
    notes = {str(k): str(v) for k, v in (data.get("notes") or {}).items()}
    rates = _rates(doc, problems)
    treatments = _treatments(doc, notes, problems)
    eu = frozenset(data.get("eu_countries") or EU_MEMBER_STATES)
    rules = TaxRules(supplier_country=data["supplier_country"], rates=RateTable(rates),
                     notes=MappingProxyType(notes), treatments=treatments, eu_countries=eu, file=doc.file)
    return rules, problems


def tax_rules_of(bundle: Any) -> TaxRules:
    """The bundle's TaxRules (an empty set when the bundle has no tax_rules file)."""
    built = getattr(bundle, "extensions", {}).get(KIND) if bundle is not None else None
    return built if isinstance(built, TaxRules) else TaxRules()


register_kind(KIND, build_tax_rules)
