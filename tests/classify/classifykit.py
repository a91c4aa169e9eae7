"""Helpers shared by the classification tests: rule sets from YAML, the repository bundle."""

from __future__ import annotations

import importlib
import importlib.util
import textwrap
from pathlib import Path

from engine.classify.rules import Fallback, Rule, parse_fallback, parse_rules
from engine.config.yamlload import load_yaml

REPO = Path(__file__).resolve().parents[2]


def ruleset(text: str, file: str = "rules/test.yaml") -> tuple[list[Rule], Fallback]:
    """Rules and fallback of one classification document, read by the project's strict loader."""
    data, problems = load_yaml(textwrap.dedent(text), file)
    assert data is not None and not [p for p in problems if p.is_error], problems
    rules = parse_rules(data, file, 0)
    fallback = parse_fallback(data, file) or Fallback("UNCLASSIFIED", "no rule matched", file, 0)
    return rules, fallback


def one_rule(when: str, *, rule_id: str = "r", fallback: str = "NO_MATCH") -> tuple[list[Rule], Fallback]:
    """A rule set of one rule (stream adhoc) with the condition ``when`` (flow-style YAML)."""
    return ruleset(f"""\
        kind: classification
        rules:
          - id: {rule_id}
            priority: 1
            when: {when}
            stream: adhoc
        fallback: {{reason: {fallback}}}
        """)


def load_kind_modules() -> None:
    """Import the modules that register configuration kinds (tariffs, tax rules...) when present."""
    try:
        from engine.lint import load_kinds
    except ImportError:
        load_kinds = None
    if load_kinds is not None:
        load_kinds()
        return
    for name in ("engine.tax.config", "engine.rates.config"):
        try:
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
        except ModuleNotFoundError:
            pass


def outcome(match) -> tuple:
    """What must be identical between backends: the rule's id/file/line, the stream, the exception."""
    return (match.rule.ref()["id"], match.rule.ref()["file"], match.rule.ref()["line"],
            match.stream, match.exception)


def condition_trees(comparisons, *, max_leaves: int, min_items: int = 1, max_items: int = 3):
    """A hypothesis strategy for condition trees: ``comparisons`` nested in all/any/not."""
    from hypothesis import strategies as st

    from engine.classify.rules import All, Any_, Not

    return st.recursive(
        comparisons,
        lambda inner: st.one_of(
            st.lists(inner, min_size=min_items, max_size=max_items).map(lambda xs: All(tuple(xs))),
            st.lists(inner, min_size=min_items, max_size=max_items).map(lambda xs: Any_(tuple(xs))),
            inner.map(Not),
        ),
        max_leaves=max_leaves,
    )


def generated_rules(conditions, priorities) -> list[Rule]:
    """One rule per condition (odd ones stream adhoc, even ones an exception G<i>), in file order."""
    return [Rule(f"g{i}", p, c, "adhoc" if i % 2 else None, None if i % 2 else {"reason": f"G{i}"}, "",
                 "rules/generated.yaml", i + 1, i) for i, (c, p) in enumerate(zip(conditions, priorities))]
