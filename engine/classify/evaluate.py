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
from engine.paths import MISSING, getter

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


def _plain_text(value: Any) -> bool:
    """A string constant that only ever equals/compares with strings: not a date or date-time."""
    if not isinstance(value, str) or parse_instant(value) is not None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return True
    return False


def _compile_cmp(cmp: Cmp) -> Predicate:
    """One comparison as a closure that does exactly what ``compare`` does for this constant.

    The common shapes get their own tight closure (the constant's type is known at compile time,
    so the type dispatch of ``comparable`` is decided once, not per CDR); anything else goes
    through ``compare``. tests/classify/test_evaluate.py holds every shape to ``compare``.
    """
    steps, op, expected = cmp.steps, cmp.op, cmp.value
    get = getter(steps)  # == resolve(ctx, steps); never returns None (null is MISSING)
    if op == "exists":
        return lambda ctx: get(ctx) is not MISSING
    if op == "missing":
        return lambda ctx: get(ctx) is MISSING
    if op in ("eq", "ne"):
        if _plain_text(expected):
            # equality with a string that cannot be a date-time: plain ==/!= is exactly
            # ``compare`` (Decimal, bool, datetime and MISSING never equal a str)
            if op == "eq":
                return lambda ctx: get(ctx) == expected
            return lambda ctx: get(ctx) != expected
        if isinstance(expected, bool):  # only a bool equals a bool, and bools are singletons
            if op == "eq":
                return lambda ctx: get(ctx) is expected
            return lambda ctx: get(ctx) is not expected
    if op in ("in", "not_in") and isinstance(expected, tuple) and all(_plain_text(v) for v in expected):
        options = frozenset(expected)
        if op == "in":
            return lambda ctx: isinstance(v := get(ctx), str) and v in options
        return lambda ctx: not (isinstance(v := get(ctx), str) and v in options)
    if op in _ORDER:
        order = _ORDER[op]
        if is_number(expected):
            return lambda ctx: is_number(v := get(ctx)) and order(v, expected)
        if _plain_text(expected):
            return lambda ctx: isinstance(v := get(ctx), str) and order(v, expected)
        if isinstance(expected, str):  # a date or date-time constant, parsed once
            instant = parse_instant(expected)
            try:
                day: date | None = date.fromisoformat(expected)
            except ValueError:
                day = None

            def ordered_instant(ctx: dict[str, Any]) -> bool:
                v = get(ctx)
                if isinstance(v, datetime):
                    return instant is not None and order(v, instant)
                if isinstance(v, str):
                    return order(v, expected)
                if isinstance(v, date):
                    return day is not None and order(v, day)
                return False
            return ordered_instant
    if op == "startswith" and isinstance(expected, str):
        return lambda ctx: isinstance(v := get(ctx), str) and v.startswith(expected)
    if op == "matches":
        pattern = re.compile(expected)
        return lambda ctx: isinstance(v := get(ctx), str) and pattern.search(v) is not None
    return lambda ctx: compare(op, get(ctx), expected)


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda ctx: a(ctx) and b(ctx)
    if len(parts) == 3:
        a, b, c = parts
        return lambda ctx: a(ctx) and b(ctx) and c(ctx)

    def all_of(ctx: dict[str, Any]) -> bool:
        for part in parts:
            if not part(ctx):
                return False
        return True
    return all_of


def _any(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda ctx: a(ctx) or b(ctx)
    if len(parts) == 3:
        a, b, c = parts
        return lambda ctx: a(ctx) or b(ctx) or c(ctx)

    def any_of(ctx: dict[str, Any]) -> bool:
        for part in parts:
            if part(ctx):
                return True
        return False
    return any_of


def compile_condition(cond: Condition) -> Predicate:
    if isinstance(cond, Cmp):
        return _compile_cmp(cond)
    if isinstance(cond, All):
        return _all(tuple(compile_condition(c) for c in cond.items))
    if isinstance(cond, Any_):
        return _any(tuple(compile_condition(c) for c in cond.items))
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
    """Compiled rules in evaluation order; ``classify`` is pure and thread-safe.

    ``classify`` runs the rules as one generated function (engine/classify/generate.py);
    ``classify_by_closures`` runs the same rules as the closures of ``compile_condition`` and is
    the specification the generated function is tested against."""

    backend = "python"

    def __init__(self, rules: Sequence[Rule], fallback: Fallback):
        from engine.classify.generate import generate_classify  # (it builds on this module)

        self.rules = ordered(rules)
        self.fallback = fallback
        matches = [match_for(r) for r in self.rules]
        self._compiled = [(compile_condition(r.when), m) for r, m in zip(self.rules, matches)]
        self._fallback_match = match_for(fallback)
        self._generated = generate_classify([(r.when, m) for r, m in zip(self.rules, matches)],
                                            self._fallback_match)

    def classify(self, cdr: dict[str, Any], facts: dict[str, Any]) -> Match:
        return self._generated(cdr, facts)

    def classify_by_closures(self, cdr: dict[str, Any], facts: dict[str, Any]) -> Match:
        ctx = {"cdr": cdr, "facts": facts}
        for predicate, match in self._compiled:
            if predicate(ctx):
                return match
        return self._fallback_match


def compile_classifier(rules: Sequence[Rule], fallback: Fallback) -> Classifier:
    return Classifier(rules, fallback)
