"""The rule language as data: a condition tree with source locations.

Both evaluators (compiled Python, durable_rules) and the linter work on this tree, never on the
raw YAML, so they cannot disagree about what a rule says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from engine.config.yamlload import Loc, LocDict, LocList
from engine.paths import compile_path

OPERATORS = ("eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "exists", "missing", "matches", "startswith")


@dataclass(frozen=True)
class Cmp:
    path: str
    op: str
    value: Any
    loc: Loc | None = None

    @property
    def steps(self) -> tuple[str | int, ...]:
        return compile_path(self.path)


@dataclass(frozen=True)
class All:
    items: tuple["Condition", ...]
    loc: Loc | None = None


@dataclass(frozen=True)
class Any_:
    items: tuple["Condition", ...]
    loc: Loc | None = None


@dataclass(frozen=True)
class Not:
    item: "Condition"
    loc: Loc | None = None


Condition = Union[Cmp, All, Any_, Not]


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    when: Condition
    stream: str | None
    exception: dict[str, str] | None
    description: str
    file: str
    line: int
    order: int  # position in the bundle (file order, then list order): the tie-breaker

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "file": self.file, "line": self.line}


@dataclass(frozen=True)
class Fallback:
    reason: str
    description: str
    file: str
    line: int

    def ref(self) -> dict[str, Any]:
        return {"id": "fallback", "file": self.file, "line": self.line}


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def parse_condition(node: Any) -> Condition:
    """Build the tree from a schema-valid YAML condition."""
    loc = node.loc if isinstance(node, LocDict) else None
    if "all" in node:
        return All(tuple(parse_condition(c) for c in node["all"]), loc)
    if "any" in node:
        return Any_(tuple(parse_condition(c) for c in node["any"]), loc)
    if "not" in node:
        return Not(parse_condition(node["not"]), loc)
    (op,) = [k for k in node if k != "path"]
    value = node[op]
    return Cmp(str(node["path"]), op, _freeze(value), loc)


def parse_rules(doc: LocDict, file: str, start_order: int) -> list[Rule]:
    rules = []
    items = doc.get("rules") or []
    for i, raw in enumerate(items):
        loc = items.item_locs[i] if isinstance(items, LocList) else None
        exception = raw.get("exception")
        rules.append(Rule(
            id=raw["id"],
            priority=int(raw["priority"]),
            when=parse_condition(raw["when"]),
            stream=raw.get("stream"),
            exception=dict(exception) if exception else None,
            description=str(raw.get("description", "")),
            file=file,
            line=loc.line if loc else 0,
            order=start_order + i,
        ))
    return rules


def parse_fallback(doc: LocDict, file: str) -> Fallback | None:
    raw = doc.get("fallback")
    if raw is None:
        return None
    loc = doc.value_locs.get("fallback") if isinstance(doc, LocDict) else None
    return Fallback(str(raw["reason"]), str(raw.get("description", "")), file, loc.line if loc else 0)


def walk(cond: Condition):
    """Every comparison in a condition tree."""
    if isinstance(cond, Cmp):
        yield cond
    elif isinstance(cond, (All, Any_)):
        for item in cond.items:
            yield from walk(item)
    else:
        yield from walk(cond.item)
