"""Comparisons that cannot do what they say, given the field's type in the schemas.

The evaluator never raises: ``eq: 5`` on a string field, ``gt`` on a boolean or ``matches`` on
a date-time are simply always false (``ne``/``not_in`` always true).  These checks find them:

* rule.type_mismatch -- the value's type can never compare with the field's (with a hint:
  quote it, unquote it, use an ISO date-time, ...); ordering a string enumeration;
* rule.enum_value -- a value outside the field's enum (did you mean); error for eq/in/matches/
  startswith (never matches), warning for ne/not_in (always true, probably a typo);
* rule.string_order (warning) -- lt/le/gt/ge on a free-text field compare alphabetically.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator

from engine.classify.evaluate import compare, is_number, parse_instant, values_equal
from engine.classify.rules import Cmp, Rule, walk
from engine.lint.context import LintContext, value_loc
from engine.lint.fields import BOOLEAN, DATETIME, NUMBER, STRING, FieldType, did_you_mean
from engine.lint.registry import check
from engine.problems import Problem

_EQUALITY = ("eq", "ne", "in", "not_in")
_ORDER = ("lt", "le", "gt", "ge")
_TEXT = ("matches", "startswith")


def show(value: Any) -> str:
    """A value as the analyst wrote it in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return str(value)
    return repr(value)


def _fits(value: Any, ftype: FieldType) -> bool:
    """Can a field of this type ever equal ``value``?"""
    if isinstance(value, bool):
        return BOOLEAN in ftype.kinds
    if is_number(value):
        return NUMBER in ftype.kinds
    if isinstance(value, str):
        return STRING in ftype.kinds or (DATETIME in ftype.kinds and parse_instant(value) is not None)
    return False


def _numeric(text: str) -> bool:
    try:
        Decimal(text)
        return True
    except InvalidOperation:
        return False


def _hint(value: Any, ftype: FieldType) -> str:
    if is_number(value) and STRING in ftype.kinds:
        return f"; quote it: '{value}'"
    if isinstance(value, bool) and STRING in ftype.kinds:
        return f"; quote it: '{show(value)}'"
    if isinstance(value, str):
        if NUMBER in ftype.kinds and _numeric(value):
            return f"; write it without quotes: {value}"
        if BOOLEAN in ftype.kinds and value.lower() in ("true", "false"):
            return f"; write it without quotes: {value.lower()}"
        if DATETIME in ftype.kinds:
            return "; write an ISO 8601 date-time such as '2026-01-01T00:00:00Z'"
    if DATETIME in ftype.kinds and is_number(value):
        return "; write an ISO 8601 date-time such as '2026-01-01T00:00:00Z'"
    return ""


def _enum_hint(value: Any, enum: tuple[Any, ...]) -> str:
    return did_you_mean(value, [e for e in enum if isinstance(e, str)]) if isinstance(value, str) else ""


def _list(enum: tuple[Any, ...]) -> str:
    return ", ".join(e if isinstance(e, str) else show(e) for e in enum)


def cmp_problems(rule: Rule, cmp: Cmp, ftype: FieldType) -> Iterator[tuple[str, str, str]]:
    """(code, severity, message) for one comparison on a field of a known type."""
    head = f"rule {rule.id!r}: {cmp.op}"
    path = cmp.path
    if cmp.op in _EQUALITY:
        values = tuple(cmp.value) if cmp.op in ("in", "not_in") else (cmp.value,)
        outcome = "false" if cmp.op in ("eq", "in") else "true"
        for v in values:
            if not _fits(v, ftype):
                yield ("rule.type_mismatch", "error",
                       f"{head} {show(v)}: {path} is a {ftype.describe()} and never equals "
                       f"the {_kind_of(v)} {show(v)}, so this is always {outcome}{_hint(v, ftype)}")
            elif ftype.enum is not None and not any(values_equal(e, v) for e in ftype.enum):
                severity = "error" if cmp.op in ("eq", "in") else "warning"
                yield ("rule.enum_value", severity,
                       f"{head} {show(v)}: not a value of {path} ({_list(ftype.enum)}), so this is "
                       f"always {outcome}{_enum_hint(v, ftype.enum)}")
    elif cmp.op in _ORDER:
        v = cmp.value
        if not ftype.kinds & {STRING, NUMBER, DATETIME}:
            yield ("rule.type_mismatch", "error",
                   f"{head} {show(v)}: {path} is a {ftype.describe()}, which has no order: always false")
        elif is_number(v):
            if NUMBER not in ftype.kinds:
                yield ("rule.type_mismatch", "error",
                       f"{head} {show(v)}: {path} is a {ftype.describe()} and never orders with a "
                       f"number: always false{_hint(v, ftype)}")
        elif isinstance(v, str):
            if DATETIME in ftype.kinds and parse_instant(v) is not None:
                return
            if STRING not in ftype.kinds:
                yield ("rule.type_mismatch", "error",
                       f"{head} {show(v)}: {path} is a {ftype.describe()} and never orders with the "
                       f"string {show(v)}: always false{_hint(v, ftype)}")
            elif ftype.enum is not None:
                yield ("rule.type_mismatch", "error",
                       f"{head} {show(v)}: {path} is a string enumeration ({_list(ftype.enum)}); "
                       f"ordering it compares the names alphabetically: use in/not_in")
            elif not ftype.date:
                yield ("rule.string_order", "warning",
                       f"{head} {show(v)}: {path} is a string, so this compares alphabetically "
                       f"('10' < '9'); is that what you mean?")
    elif cmp.op in _TEXT:
        v = cmp.value
        if STRING not in ftype.kinds:
            better = ("; compare date-times with ge/lt and an ISO date-time" if DATETIME in ftype.kinds
                      else "; use eq/in or lt/le/gt/ge" if ftype.kinds & {NUMBER, BOOLEAN} else "")
            yield ("rule.type_mismatch", "error",
                   f"{head} {show(v)}: {cmp.op} works on text, but {path} is a "
                   f"{ftype.describe()}: always false{better}")
        elif ftype.enum is not None:
            try:
                hits = [e for e in ftype.enum if isinstance(e, str) and compare(cmp.op, e, v)]
            except re.error:
                return  # rule.bad_regex says so
            if not hits:
                verb = "matches" if cmp.op == "matches" else "starts with"
                yield ("rule.enum_value", "error",
                       f"{head} {show(v)}: no value of {path} ({_list(ftype.enum)}) {verb} "
                       f"{show(v)}, so this is always false{_enum_hint(v, ftype.enum)}")


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


@check
def operator_types(ctx: LintContext) -> Iterator[Problem]:
    for rule in ctx.rules:
        for cmp in walk(rule.when):
            if cmp.op in ("exists", "missing"):
                continue
            info = ctx.catalog.lookup(cmp.path)
            if info.status != "ok" or info.type is None or not info.type.known:
                continue
            for code, severity, message in cmp_problems(rule, cmp, info.type):
                where = value_loc(ctx.node_at(cmp.loc), cmp.op) or cmp.loc
                yield ctx.problem(code, where, message, severity=severity)

