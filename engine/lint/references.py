"""Names defined in one place and used in another: duplicates and dangling references.

Every kind of named thing lives in a *namespace* ("rule", "stream.mapped", later "tariff",
"msp", "account", ...).  Three one-line registrations cover the usual checks:

    @defines("tariff")                                # where names are defined
    def tariff_ids(ctx): yield Ref(id, loc, f"tariff {id!r}")

    unique("tariff", "tariff.duplicate_id", noun="tariff id")             # no name twice

    @refers_to("tariff", "msp.unknown_tariff", noun="tariff")             # every use resolves
    def msp_tariffs(ctx): yield Ref(tariff_id, loc, f"MSP {party!r}")

A reference check whose namespace has no definer registered is skipped: the kind it points at
is not loaded in this build, and reporting every use as unknown would only be noise.

The bottom of this module registers what exists today: rule ids, the streams rules produce and
the streams mappings consume, posting groups, and the rules tests expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Iterator

from engine.config.yamlload import Loc, LocDict, LocList
from engine.lint.context import LintContext, value_loc
from engine.lint.fields import did_you_mean
from engine.lint.registry import check
from engine.problems import Problem


@dataclass(frozen=True)
class Ref:
    """One definition or use of a name."""

    name: Hashable
    loc: Loc | None
    label: str = ""  # who defines / uses it, for messages: "rule 'adhoc-app'"
    show: str | None = None  # how to print the name (default: repr)

    @property
    def shown(self) -> str:
        return self.show if self.show is not None else repr(self.name)


Finder = Callable[[LintContext], Iterable[Ref]]


@dataclass(frozen=True)
class Unique:
    namespace: str
    code: str
    noun: str
    severity: str
    message: str


@dataclass(frozen=True)
class Reference:
    namespace: str
    code: str
    noun: str
    severity: str
    message: str
    finder: Finder


DEFINERS: dict[str, list[Finder]] = {}
UNIQUES: list[Unique] = []
REFERENCES: list[Reference] = []


def _replace(items: list, new: Any, same: Callable[[Any], bool]) -> None:
    items[:] = [i for i in items if not same(i)] + [new]


def defines(namespace: str) -> Callable[[Finder], Finder]:
    """Decorator: ``finder(ctx)`` yields a ``Ref`` for every name defined in ``namespace``."""
    def register(finder: Finder) -> Finder:
        _replace(DEFINERS.setdefault(namespace, []), finder,
                 lambda f: (f.__module__, f.__qualname__) == (finder.__module__, finder.__qualname__))
        return finder
    return register


def unique(namespace: str, code: str, *, noun: str, severity: str = "error",
           message: str = "duplicate {noun} {name} (first defined by {first_label} at {first_loc})") -> None:
    """Each name of ``namespace`` may be defined once.  The message may use {noun} {name}
    {label} {first_label} {first_loc}."""
    _replace(UNIQUES, Unique(namespace, code, noun, severity, message),
             lambda u: (u.namespace, u.code) == (namespace, code))


def refers_to(namespace: str, code: str, *, noun: str = "", severity: str = "error",
              message: str = "{label} refers to unknown {noun} {name}{hint}") -> Callable[[Finder], Finder]:
    """Decorator: ``finder(ctx)`` yields a ``Ref`` for every use of a ``namespace`` name; a use
    with no definition is reported.  The message may use {noun} {name} {label} {hint}."""
    def register(finder: Finder) -> Finder:
        _replace(REFERENCES, Reference(namespace, code, noun or namespace, severity, message, finder),
                 lambda r: (r.namespace, r.code) == (namespace, code))
        return finder
    return register


def definitions(ctx: LintContext, namespace: str) -> list[Ref]:
    def compute() -> list[Ref]:
        return [ref for finder in DEFINERS.get(namespace, ()) for ref in finder(ctx)]
    return ctx.memo(("definitions", namespace), compute)


def _where(loc: Loc | None) -> str:
    return f"{loc.file}:{loc.line}" if loc is not None else "?"


@check
def duplicate_definitions(ctx: LintContext) -> Iterator[Problem]:
    """Every ``unique`` namespace: a name defined twice (rule ids, posting groups, ...)."""
    for rule in UNIQUES:
        first: dict[Hashable, Ref] = {}
        for ref in definitions(ctx, rule.namespace):
            if ref.name not in first:
                first[ref.name] = ref
                continue
            earlier = first[ref.name]
            yield ctx.problem(rule.code, ref.loc, rule.message.format(
                noun=rule.noun, name=ref.shown, label=ref.label, first_label=earlier.label,
                first_loc=_where(earlier.loc)), severity=rule.severity)


@check
def dangling_references(ctx: LintContext) -> Iterator[Problem]:
    """Every ``refers_to`` registration: a use of a name nobody defines (with did you mean)."""
    for ref_rule in REFERENCES:
        if not DEFINERS.get(ref_rule.namespace):
            continue  # that kind is not loaded in this build
        defined = {ref.name for ref in definitions(ctx, ref_rule.namespace)}
        for use in ref_rule.finder(ctx):
            if use.name in defined:
                continue
            hint = did_you_mean(use.name, sorted(str(n) for n in defined)) if isinstance(use.name, str) else ""
            yield ctx.problem(ref_rule.code, use.loc, ref_rule.message.format(
                noun=ref_rule.noun, name=use.shown, label=use.label, hint=hint, raw=use.name),
                severity=ref_rule.severity)


# -- what exists today -------------------------------------------------------------------------

def _raw_items(ctx: LintContext, kind: str, key: str) -> Iterator[tuple[Any, LocDict]]:
    """(document, item) for every mapping item of the list ``key``, valid or not."""
    for doc in ctx.docs(kind):
        items = doc.data.get(key)
        if isinstance(items, LocList):
            for item in items:
                if isinstance(item, LocDict):
                    yield doc, item


@defines("rule")
def rule_ids(ctx: LintContext) -> Iterator[Ref]:
    for _, item in _raw_items(ctx, "classification", "rules"):
        if isinstance(item.get("id"), str):
            yield Ref(item["id"], value_loc(item, "id"), f"rule {item['id']!r}")


unique("rule", "rule.duplicate_id", noun="rule id",
       message="duplicate rule id {name}: already used at {first_loc}; every Decision records the id, "
               "so it must be unique across the bundle")


@defines("decision.rule")
def decision_rules(ctx: LintContext) -> Iterator[Ref]:
    """What a Decision's rule can be: a rule id, or 'fallback'."""
    yield from rule_ids(ctx)
    for doc in ctx.docs("classification"):
        if "fallback" in doc.data:
            yield Ref("fallback", value_loc(doc.data, "fallback"), "the fallback")


