"""The classifier as one generated Python function: every rule's condition inlined, in order.

Why: the closure form (``evaluate.compile_condition``) costs a Python call per comparison, per
``all``/``any`` and per path read, and reads ``facts.token.own`` once for every rule that tests it
(a roaming CDR passes ~20 rules). The generated function is the same decision procedure written
out as straight-line code: ``if <rule 1's condition>: return <rule 1's match>``, then rule 2, ...,
then the fallback. ``evaluate.compile_condition`` stays the specification: each comparison is
generated from the same case analysis as ``evaluate._compile_cmp`` (anything it does not special-
case calls ``evaluate.compare`` itself), and tests/classify/test_generate.py holds the generated
function to the closures on many rule sets and contexts.

Why it decides exactly as the closures do:

- A path is read at most once per call, as a statement placed before the first rule that uses
  it (so never for a CDR an earlier rule already decided). Reading a plain dict has no side
  effects, so reading a path before the rule tests it - even where ``and``/``or`` would have
  skipped that comparison - cannot change any answer. The read itself is ``paths.getter``'s
  (a non-dict on the way, an absent key or a null is MISSING); paths other than two or three
  keys use ``paths.resolve`` on the same context.
- ``all``/``any``/``not`` become ``and``/``or``/``not`` in the same order, so comparisons run (and
  could raise) in the same order as in the closures; only truthiness is used, as in ``classify``.
- The rule order (``evaluate.ordered``) and the Match objects are the classifier's own: the
  explanation (rule id, file, line) is unchanged.

Only names are written into the source: every constant from the rules (strings, numbers,
patterns) is passed in the function's globals, so a rule file cannot inject code.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Sequence

from engine.classify.evaluate import _ORDER, Match, _plain_text, compare, is_number, parse_instant
from engine.classify.rules import All, Any_, Cmp, Condition, Not
from engine.memo import remembered
from engine.paths import MISSING, resolve

Classify = Callable[[Any, Any], Match]

_SEARCHES_LIMIT = 4096


def _searched(memo: dict[str, bool], pattern: re.Pattern[str], text: str) -> bool:
    """``pattern.search(text) is not None``, remembered in ``memo`` (one per comparison, so per
    pattern) for a plain str: the answer reads nothing but the pattern and the text's characters.

    Why: an eMA-ID check (a case-insensitive pattern) runs for nearly every CDR and costs more
    than the rest of its rule set; a driver's contract id comes back with every session. A str
    subclass is searched each time (its hash and equality are its own)."""
    if text.__class__ is not str:
        return pattern.search(text) is not None
    return remembered(memo, text, lambda: pattern.search(text) is not None, _SEARCHES_LIMIT)

_ORDER_SIGN = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}
assert set(_ORDER_SIGN) == set(_ORDER)


class _Source:
    """The function being written: its globals (constants by name) and its path reads."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {"_M": MISSING, "_resolve": resolve, "_compare": compare, "_searched": _searched,
                                    "_NUM": (int, Decimal), "_datetime": datetime, "_date": date}
        self.names: dict[Any, str] = {}     # ("node"|"value", path) -> the local holding it
        self.pending: list[str] = []        # read statements not yet emitted
        self.uses_ctx = False

    def constant(self, value: Any) -> str:
        name = f"k{len(self.env)}"
        self.env[name] = value
        return name

    def node(self, prefix: tuple[str, ...]) -> str:
        """The local holding the dict at ``prefix`` (e.g. ``("facts", "psp")``), or None when
        the value there is not a dict: what ``getter`` tests before each step."""
        name = self.names.get(("node", prefix))
        if name is not None:
            return name
        name = self.names[("node", prefix)] = f"n{len(self.names)}"
        if len(prefix) == 1:
            root = {"cdr": "cdr", "facts": "facts"}.get(prefix[0])  # the context holds only these
            self.pending.append(f"{name} = {root} if isinstance({root}, dict) else None" if root
                                else f"{name} = None")
        else:
            parent, key = self.node(prefix[:-1]), self.constant(prefix[-1])
            self.pending.append(f"{name} = (x if isinstance(x := {parent}.get({key}), dict) else None) "
                                f"if {parent} is not None else None")
        return name

    def value(self, steps: tuple[str | int, ...]) -> str:
        """The local holding ``resolve(ctx, steps)`` (MISSING for absent or null)."""
        name = self.names.get(("value", steps))
        if name is not None:
            return name
        if len(steps) in (2, 3) and all(type(s) is str for s in steps):
            parent, key = self.node(steps[:-1]), self.constant(steps[-1])  # type: ignore[arg-type]
            name = self.names[("value", steps)] = f"v{len(self.names)}"
            self.pending.append(f"{name} = _M if {parent} is None or (x := {parent}.get({key}, _M)) is None else x")
            return name
        self.uses_ctx = True
        name = self.names[("value", steps)] = f"v{len(self.names)}"
        self.pending.append(f"{name} = _resolve(ctx, {self.constant(steps)})")
        return name

    def comparison(self, cmp: Cmp) -> str:
        """``evaluate._compile_cmp``'s closure for ``cmp`` as an expression over the path's local."""
        op, expected = cmp.op, cmp.value
        v = self.value(cmp.steps)
        if op == "exists":
            return f"{v} is not _M"
        if op == "missing":
            return f"{v} is _M"
        if op in ("eq", "ne"):
            if _plain_text(expected):
                return f"{v} {'==' if op == 'eq' else '!='} {self.constant(expected)}"
            if isinstance(expected, bool):
                return f"{v} {'is' if op == 'eq' else 'is not'} {expected!r}"
        if op in ("in", "not_in") and isinstance(expected, tuple) and all(_plain_text(x) for x in expected):
            test = f"(isinstance({v}, str) and {v} in {self.constant(frozenset(expected))})"
            return test if op == "in" else f"not {test}"
        if op in _ORDER:
            sign, k = _ORDER_SIGN[op], self.constant(expected)
            if is_number(expected):  # is_number(v), inlined: int or Decimal, not bool
                return f"(isinstance({v}, _NUM) and {v}.__class__ is not bool and {v} {sign} {k})"
            if _plain_text(expected):
                return f"(isinstance({v}, str) and {v} {sign} {k})"
            if isinstance(expected, str):  # a date or date-time constant, parsed once
                return self._ordered_instant(v, sign, k, expected)
        if op == "startswith" and isinstance(expected, str):
            return f"(isinstance({v}, str) and {v}.startswith({self.constant(expected)}))"
        if op == "matches":  # remembered per text: see ``_searched``
            pattern, memo = self.constant(re.compile(expected)), self.constant({})
            return (f"(isinstance({v}, str) and (r if {v}.__class__ is str and (r := {memo}.get({v})) is not None "
                    f"else _searched({memo}, {pattern}, {v})))")
        return f"_compare({self.constant(op)}, {v}, {self.constant(expected)})"

    def _ordered_instant(self, v: str, sign: str, k: str, expected: str) -> str:
        """``evaluate``'s ``ordered_instant``: a datetime against the instant, a string against the
        text, a date against the day; a constant that is no instant (or no day) is False there."""
        instant = parse_instant(expected)
        try:
            day: date | None = date.fromisoformat(expected)
        except ValueError:
            day = None
        by_instant = f"{v} {sign} {self.constant(instant)}" if instant is not None else "False"
        by_day = f"{v} {sign} {self.constant(day)}" if day is not None else "False"
        return (f"(({by_instant}) if isinstance({v}, _datetime) else ({v} {sign} {k}) if isinstance({v}, str) "
                f"else ({by_day}) if isinstance({v}, _date) else False)")

    def condition(self, cond: Condition) -> str:
        """``evaluate.compile_condition`` as one expression (``_all``/``_any`` of nothing: True/False)."""
        if isinstance(cond, Cmp):
            return self.comparison(cond)
        if isinstance(cond, All):
            return "(" + " and ".join(self.condition(c) for c in cond.items) + ")" if cond.items else "True"
        if isinstance(cond, Any_):
            return "(" + " or ".join(self.condition(c) for c in cond.items) + ")" if cond.items else "False"
        if isinstance(cond, Not):
            return f"(not {self.condition(cond.item)})"
        raise TypeError(f"not a condition: {cond!r}")


def generate_classify(rules: Sequence[tuple[Condition, Match]], fallback: Match) -> Classify:
    """``classify(cdr, facts)`` for ``rules`` (condition, match) in evaluation order."""
    source = _Source()
    body: list[str] = []
    for when, match in rules:
        test = source.condition(when)  # registers the reads it needs in ``pending``
        body += source.pending
        source.pending = []
        body.append(f"if {test}:\n        return {source.constant(match)}")
    body.append(f"return {source.constant(fallback)}")
    if source.uses_ctx:
        body.insert(0, "ctx = {'cdr': cdr, 'facts': facts}")
    text = "def classify(cdr, facts):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(text, "<classification rules>", "exec"), source.env)  # noqa: S102 - see the module doc
    function = source.env["classify"]
    function.source = text  # type: ignore[attr-defined]  (for debugging and the tests)
    return function
