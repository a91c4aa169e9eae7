"""A sound, conservative implication check over rule conditions.

``implies(a, b)`` answers "does every context that satisfies ``a`` also satisfy ``b``?".  It
may answer False when the truth is True (it is not complete), but never True when some CDR
satisfies ``a`` and not ``b`` -- a finding built on it is always real.

The semantics are those of ``engine.classify.evaluate.compare``; the subtle parts:

* a missing (or null) field fails every comparison except ``ne``/``not_in``/``missing``, so
  ``ne X`` is exactly ``not (eq X)``, ``not_in L`` is ``not (in L)`` and ``missing`` is
  ``not exists``; but ``not (lt 5)`` is *not* ``ge 5`` (it also holds for a missing field);
* a string never equals or orders with a number, a boolean only equals a boolean;
* a string that reads as an ISO date-time may equal a datetime field in several spellings, so
  such values are only ever compared for identity.

Conditions are first put in negation normal form over *literals* (a positive comparison with
one of ``eq in exists lt le gt ge matches startswith``, or its negation), then the usual rules
for conjunction and disjunction apply, plus "an ``any`` with a branch and its complement holds
always" (which also catches an unconditional rule).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Union

from engine.classify.evaluate import compare, is_number, parse_instant
from engine.classify.rules import All, Any_, Cmp, Condition, Not

_NEGATIVE = {"ne": "eq", "not_in": "in", "missing": "exists"}
_LOWER = ("gt", "ge")
_UPPER = ("lt", "le")


@dataclass(frozen=True)
class Lit:
    cmp: Cmp  # op is never ne / not_in / missing
    positive: bool = True

    def negate(self) -> "Lit":
        return Lit(self.cmp, not self.positive)


@dataclass(frozen=True)
class NAll:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class NAny:
    items: tuple["Node", ...]


Node = Union[Lit, NAll, NAny]


def nnf(cond: Condition, negated: bool = False) -> Node:
    """The condition in negation normal form."""
    if isinstance(cond, Cmp):
        positive = not negated
        if cond.op in _NEGATIVE:
            cond = replace(cond, op=_NEGATIVE[cond.op], value=True if cond.op == "missing" else cond.value)
            positive = not positive
        return Lit(cond, positive)
    if isinstance(cond, (All, Any_)):
        items = tuple(nnf(c, negated) for c in cond.items)
        return NAny(items) if isinstance(cond, All) == negated else NAll(items)
    if isinstance(cond, Not):
        return nnf(cond.item, not negated)
    raise TypeError(f"not a condition: {cond!r}")


def negate(node: Node) -> Node:
    if isinstance(node, Lit):
        return node.negate()
    items = tuple(negate(i) for i in node.items)
    return NAny(items) if isinstance(node, NAll) else NAll(items)


# -- values ------------------------------------------------------------------------------------

def _key(value: Any) -> Any:
    """Identity of a YAML value for the engine: 5 == 5.0, but true != 1 and '5' != 5."""
    if isinstance(value, bool):
        return ("bool", value)
    if is_number(value):
        return ("num", Decimal(value).normalize())
    if isinstance(value, (tuple, list)):
        return ("list", tuple(_key(v) for v in value))
    return (type(value).__name__, value)


def _plain(value: Any) -> bool:
    """A value whose equals at run time behave exactly like it: every operator gives the same
    answer on the field's value as on this value (numbers, booleans, strings that are not
    date-times)."""
    if isinstance(value, bool) or is_number(value):
        return True
    return isinstance(value, str) and parse_instant(value) is None


def _values(cmp: Cmp) -> tuple[Any, ...]:
    return tuple(cmp.value) if cmp.op == "in" else (cmp.value,)


def _holds(op: str, actual: Any, expected: Any) -> bool | None:
    """``compare`` on a plain value; None when it cannot tell (a regex that does not compile)."""
    try:
        return compare(op, actual, expected)
    except Exception:  # re.error, TypeError on odd values: no conclusion
        return None


def _same_cmp(a: Cmp, b: Cmp) -> bool:
    return a.path == b.path and a.op == b.op and _key(a.value) == _key(b.value)


def _prefix(short: str, long: str) -> bool:
    return short == long or long.startswith(short + ".")


def _order_class(value: Any) -> str | None:
    """Values that order among themselves the same way whatever the field holds."""
    if is_number(value):
        return "num"
    if isinstance(value, str) and parse_instant(value) is None:
        return "str"
    return None


# -- literals ----------------------------------------------------------------------------------

def _pos_implies(x: Cmp, y: Cmp) -> bool:
    """x holds => y holds (both positive comparisons)."""
    if y.op == "exists":  # every positive comparison needs its field present, and its parents
        return _prefix(y.path, x.path)
    if x.path != y.path:
        return False
    if _same_cmp(x, y):
        return True
    if x.op in ("eq", "in"):
        values = _values(x)
        if all(_plain(v) for v in values):
            return all(_holds(y.op, v, y.value) is True for v in values)
        if y.op in ("eq", "in"):  # identity only
            allowed = {_key(v) for v in _values(y)}
            return all(_key(v) in allowed for v in values)
        return False
    if x.op in _LOWER + _UPPER and y.op in _LOWER + _UPPER:
        return _range_implies(x, y)
    if x.op == "startswith" and y.op == "startswith":
        return x.value.startswith(y.value)
    return False


def _range_implies(x: Cmp, y: Cmp) -> bool:
    a, b = x.value, y.value
    if x.op[0] != y.op[0]:  # one bounds from below, the other from above
        return False
    if _key(a) == _key(b):  # same bound: gt 5 => ge 5
        return x.op == y.op or x.op in ("gt", "lt") and y.op in ("ge", "le")
    cls = _order_class(a)
    if cls is None or cls != _order_class(b):
        return False
    if x.op in _LOWER:  # field > a (or >= a) => field > b (>= b)
        return b < a if (x.op == "ge" and y.op == "gt") else b <= a
    return b > a if (x.op == "le" and y.op == "lt") else b >= a


def _disjoint(x: Cmp, y: Cmp) -> bool:
    """x holds => y does not (both positive comparisons)."""
    if "exists" in (x.op, y.op) or x.path != y.path:
        return False
    for p, q in ((x, y), (y, x)):
        if p.op in ("eq", "in") and all(_plain(v) for v in _values(p)):
            return all(_holds(q.op, v, q.value) is False for v in _values(p))
    if x.op in _LOWER + _UPPER and y.op in _LOWER + _UPPER:
        ca, cb = _order_class(x.value), _order_class(y.value)
        if ca is not None and cb is not None and ca != cb:
            return True  # a field cannot order both with a number and with a string
        if ca is None or ca != cb or x.op[0] == y.op[0]:
            return False
        low, high = (x, y) if x.op in _LOWER else (y, x)
        if high.value < low.value:
            return True
        return high.value == low.value and "t" in (low.op[1], high.op[1])
    if x.op == "startswith" and y.op == "startswith":
        return not (x.value.startswith(y.value) or y.value.startswith(x.value))
    return False


def lit_implies(a: Lit, b: Lit) -> bool:
    if a.positive and b.positive:
        return _pos_implies(a.cmp, b.cmp)
    if not a.positive and not b.positive:
        return _pos_implies(b.cmp, a.cmp)  # contraposition
    if a.positive:
        return _disjoint(a.cmp, b.cmp)
    return False  # "not x" holds for a missing field; no positive comparison does


# -- trees -------------------------------------------------------------------------------------

# Memo tables keyed by a type-aware key: Python's own equality says True == 1 and would mix up
# ``eq: true`` with ``eq: 1``.
_MEMO: dict[tuple, bool] = {}
_MEMO_LIMIT = 200_000


def node_key(node: Node) -> tuple:
    if isinstance(node, Lit):
        return ("lit", node.positive, node.cmp.path, node.cmp.op, _key(node.cmp.value))
    return ("all" if isinstance(node, NAll) else "any", tuple(node_key(i) for i in node.items))


def _memo(name: str, compute, *nodes: Node) -> bool:
    key = (name,) + tuple(node_key(n) for n in nodes)
    if key not in _MEMO:
        if len(_MEMO) > _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[key] = compute(*nodes)
    return _MEMO[key]


def implies_nnf(a: Node, b: Node) -> bool:
    return _memo("implies", _implies, a, b)


def _implies(a: Node, b: Node) -> bool:
    if isinstance(b, NAll):
        return all(implies_nnf(a, x) for x in b.items)
    if isinstance(a, NAny):
        return all(implies_nnf(x, b) for x in a.items)
    if isinstance(a, Lit) and isinstance(b, Lit):
        return lit_implies(a, b)
    if isinstance(a, NAll) and any(implies_nnf(x, b) for x in a.items):
        return True
    if isinstance(b, NAny):
        if any(implies_nnf(a, x) for x in b.items):
            return True
        return tautology_nnf(b)
    return False


def tautology_nnf(node: Node) -> bool:
    """Holds for every CDR (e.g. ``any: [{path: p, exists: true}, {path: p, missing: true}]``)."""
    return _memo("always", _tautology, node)


def _tautology(node: Node) -> bool:
    if isinstance(node, Lit):
        return False
    if isinstance(node, NAll):
        return all(tautology_nnf(i) for i in node.items)
    if any(tautology_nnf(i) for i in node.items):
        return True
    items = node.items
    return any(i != j and implies_nnf(negate(x), y)
               for i, x in enumerate(items) for j, y in enumerate(items))


def contradiction_nnf(node: Node) -> bool:
    """Holds for no CDR (e.g. ``all: [{path: p, eq: 1}, {path: p, eq: 2}]``)."""
    return _memo("never", _contradiction, node)


def _contradiction(node: Node) -> bool:
    if isinstance(node, Lit):
        return False
    if isinstance(node, NAny):
        return all(contradiction_nnf(i) for i in node.items)
    if any(contradiction_nnf(i) for i in node.items):
        return True
    items = node.items
    return any(i != j and implies_nnf(x, negate(y))
               for i, x in enumerate(items) for j, y in enumerate(items))


def implies(a: Condition, b: Condition) -> bool:
    """Every CDR (with its facts) that satisfies ``a`` satisfies ``b``.  Sound, not complete."""
    try:
        return implies_nnf(nnf(a), nnf(b))
    except RecursionError:
        return False


def always(cond: Condition) -> bool:
    try:
        return tautology_nnf(nnf(cond))
    except RecursionError:
        return False


def never(cond: Condition) -> bool:
    try:
        return contradiction_nnf(nnf(cond))
    except RecursionError:
        return False
