"""The default evaluator: each rule compiled once into nested Python closures.

Comparison semantics are deliberately narrow so that a second backend can reproduce them
exactly: a missing or null field fails every comparison except ``missing``, ``ne`` and
``not_in``; numbers compare as Decimal; strings compare exactly; a string never compares with a
number (no lexical "10" < "9"); date-times compare with ISO strings from YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Sequence

from engine.classify.rules import All, Any_, Cmp, Condition, Fallback, Not, Rule
from engine.paths import MISSING, resolve

Predicate = Callable[[dict[str, Any]], bool]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def parse_instant(text: str) -> datetime | None:
    """An ISO date or date-time string from YAML as an aware UTC datetime (naive = UTC)."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def comparable(actual: Any, expected: Any) -> tuple[Any, Any] | None:
    """The pair to compare, or None when the types do not compare (which makes the test false)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        if isinstance(actual, bool) and isinstance(expected, bool):
            return actual, expected
        return None
    if is_number(actual) and is_number(expected):
        return actual, expected
    if isinstance(actual, str) and isinstance(expected, str):
        return actual, expected
    if isinstance(actual, datetime) and isinstance(expected, str):
        instant = parse_instant(expected)
        return (actual, instant) if instant is not None else None
    if isinstance(actual, date) and not isinstance(actual, datetime) and isinstance(expected, str):
        try:
            return actual, date.fromisoformat(expected)
        except ValueError:
            return None
    return None


def values_equal(actual: Any, expected: Any) -> bool:
    pair = comparable(actual, expected)
    return pair is not None and pair[0] == pair[1]


_ORDER = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def compare(op: str, actual: Any, expected: Any) -> bool:
    """The single definition of every operator, shared by the compiled evaluator and the tests."""
    present = actual is not MISSING and actual is not None
    if op == "exists":
        return present
    if op == "missing":
        return not present
    if op == "ne":
        return not present or not values_equal(actual, expected)
    if op == "not_in":
        return not present or not any(values_equal(actual, v) for v in expected)
    if not present:
        return False
    if op == "eq":
        return values_equal(actual, expected)
    if op == "in":
        return any(values_equal(actual, v) for v in expected)
    if op in _ORDER:
        pair = comparable(actual, expected)
        return pair is not None and _ORDER[op](*pair)
    if op == "matches":
        return isinstance(actual, str) and re.search(expected, actual) is not None
    if op == "startswith":
        return isinstance(actual, str) and actual.startswith(expected)
    raise ValueError(f"unknown operator {op!r}")


def _compile_cmp(cmp: Cmp) -> Predicate:
    steps, op, expected = cmp.steps, cmp.op, cmp.value
    if op == "eq" and isinstance(expected, str) and parse_instant(expected) is None:
        # The common case, kept tight: equality with a string that cannot be a date-time, so
        # plain == is exactly ``compare`` (Decimal, bool and MISSING never equal a str).
        return lambda ctx: resolve(ctx, steps) == expected
    if op == "matches":
        pattern = re.compile(expected)
        return lambda ctx: isinstance(v := resolve(ctx, steps), str) and pattern.search(v) is not None
    return lambda ctx: compare(op, resolve(ctx, steps), expected)


def compile_condition(cond: Condition) -> Predicate:
    if isinstance(cond, Cmp):
        return _compile_cmp(cond)
    if isinstance(cond, All):
        parts = tuple(compile_condition(c) for c in cond.items)
        return lambda ctx: all(p(ctx) for p in parts)
    if isinstance(cond, Any_):
        parts = tuple(compile_condition(c) for c in cond.items)
        return lambda ctx: any(p(ctx) for p in parts)
    if isinstance(cond, Not):
        inner = compile_condition(cond.item)
        return lambda ctx: not inner(ctx)
    raise TypeError(f"not a condition: {cond!r}")


@dataclass(frozen=True)
class Match:
    """The outcome of classification: a stream, or an exception reason, and who decided."""

    rule: Rule | Fallback
    stream: str | None
    exception: dict[str, str] | None

    def rule_ref(self) -> dict[str, Any]:
        return self.rule.ref()


def ordered(rules: Sequence[Rule]) -> list[Rule]:
    """Evaluation order: priority descending, then bundle order."""
    return sorted(rules, key=lambda r: (-r.priority, r.order))


def match_for(rule: Rule | Fallback) -> Match:
    if isinstance(rule, Fallback):
        return Match(rule, None, {"reason": rule.reason, "description": rule.description})
    return Match(rule, rule.stream, dict(rule.exception) if rule.exception else None)


class Classifier:
    """Compiled rules in evaluation order; ``classify`` is pure and thread-safe."""

    backend = "python"

    def __init__(self, rules: Sequence[Rule], fallback: Fallback):
        self.rules = ordered(rules)
        self.fallback = fallback
        self._compiled = [(compile_condition(r.when), match_for(r)) for r in self.rules]
        self._fallback_match = match_for(fallback)

    def classify(self, cdr: dict[str, Any], facts: dict[str, Any]) -> Match:
        ctx = {"cdr": cdr, "facts": facts}
        for predicate, match in self._compiled:
            if predicate(ctx):
                return match
        return self._fallback_match


def compile_classifier(rules: Sequence[Rule], fallback: Fallback) -> Classifier:
    return Classifier(rules, fallback)
