"""The pure pipeline: raw CDR -> intake -> facts -> classify -> price -> map -> Decision.

Given the same CDR, bundle, reference snapshot and (for credit CDRs) the original's pricing it
always returns the same Decision: no I/O, no clock. Each stage is a small function; this module
only wires them.

A CDR that classifies into a stream but cannot be priced (no tariff, no plan, no tax rule) is not
billed with a guess: it goes to the exception queue with the pricing error's code, and the
stream it would have gone to is kept in the exception's detail.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Mapping, Protocol

from engine import intake
from engine.classify.evaluate import Match
from engine.config.bundle import Bundle
from engine.decision import Decision
from engine.facts import FactSource, lookup_facts
from engine.rates import price_for_stream
from engine.rates.model import failed
from engine.pricing.outofrange import out_of_range_problem
from engine.timezones import zone, zone_for_cdr

INVALID_CDR = "INVALID_CDR"
PRICING_FAILED = "PRICING_FAILED"

Key = tuple[str, str, str]


class ClassifierLike(Protocol):
    def classify(self, cdr: dict[str, Any], facts: dict[str, Any]) -> Match: ...


class Pipeline:
    def __init__(self, bundle: Bundle, source: FactSource, *, classifier: ClassifierLike | None = None,
                 default_party: tuple[str, str] | None = None,
                 priced: Mapping[Key, dict[str, Any]] | None = None):
        """``priced`` maps a CDR key to its stored ``decision.pricing``, so a credit CDR can reverse
        its original's lines exactly. A plain dict passed here is also filled as CDRs are
        decided (what ``dry-run`` does within one run); the store passes a read-only view."""
        self.bundle = bundle
        self.priced = priced
        self.source = source
        self.classifier = classifier or bundle.classifier
        self.default_party = default_party or _operator_party(bundle)
        self.own_parties = bundle.own_parties
        self.default_tz = str(bundle.operator.get("default_time_zone", "UTC"))

    @property
    def priced(self) -> Mapping[Key, dict[str, Any]] | None:
        return self._priced

    @priced.setter
    def priced(self, priced: Mapping[Key, dict[str, Any]] | None) -> None:
        # whether decisions are recorded into it: judged once here, not per CDR (an ABC check)
        self._priced = priced
        self._records_priced = isinstance(priced, MutableMapping)

    def decide(self, data: Any, *, source: str | None = None, facts_override: dict[str, Any] | None = None) -> Decision:
        """One raw CDR (parsed JSON) to its Decision."""
        result = intake.accept(data, default_party=self.default_party)
        decision = Decision(
            cdr_id=result.key[2] if result.key else None,
            config_version=self.bundle.version,
            key=result.key,
            source=source,
            ocpi_version=result.version,
            warnings=[p.to_dict() for p in result.warnings] if result.warnings else [],
        )
        if result.problems or result.cdr is None:
            decision.errors = [p.to_dict() for p in result.problems]
            first = result.problems[0].message if result.problems else "the CDR could not be read"
            decision.exception = {"reason": INVALID_CDR, "description": first}
            return decision
        return self.decide_normalised(result.cdr, decision, facts_override=facts_override)

    def decide_item(self, item: "intake.RawItem") -> Decision:
        """A RawItem from the reader: a parse failure becomes a Decision with errors, too."""
        if item.cdr_line is not None:  # a line read as a 2.2.1 CDR: intake takes it unparsed
            return self.decide(item.cdr_line, source=item.source)
        if item.problems or item.data is None:
            problems = item.problems
            message = problems[0].message if problems else "empty input"
            return Decision(cdr_id=None, config_version=self.bundle.version, source=item.source,
                            errors=[p.to_dict() for p in problems],
                            exception={"reason": INVALID_CDR, "description": message})
        return self.decide(item.data, source=item.source)

    def decide_normalised(self, cdr: dict[str, Any], decision: Decision, *,
                          facts_override: dict[str, Any] | None = None) -> Decision:
        facts = lookup_facts(cdr, self.source, own_parties=self.own_parties, default_time_zone=self.default_tz)
        if facts_override:
            facts = merge(facts, facts_override)
        decision.facts = facts
        decision.cdr = cdr
        match = self.classifier.classify(cdr, facts)
        decision.rule = match.rule_ref()
        decision.stream = match.stream
        decision.exception = match.exception
        if not match.stream:
            return decision
        price = price_for_stream(match.stream, cdr, facts, self.bundle, original=self._original_of(cdr))
        try:  # (price_for_stream catches its own; this is a unit price too large to show: pricing/outofrange.py)
            decision.pricing = price.to_json()
        except ArithmeticError as exc:
            price = failed(match.stream, [out_of_range_problem(cdr, exc)], cdr_id=cdr.get("id"))
            decision.pricing = price.to_json()
        if price.errors:
            first = price.errors[0]
            decision.exception = {"reason": PRICING_FAILED, "code": first.code, "description": first.message,
                                  "stream": match.stream}
            decision.stream = None
            return decision
        if self._records_priced and decision.key:
            self._priced[decision.key] = decision.pricing  # type: ignore[index]
        mapping = self.bundle.mappings.get(match.stream)
        if mapping is not None:
            location = facts.get("location")
            tz = zone(location["time_zone"]) if location and location.get("time_zone") else \
                zone_for_cdr(cdr, None, self.default_tz)
            decision.billing = mapping.apply({"cdr": cdr, "facts": facts, "pricing": decision.pricing}, tz)
        return decision

    def _original_of(self, cdr: dict[str, Any]) -> dict[str, Any] | None:
        reference = cdr.get("credit_reference_id")
        if not cdr.get("credit") or not reference or self.priced is None:
            return None
        return self.priced.get((cdr.get("country_code"), cdr.get("party_id"), reference))


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge for test overrides: dicts merge, anything else (including None) replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _operator_party(bundle: Bundle) -> tuple[str, str] | None:
    parties = sorted(bundle.own_parties)
    if not parties:
        return None
    country, party = parties[0].split("*")
    return country, party
