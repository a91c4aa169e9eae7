"""The optional durable_rules backend: the same decisions as ``evaluate.Classifier``, made by
durable_rules' Rete engine.

durable_rules is optional (``pip install '.[durable]'``): it does not install on Python >= 3.13.
It also has three behaviours that would silently change decisions if rules were handed to it
naively; this module guards against each of them, and against two more found while testing:

1. **Background timer threads.** durable's ``Host`` starts two ``threading.Timer`` loops that
   run queued actions (``dispatch``) on a timer thread; ``post_batch`` only runs the actions of one
   session synchronously, async actions complete on another thread, and an action not claimed at
   once by the poster is taken by the timer thread. Here no durable ``Host`` loop runs (a private
   host whose ``_run`` starts nothing) and no durable action callback is ever executed: the
   classifier posts one event, claims the resulting action itself in the calling thread
   (``start_action_for_state``), reads the fired rule from it and completes it, all under a lock.
   The result never depends on a callback arriving later.
2. **Lexical comparison of mixed types.** durable compares a string with a number by printing the
   number and ``strcmp``-ing (``"10" > 9`` is false, ``9 > "10"`` true), treats ``true`` as ``1``,
   compares strings as raw JSON text (``"é"`` is sent as ``\\u00e9``, so it sorts before ``"b"``),
   reads numbers as C ``long``/``double`` (many-digit Decimals lose digits) and keeps only 65535
   characters of a string. So no value reaches durable in its own type. Each resolved path is sent
   as one *type-tagged* field holding an ASCII string whose byte order is the value's order
   (see "Encodings"); a string, a number, a bool, a date-time and a date land in different
   fields, so durable can only ever compare like with like, and ``strcmp`` on those strings is
   exactly ``compare()``'s order. Strings never meet numbers, bools never meet numbers.
3. **Unmatched events raise.** ``assert_event`` answers "not handled" (``MessageNotHandledException``
   in durable's wrapper) when no rule matches; exactly that exception is caught and becomes the
   bundle's fallback. Every other durable error is re-raised as ``DurableBackendError`` -- never a
   silent fallback.
4. **Ruleset names are global per process** and cannot be registered twice. Each compiled rule
   set gets the name ``cdrflow_<content hash>_<counter>``, and a rule set already compiled (same
   content hash) is reused, so compiling the same bundle twice registers nothing new.
5. (found while testing) **durable's session state is itself a fact** that runs through the rule
   network: a rule made only of absence tests (``missing``, a negated comparison) fires for the
   state object as well as for the event, possibly ahead of the rule the event should fire.
   Every rule therefore starts with a marker test (``cdrflow == 1``) that only our events pass,
   and every action claimed is checked to carry the id of the event just posted.
6. (found while testing) **capacity limits**: an event holds at most ~250 properties, a condition
   nests at most 16 levels and expands to fewer than 2**15 conjunctions, and ``create_ruleset``
   *hangs forever* (a busy loop in C) once a node has more than ~512 successors (e.g. 70 rules
   with an 8-value ``in``). These are checked before durable sees the rules
   (``DurableBackendError`` naming the rule); at most 64 conditions may match one event at once,
   which can only be seen per event and is reported as ``DurableBackendError``.

What durable evaluates and what is computed in Python
------------------------------------------------------
durable evaluates: every ``eq ne in not_in lt le gt ge exists missing startswith`` comparison
(as string comparisons on the encoded fields), the whole ``all``/``any``/``not`` structure
(``$and``/``$or`` after pushing ``not`` down to the comparisons with De Morgan's laws; each
comparison has an exact negation, e.g. ``not (f < c)`` is ``f absent or f >= c``, and the negation
of ``eq``/``in`` over several constants stays linear: "absent, or none of them" -- durable expands
conditions into disjunctive normal form, where plain De Morgan would be exponential), the priority
order (``pri`` = the rule's rank in ``evaluate.ordered``, so ties are already broken by file order)
and first-match-wins (the first action durable hands out; an event is consumed by it). durable may
queue further actions for one event; they are all claimed and completed before ``classify``
returns, so nothing is left for a later call or a timer.

Computed in Python, and why:

* **path resolution** (``engine.paths.resolve``, shared with the default evaluator): durable cannot
  index lists (``cdr.charging_periods.0.tariff_id``), and a JSON ``null`` must count as missing.
  Each distinct path becomes flat fields of the event.
* **type tagging and encoding** of the resolved value and of each rule constant (below) -- this is
  the translation, not a decision: the comparison itself is still durable's.
* **``matches``**, the only precomputed comparison: the rule language promises Python's ``re.search``
  (unanchored search, Python syntax: ``(?i)``, ``\\d``, look-arounds, Unicode classes); durable's
  ``$mt`` is its own small regex dialect with whole-string matching. The wrapper sends one field
  per (path, pattern) that is present when ``re.search`` finds a match; durable tests presence.
* ``startswith`` is *not* precomputed: it is the range test ``hex(p) <= hex(s) < hex(p) + "~"``
  (UTF-8 is a prefix code and ``~`` sorts after every hex digit), evaluated by durable.

Encodings (every one an ASCII string; byte order == the order of ``compare()``)
------------------------------------------------------------------------------
* ``s<i>`` strings: UTF-8 bytes (``surrogatepass``) as lower-case hex. UTF-8 byte order is code
  point order, which is Python's ``str`` order; no NUL, no escapes, no non-ASCII reach durable.
* ``n<i>`` numbers (``int``/``Decimal``, never ``bool``): sign class ``0`` -inf, ``1`` negative,
  ``2`` zero, ``3`` positive, ``4`` +inf; then for x = 0.D x 10^E (D without trailing zeros) a
  20-digit biased exponent and the digits D; for negatives the exponent and digits are
  complemented and a ``~`` terminator added. Exact for any number of digits; ``1``, ``1.0`` and
  ``1.000`` encode identically. NaN has no order and is not encoded (intake rejects NaN).
* ``t<i>`` aware date-times: microseconds since the epoch as a number (above). ISO strings in rules
  are parsed with ``evaluate.parse_instant`` (the default evaluator's own parser).
* ``d<i>`` dates: the proleptic ordinal as a number; rule strings via ``date.fromisoformat``.
* ``b<i>`` bools: ``"0"``/``"1"``.
* ``x<i>`` present (not missing, not null) -- for ``exists``/``missing``; ``r<k>`` regex atoms.

durable finds a property by the 32-bit FNV-1a hash of its name alone; the field names above (index
below ``MAX_EVENT_FIELDS``), ``id``, ``sid`` and the marker all hash differently (tested).

A value is cut to one character more than the longest constant it is compared with: the outcome
of comparing with any shorter constant is unchanged (proof in ``truncation_is_exact``), events
stay small and durable's 65535-character limit is never reached by data.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Sequence

from engine.classify.evaluate import Match, is_number, match_for, ordered, parse_instant
from engine.classify.rules import All, Any_, Cmp, Condition, Fallback, Not, Rule
from engine.paths import MISSING, compile_path, resolve

INSTALL_HINT = "pip install '.[durable]'"

#: The event field every rule tests first, so durable's own state fact never fires a rule.
MARKER = "cdrflow"
#: Longest encoded constant accepted (durable stores string lengths in an unsigned short).
MAX_CONSTANT_CHARS = 32_000
#: durable rejects events with more properties than this (error 302); ``id`` and the marker included.
MAX_EVENT_FIELDS = 250
#: durable rejects expressions nested deeper than this (error 113 from 17 levels).
MAX_EXPRESSION_DEPTH = 16
#: durable expands a condition into its disjunctive normal form and rejects a rule with 2**15
#: conjunctions or more (error 113).
MAX_RULE_TERMS = 2**14
#: durable's create_ruleset never returns (a busy loop) once one node of the network has more than
#: about 512 successors; the conjunctions of all rules bound that number, so they are capped below.
MAX_RULESET_TERMS = 500

_DURABLE_ERRORS = {
    302: "the event has too many fields",
    303: "more than 64 conditions matched one CDR at once (durable's evaluation stack is full)",
    113: "a rule's condition is nested too deeply",
}


class DurableUnavailable(ImportError):
    """durable_rules is not importable (not installed; it does not install on Python >= 3.13)."""


class DurableBackendError(RuntimeError):
    """durable_rules could not evaluate a rule set or a CDR; never turned into a decision."""


# ---------------------------------------------------------------------------------- durable itself

_host_lock = threading.Lock()
_host: Any = None
_names = itertools.count(1)
_compiled: dict[str, "_Ruleset"] = {}


def _import_durable() -> tuple[Any, Any]:
    try:
        import durable_rules_engine
        from durable import engine
    except ImportError as exc:
        raise DurableUnavailable(
            "the 'durable' rules backend needs durable_rules, which is not installed "
            f"(it does not install on Python >= 3.13): {INSTALL_HINT}, "
            "or use the default backend (--rules-backend python)") from exc
    return engine, durable_rules_engine


def durable_available() -> bool:
    try:
        _import_durable()
    except DurableUnavailable:
        return False
    return True


def _get_host() -> Any:
    """One process-wide durable Host that never starts its timer threads (guard 1)."""
    global _host
    engine, _ = _import_durable()
    if _host is None:
        class _SynchronousHost(engine.Host):
            def _run(self) -> None:  # durable's version starts two threading.Timer dispatch loops
                pass

        _host = _SynchronousHost()
    return _host


def _action_must_not_run(c: Any) -> None:
    # durable's Ruleset wants a Python action per rule; ours are claimed, never run (guard 1).
    raise DurableBackendError("a durable action callback ran; the wrapper claims actions itself")


class _Ruleset:
    """One registered durable ruleset, shared by every classifier compiled from the same rules."""

    def __init__(self, name: str, definition: dict[str, Any]):
        engine, dre = _import_durable()
        self.name = name
        self.definition = definition
        self._engine = engine
        self._dre = dre
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        host = _get_host()
        host.register_rulesets({name: {rule: dict(body, run=_action_must_not_run)
                                       for rule, body in definition.items()}})
        self._ruleset = host.get_ruleset(name)

    def fire(self, event: dict[str, Any]) -> str | None:
        """Post ``event`` and return the name of the rule durable fired first (None: no rule)."""
        dre = self._dre
        with self._lock:  # one event in flight per ruleset: no other thread can claim our action
            event_id = f"e{next(self._ids)}"
            event["id"] = event_id
            try:
                state = self._ruleset.assert_event(event)
            except self._engine.MessageNotHandledException:
                return None  # guard 3: durable's way of saying "no rule matched"
            except self._engine.MessageObservedException as exc:
                raise DurableBackendError(f"durable ruleset {self.name} saw event {event_id} twice") from exc
            except dre.error as exc:
                raise DurableBackendError(_explain(exc, self.name)) from exc
            fired: list[tuple[str, Any]] = []
            try:
                result = dre.start_action_for_state(self._ruleset._handle, state)
                messages = result[1] if result else None
                while messages:
                    for rule, frame in json.loads(messages).items():
                        fired.append((rule, (frame.get("m") or {}).get("id")))
                    messages = dre.complete_and_start_action(self._ruleset._handle, state)
            except BaseException:
                try:
                    dre.abandon_action(self._ruleset._handle, state)
                except Exception:
                    pass
                raise
        foreign = [f for f in fired if f[1] != event_id]
        if foreign:
            raise DurableBackendError(f"durable ruleset {self.name} fired for another message: {foreign!r}")
        return fired[0][0] if fired else None


def _explain(exc: Exception, name: str) -> str:
    text = str(exc)
    for code, why in _DURABLE_ERRORS.items():
        if text.endswith(f"error code: {code}"):
            return f"durable_rules could not evaluate ruleset {name}: {why} ({text})"
    return f"durable_rules failed on ruleset {name}: {text}"


def _registered(definition: dict[str, Any]) -> _Ruleset:
    """The ruleset for ``definition``: registered once per content hash (guard 4)."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()
    with _host_lock:
        found = _compiled.get(digest)
        if found is None:
            name = f"cdrflow_{digest[:16]}_{next(_names)}"
            try:
                found = _Ruleset(name, definition)
            except DurableUnavailable:
                raise
            except Exception as exc:
                raise DurableBackendError(_explain(exc, name)) from exc
            _compiled[digest] = found
        return found