@refers_to("decision.rule", "tests.unknown_rule", noun="rule",
           message="{label} expects rule {name}, which does not exist{hint}")
def test_expected_rules(ctx: LintContext) -> Iterator[Ref]:
    for _, item in _raw_items(ctx, "tests", "tests"):
        expect = item.get("expect")
        if isinstance(expect, LocDict) and isinstance(expect.get("rule"), str):
            yield Ref(expect["rule"], value_loc(expect, "rule"), f"test {item.get('name')!r}")


@defines("stream.mapped")
def mapped_streams(ctx: LintContext) -> Iterator[Ref]:
    """The stream of every mapping file."""
    for doc in ctx.docs("mapping"):
        stream = doc.data.get("stream")
        if ctx.valid("mapping", "/properties/stream", stream):
            yield Ref(stream, value_loc(doc.data, "stream"), f"the mapping {doc.file}")


unique("stream.mapped", "mapping.duplicate_stream", noun="mapping",
       message="a second mapping for stream {name}: {first_label} (at {first_loc}) already maps it")


@defines("stream.produced")
def produced_streams(ctx: LintContext) -> Iterator[Ref]:
    """The stream of every rule that sends CDRs to one."""
    for rule in ctx.rules:
        if rule.stream is not None:
            yield Ref(rule.stream, value_loc(ctx.rule_node(rule), "stream"), f"rule {rule.id!r}")


refers_to("stream.mapped", "rule.no_mapping", noun="mapping", severity="warning",
          message="{label} sends CDRs to stream {name}, but no mapping file has 'stream: {raw}': "
                  "its Decisions would carry no billing fields")(produced_streams)

refers_to("stream.produced", "mapping.no_rule", noun="rule", severity="warning",
          message="no rule sends CDRs to stream {name}: {label} is never used")(mapped_streams)


@defines("posting_group")
def posting_group_ids(ctx: LintContext) -> Iterator[Ref]:
    for _, item in _raw_items(ctx, "posting_groups", "groups"):
        if isinstance(item.get("id"), str):
            yield Ref(item["id"], value_loc(item, "id"), f"posting group {item['id']!r}")


unique("posting_group", "posting_groups.duplicate_id", noun="posting group id")


@defines("posting_group.key")
def posting_group_keys(ctx: LintContext) -> Iterator[Ref]:
    """(stream, tax_treatment, product) of every posting group: what a journal line looks up."""
    for _, _, item, loc in ctx.items("posting_groups", "groups", "/properties/groups/items"):
        key = (item["stream"], item["tax_treatment"], item["product"])
        yield Ref(key, loc, f"posting group {item['id']!r}",
                  show=f"(stream {key[0]}, tax_treatment {key[1]}, product {key[2]})")


unique("posting_group.key", "posting_groups.duplicate", noun="posting group key",
       message="{label} repeats {name} of {first_label} (at {first_loc}): each (stream, "
               "tax_treatment, product) must map to exactly one posting group")
