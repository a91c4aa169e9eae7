"""Unreachable rules: shadowed by an earlier rule, or with a condition that never holds.

Rules are tried by priority (ties by file order) and the first match decides, so a rule whose
condition implies the condition of a rule tried before it never decides anything.  The
implication check (``engine.lint.implication``) is sound but not complete: every finding is real,
some shadowed rules go unnoticed.
"""

from __future__ import annotations

from typing import Iterator

from engine.classify.evaluate import ordered
from engine.lint.context import LintContext, value_loc
from engine.lint.implication import always, implies, never
from engine.lint.registry import check
from engine.problems import Problem


@check
def unreachable_rules(ctx: LintContext) -> Iterator[Problem]:
    """rule.shadowed (an earlier rule matches every CDR this one matches) and rule.never_matches
    (the condition contradicts itself)."""
    earlier = []
    for rule in ordered(ctx.rules):
        where = value_loc(ctx.rule_node(rule), "when")
        if never(rule.when):
            yield ctx.problem("rule.never_matches", where,
                              f"rule {rule.id!r} can never match: its condition contradicts itself")
            continue
        for other in earlier:
            if implies(rule.when, other.when):
                how = ("matches every CDR (its condition always holds)" if always(other.when)
                       else "matches every CDR it matches")
                yield ctx.problem(
                    "rule.shadowed", where,
                    f"rule {rule.id!r} can never match: rule {other.id!r} (priority {other.priority}, "
                    f"{other.file}:{other.line}) {how}")
                break
        earlier.append(rule)
