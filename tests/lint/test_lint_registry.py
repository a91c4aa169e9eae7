"""engine/lint/registry.py: checks are plain functions registered with one line."""

from __future__ import annotations

import pytest

from engine.lint import CHECK_MODULES, load_checks, registry
from engine.lint.registry import check, check_name, run_checks


@pytest.fixture
def fresh_checks(monkeypatch):
    monkeypatch.setattr(registry, "CHECKS", list(registry.CHECKS))
    return registry.CHECKS


def test_adding_a_check_is_one_decorator(lint_tree, fresh_checks):
    @check
    def no_msp_rules(ctx):
        for rule in ctx.rules:
            if rule.stream == "msp":
                yield ctx.problem("house.no_msp", ctx.rule_node(rule).loc, "no MSP rules this quarter")

    r = lint_tree({"rules/classification.yaml": open_rules("msp")}, checks=None)
    assert [p.code for p in r.findings if p.code.startswith("house.")] == ["house.no_msp"]


def open_rules(stream: str) -> str:
    from lintkit import rules_file
    return rules_file(f"""
        - id: one
          description: a
          priority: 1
          when: {{path: cdr.id, exists: true}}
          stream: {stream}
    """)


def test_registering_twice_keeps_one(fresh_checks):
    def twice(ctx):
        return []
    before = len(fresh_checks)
    check(twice)
    check(twice)
    assert len(fresh_checks) == before + 1


def test_a_crashing_check_is_reported_and_the_others_still_run(lint_tree, fresh_checks):
    @check
    def broken(ctx):
        raise KeyError("oops")

    r = lint_tree({"rules/classification.yaml": open_rules("msp")})
    p = r.one("lint.internal")
    assert p.is_error and p.file is None
    assert p.message.startswith("check test_lint_registry.broken crashed: KeyError: 'oops'")
    assert r.of("rule.no_mapping")  # the other checks ran


def test_identical_findings_are_reported_once(lint_tree):
    from engine.problems import Problem

    def twice(ctx):
        return [Problem(code="x.y", message="m", file="f", line=1, col=1)] * 2

    assert len(run_checks(None, [twice, twice])) == 1


def test_every_check_module_loads_and_registers():
    checks = load_checks()
    modules = {c.__module__ for c in checks}
    assert set(CHECK_MODULES) <= modules
    assert "shadowing.unreachable_rules" in {check_name(c) for c in checks}