# ------------------------------------------------------------------------------------- encodings

_EXP_BIAS = 10**19
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_COMPLEMENT = str.maketrans("0123456789", "9876543210")


def encode_text(value: str) -> str:
    """A string as hex of its UTF-8 bytes: byte order of the result == Python's str order."""
    return value.encode("utf-8", "surrogatepass").hex()


def encode_number(value: int | Decimal) -> str | None:
    """An order-preserving, exact string for a number (None for NaN, which has no order)."""
    number = Decimal(value)
    if number.is_nan():
        return None
    if number.is_infinite():
        return "0" if number < 0 else "4"
    if not number:
        return "2"
    sign, digits, exponent = number.as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    exponent += len(digits) - len(text)
    magnitude = exponent + len(text)  # number == 0.<text> * 10**magnitude, first digit != 0
    if not -_EXP_BIAS < magnitude < _EXP_BIAS:
        raise DurableBackendError(f"number {value!r} is out of the encodable range")
    if sign:
        return f"1{_EXP_BIAS - magnitude:020d}{text.translate(_COMPLEMENT)}~"
    return f"3{_EXP_BIAS + magnitude:020d}{text}"


def encode_instant(value: datetime) -> str | None:
    """An aware date-time as its microseconds since the epoch (None when naive: no instant)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return None
    return encode_number((value - _EPOCH) // _MICROSECOND)


def encode_date(value: date) -> str:
    return encode_number(value.toordinal())  # type: ignore[return-value]


def encode_bool(value: bool) -> str:
    return "1" if value else "0"


def value_field(value: Any) -> tuple[str, str] | None:
    """(type tag, encoding) of a resolved value, in the order ``evaluate.comparable`` tests types."""
    if isinstance(value, bool):
        return "b", encode_bool(value)
    if is_number(value):
        encoded = encode_number(value)
        return ("n", encoded) if encoded is not None else None
    if isinstance(value, str):
        return "s", encode_text(value)
    if isinstance(value, datetime):
        encoded = encode_instant(value)
        return ("t", encoded) if encoded is not None else None
    if isinstance(value, date):
        return "d", encode_date(value)
    return None


def constant_fields(expected: Any) -> list[tuple[str, str]]:
    """Every (type tag, encoding) a value of some type is compared with for ``expected``.

    Mirrors ``evaluate.comparable``: bool only with bool, number only with number, a string with a
    string, and -- when it parses -- with a date-time (``parse_instant``) or a date.
    """
    if isinstance(expected, bool):
        return [("b", encode_bool(expected))]
    if is_number(expected):
        encoded = encode_number(expected)
        return [("n", encoded)] if encoded is not None else []
    if not isinstance(expected, str):
        return []
    out = [("s", encode_text(expected))]
    instant = parse_instant(expected)
    if instant is not None:
        out.append(("t", encode_instant(instant)))  # type: ignore[arg-type]
    try:
        out.append(("d", encode_date(date.fromisoformat(expected))))
    except ValueError:
        pass
    return out


def truncation_is_exact(value: str, constant: str, keep: int) -> bool:
    """For ``len(constant) < keep``: cutting ``value`` to ``keep`` characters changes no comparison.

    Proof: if value and constant differ at some i < len(constant) < keep, value[:keep] differs
    there too; otherwise one is a prefix of the other, and value[:keep] is longer than the
    constant exactly when value is. (Used by the tests; the classifier relies on the statement.)
    """
    cut = value[:keep]
    return (cut < constant) == (value < constant) and (cut == constant) == (value == constant)


# ---------------------------------------------------------------------------- condition translation
# Internal form, in negation normal form:
#   ("true",) ("false",) ("and", items) ("or", items) ("ex", field) ("nex", field)
#   (op, field, constant) with op in eq neq lt lte gt gte
#   ("leaf", positive, negative): one comparison with both of its forms; ``not`` swaps them.
#
# durable expands every condition into its disjunctive normal form, so the negative forms are
# written to stay small: the fields of one path are type-tagged and an event carries at most one
# of them, so "not (f1 = a or f1 = b or f2 = c)" is "no field present, or f1 is neither a nor b,
# or f2 is not c" -- linear in the constants, where De Morgan would give 2**3 conjunctions.

TRUE = ("true",)
FALSE = ("false",)
_ORDER_OPS = {"lt": "lt", "le": "lte", "gt": "gt", "ge": "gte"}
_NEGATED = {"eq": "neq", "neq": "eq", "lt": "gte", "gte": "lt", "gt": "lte", "lte": "gt"}
_PREFIX_END = "~"  # sorts after every hex digit


def _negate(node: tuple) -> tuple:
    kind = node[0]
    if kind == "true":
        return FALSE
    if kind == "false":
        return TRUE
    if kind == "and":
        return ("or", tuple(_negate(n) for n in node[1]))
    if kind == "or":
        return ("and", tuple(_negate(n) for n in node[1]))
    if kind == "leaf":
        return ("leaf", node[2], node[1])
    raise TypeError(f"not negatable: {node!r}")


def _lower(node: tuple) -> tuple:
    if node[0] == "leaf":
        return node[1]
    if node[0] in ("and", "or"):
        return (node[0], tuple(_lower(n) for n in node[1]))
    return node


def _none_of(alternatives: list[tuple[str, str, str]]) -> tuple:
    """The exact negation of ``or`` over ``alternatives`` (op, field, constant) of ONE path."""
    fields = list(dict.fromkeys(field for _, field, _ in alternatives))
    if not fields:
        return TRUE
    branches = [("and", tuple(("nex", f) for f in fields))]
    for f in fields:
        branches.append(("and", tuple((_NEGATED[op], field, c) for op, field, c in alternatives if field == f)))
    return ("or", tuple(branches))


def _leaf(alternatives: list[tuple[str, str, str]]) -> tuple:
    return ("leaf", ("or", tuple(alternatives)), _none_of(alternatives))


def _simplify(node: tuple) -> tuple:
    kind = node[0]
    if kind not in ("and", "or"):
        return node
    unit, zero = (TRUE, FALSE) if kind == "and" else (FALSE, TRUE)
    items: list[tuple] = []
    for item in (_simplify(n) for n in node[1]):
        if item == zero:
            return zero
        if item == unit:
            continue
        for part in item[1] if item[0] == kind else (item,):
            if part not in items:
                items.append(part)
    if not items:
        return unit
    if len(items) == 1:
        return items[0]
    return (kind, tuple(items))


def _depth(node: tuple) -> int:
    return 1 + max((_depth(n) for n in node[1]), default=0) if node[0] in ("and", "or") else 1


def _terms(node: tuple) -> int:
    """Conjunctions of the disjunctive normal form (what durable expands a condition into)."""
    if node[0] == "or":
        return sum(_terms(n) for n in node[1])
    if node[0] == "and":
        product = 1
        for n in node[1]:
            product *= _terms(n)
        return product
    return 1


def _emit(node: tuple) -> dict[str, Any]:
    kind = node[0]
    if kind in ("and", "or"):
        return {f"${kind}": [_emit(n) for n in node[1]]}
    if kind in ("ex", "nex"):
        return {f"${kind}": {node[1]: 1}}
    op, field, constant = node
    return {field: constant} if op == "eq" else {f"${op}": {field: constant}}


def _prefix_ranges(prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """Disjoint, sorted [low, high) ranges of hex strings that start with one of ``prefixes``."""
    ranges: list[list[str]] = []
    for low in sorted(encode_text(p) for p in prefixes):
        high = low + _PREFIX_END
        if ranges and low <= ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], high)
        else:
            ranges.append([low, high])
    return [(low, high) for low, high in ranges]


@dataclass
class _PathSlot:
    index: int
    steps: tuple[str | int, ...]
    present: bool = False  # send x<i>
    keep: dict[str, int] | None = None  # type tag -> characters kept (longest constant + 1)


class _Translator:
    def __init__(self) -> None:
        self.slots: dict[str, _PathSlot] = {}
        self.patterns: dict[tuple[str, str], int] = {}

    def slot(self, path: str) -> _PathSlot:
        if path not in self.slots:
            self.slots[path] = _PathSlot(len(self.slots), compile_path(path), keep={})
        return self.slots[path]

    def typed(self, slot: _PathSlot, tag: str, constant: str) -> str:
        if len(constant) > MAX_CONSTANT_CHARS:
            raise DurableBackendError(f"a rule constant is too long for durable_rules ({len(constant)} characters)")
        assert slot.keep is not None
        slot.keep[tag] = max(slot.keep.get(tag, 0), len(constant) + 1)
        return f"{tag}{slot.index}"

    def condition(self, cond: Condition) -> tuple:
        if isinstance(cond, All):
            return ("and", tuple(self.condition(c) for c in cond.items))
        if isinstance(cond, Any_):
            return ("or", tuple(self.condition(c) for c in cond.items))
        if isinstance(cond, Not):
            return _negate(self.condition(cond.item))
        if isinstance(cond, Cmp):
            return self.comparison(cond)
        raise TypeError(f"not a condition: {cond!r}")

    def comparison(self, cmp: Cmp) -> tuple:
        op, expected = cmp.op, cmp.value
        if op == "matches":
            key = (cmp.path, expected)
            if key not in self.patterns:
                self.slot(cmp.path)
                self.patterns[key] = len(self.patterns)
            field = f"r{self.patterns[key]}"
            return ("leaf", ("ex", field), ("nex", field))
        slot = self.slot(cmp.path)
        if op in ("exists", "missing"):
            slot.present = True
            leaf = ("leaf", ("ex", f"x{slot.index}"), ("nex", f"x{slot.index}"))
            return leaf if op == "exists" else _negate(leaf)
        if op in ("eq", "ne", "in", "not_in"):
            values = (expected,) if op in ("eq", "ne") else expected
            alternatives = list(dict.fromkeys(
                ("eq", self.typed(slot, tag, enc), enc) for v in values for tag, enc in constant_fields(v)))
            leaf = _leaf(alternatives)
            return leaf if op in ("eq", "in") else _negate(leaf)
        if op in _ORDER_OPS:
            return _leaf([(_ORDER_OPS[op], self.typed(slot, tag, enc), enc) for tag, enc in constant_fields(expected)])
        if op == "startswith":
            prefixes = (expected,) if isinstance(expected, str) else expected
            if not isinstance(prefixes, tuple) or not all(isinstance(p, str) for p in prefixes):
                raise DurableBackendError(f"startswith needs a string, got {expected!r}")
            ranges = _prefix_ranges(prefixes)
            field = ""
            for low, high in ranges:
                field = self.typed(slot, "s", low)
                self.typed(slot, "s", high)
            if not ranges:
                return ("leaf", FALSE, TRUE)
            positive = ("or", tuple(("and", (("gte", field, low), ("lt", field, high))) for low, high in ranges))
            # the complement of disjoint sorted ranges: absent, below the first, between, above the last
            gaps: list[tuple] = [("nex", field), ("lt", field, ranges[0][0])]
            for (_, high), (low, _) in zip(ranges, ranges[1:]):
                gaps.append(("and", (("gte", field, high), ("lt", field, low))))
            gaps.append(("gte", field, ranges[-1][1]))
            return ("leaf", positive, ("or", tuple(gaps)))
        raise ValueError(f"unknown operator {op!r}")


# ------------------------------------------------------------------------------------ the classifier

class DurableClassifier:
    """``Classifier`` with durable_rules deciding; same interface, same decisions."""

    backend = "durable"

    def __init__(self, rules: Sequence[Rule], fallback: Fallback):
        _import_durable()
        self.rules = ordered(rules)
        self.fallback = fallback
        self._fallback_match = match_for(fallback)
        translator = _Translator()
        definition: dict[str, Any] = {}
        self._matches: dict[str, Match] = {}
        total_terms = 0
        for rank, rule in enumerate(self.rules):
            node = _simplify(("and", (("eq", MARKER, 1), _lower(translator.condition(rule.when)))))
            if node == FALSE:
                continue  # can never hold (e.g. ``in: []``); the default evaluator never picks it either
            if _depth(node) > MAX_EXPRESSION_DEPTH:
                raise DurableBackendError(f"rule {rule.id!r} nests too deeply for durable_rules "
                                          f"({_depth(node)} > {MAX_EXPRESSION_DEPTH} levels)")
            terms = _terms(node)
            if terms > MAX_RULE_TERMS:
                raise DurableBackendError(f"rule {rule.id!r} expands to {terms} alternatives; durable_rules "
                                          f"takes at most {MAX_RULE_TERMS} per rule")
            total_terms += terms
            name = f"r{rank}"
            definition[name] = {"all": [{"m": _emit(node)}], "pri": rank}
            self._matches[name] = match_for(rule)
        self._slots = tuple((s.index, s.steps, s.present, dict(s.keep or {})) for s in translator.slots.values())
        self._patterns = tuple((f"r{k}", compile_path(path), re.compile(pattern))
                               for (path, pattern), k in translator.patterns.items())
        fields = 2 + sum(s.present + bool(s.keep) for s in translator.slots.values()) + len(self._patterns)
        if fields > MAX_EVENT_FIELDS:
            raise DurableBackendError(f"the rules need {fields} event fields; durable_rules takes at most "
                                      f"{MAX_EVENT_FIELDS}")
        if total_terms > MAX_RULESET_TERMS:
            raise DurableBackendError(f"the rules expand to {total_terms} alternatives; durable_rules hangs "
                                      f"on more than ~512, so at most {MAX_RULESET_TERMS} are accepted")
        self.definition = definition
        self.terms = total_terms
        self._ruleset = _registered(definition) if definition else None

    @property
    def ruleset_name(self) -> str | None:
        return self._ruleset.name if self._ruleset else None

    def event(self, cdr: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
        """The flat event durable sees for one CDR (without its id)."""
        ctx = {"cdr": cdr, "facts": facts}
        event: dict[str, Any] = {MARKER: 1}
        for index, steps, present, keep in self._slots:
            value = resolve(ctx, steps)
            if value is MISSING:
                continue
            if present:
                event[f"x{index}"] = 1
            if keep:
                typed = value_field(value)
                if typed is not None and typed[0] in keep:
                    event[f"{typed[0]}{index}"] = typed[1][:keep[typed[0]]]
        for name, steps, pattern in self._patterns:
            value = resolve(ctx, steps)
            if isinstance(value, str) and pattern.search(value) is not None:
                event[name] = 1
        return event

    def classify(self, cdr: dict[str, Any], facts: dict[str, Any]) -> Match:
        if self._ruleset is None:
            return self._fallback_match
        fired = self._ruleset.fire(self.event(cdr, facts))
        if fired is None:
            return self._fallback_match
        return self._matches[fired]
