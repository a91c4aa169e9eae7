"""Checks on classification rules one by one and as a set: priorities, regexes, the fallback,
descriptions.  (Duplicate rule ids are a ``unique`` registration in ``references``; shadowing
lives in ``shadowing``; paths and operators in ``paths`` and ``operators``.)"""

from __future__ import annotations

import re
from typing import Iterator

from engine.classify.rules import Rule, walk
from engine.lint.context import LintContext, key_loc, value_loc
from engine.lint.registry import check
from engine.problems import Problem


@check
def priority_ties(ctx: LintContext) -> Iterator[Problem]:
    """rule.priority_tie: two rules with the same priority (file order would silently decide)."""
    first: dict[int, Rule] = {}
    for rule in ctx.rules:
        if rule.priority not in first:
            first[rule.priority] = rule
            continue
        other = first[rule.priority]
        yield ctx.problem(
            "rule.priority_tie", value_loc(ctx.rule_node(rule), "priority"),
            f"rule {rule.id!r} has priority {rule.priority}, the same as rule {other.id!r} "
            f"({other.file}:{other.line}): give every rule its own priority")


@check
def regexes(ctx: LintContext) -> Iterator[Problem]:
    """rule.bad_regex: a ``matches`` pattern that does not compile."""
    for rule in ctx.rules:
        for cmp in walk(rule.when):
            if cmp.op != "matches":
                continue
            try:
                re.compile(cmp.value)
            except re.error as exc:
                where = value_loc(ctx.node_at(cmp.loc), "matches") or cmp.loc
                at = f" at position {exc.pos}" if exc.pos is not None else ""
                yield ctx.problem("rule.bad_regex", where,
                                  f"rule {rule.id!r}: regex {cmp.value!r} does not compile: {exc.msg}{at}")


@check
def fallback(ctx: LintContext) -> Iterator[Problem]:
    """rule.no_fallback / rule.duplicate_fallback: exactly one fallback in the bundle."""
    docs = ctx.docs("classification")
    declared = [d for d in docs if "fallback" in d.data]
    if not declared:
        where = docs[0].file if docs else "rules"
        yield ctx.problem("rule.no_fallback", where,
                          "no 'fallback' declared: CDRs no rule matches would have nowhere to go; "
                          "add 'fallback: {reason: UNCLASSIFIED}' to one classification file")
    for doc in declared[1:]:
        first = declared[0]
        yield ctx.problem("rule.duplicate_fallback", key_loc(doc.data, "fallback"),
                          f"a second fallback (the first is at {first.file}:"
                          f"{key_loc(first.data, 'fallback').line}): keep exactly one")


@check
def descriptions(ctx: LintContext) -> Iterator[Problem]:
    """rule.no_description: every rule says why it exists (shown next to each Decision)."""
    for rule in ctx.rules:
        if not rule.description.strip():
            node = ctx.rule_node(rule)
            yield ctx.problem("rule.no_description", key_loc(node, "id"),
                              f"rule {rule.id!r} has no description: say why it exists "
                              f"(analysts read it next to every Decision it makes)", severity="warning")
