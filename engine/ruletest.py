"""Analysts' rule tests (``kind: tests``): a CDR and facts in, the expected Decision out.

Written in YAML next to the rules, dbt style, so a rule change and the case that proves it
travel in one commit. A case checks only the keys its ``expect`` names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.config.yamlload import LocDict, LocList, plain
from engine.decision import Decision
from engine.jsonable import to_jsonable
from engine.paths import MISSING, compile_path, resolve
from engine.pipeline import Pipeline, merge


@dataclass
class Case:
    name: str
    file: str
    line: int
    cdr: dict[str, Any] | None
    facts: dict[str, Any] | None
    expect: dict[str, Any]
    load_error: str | None = None


@dataclass
class Outcome:
    case: Case
    passed: bool
    failures: list[str] = field(default_factory=list)
    decision: Decision | None = None

    def to_json(self) -> dict[str, Any]:
        d = self.decision
        return {
            "name": self.case.name, "file": self.case.file, "line": self.case.line,
            "passed": self.passed, "failures": self.failures,
            "stream": d.stream if d else None,
            "rule": d.rule if d else None,
            "exception": d.exception["reason"] if d and d.exception else None,
        }


def _read_cdr(spec: dict[str, Any], base: Path) -> tuple[dict[str, Any] | None, str | None]:
    if "inline" in spec:
        cdr = plain(spec["inline"])
    else:
        path = base / spec["file"]
        try:
            cdr = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
        except FileNotFoundError:
            return None, f"CDR file not found: {spec['file']} (relative to {base})"
        except (ValueError, UnicodeDecodeError) as exc:
            return None, f"CDR file {spec['file']} is not valid JSON: {exc}"
    if "patch" in spec:
        if not isinstance(cdr, dict):
            return None, "patch needs a CDR object"
        cdr = merge(cdr, plain(spec["patch"]))
    return cdr, None


def cases_from(doc: LocDict, file: str, path: Path) -> list[Case]:
    out = []
    items = doc.get("tests") or []
    for i, raw in enumerate(items):
        line = items.item_locs[i].line if isinstance(items, LocList) else 0
        cdr, error = _read_cdr(raw["cdr"], path.parent)
        out.append(Case(name=str(raw["name"]), file=file, line=line, cdr=cdr,
                        facts=plain(raw["facts"]) if "facts" in raw else None,
                        expect=plain(raw["expect"]), load_error=error))
    return out


def _same(actual: Any, expected: Any) -> bool:
    if expected is None:
        return actual is None or actual is MISSING
    if isinstance(expected, (int, Decimal)) and not isinstance(expected, bool):
        try:
            return Decimal(str(actual)) == Decimal(expected)
        except Exception:  # noqa: BLE001 - any unparsable actual simply does not match
            return False
    return str(to_jsonable(actual)) == str(to_jsonable(expected)) if not isinstance(expected, bool) \
        else actual is expected


def check(decision: Decision, expect: dict[str, Any]) -> list[str]:
    """The differences between a Decision and a case's expectations, as sentences."""
    failures = []
    if "stream" in expect and decision.stream != expect["stream"]:
        failures.append(f"stream: expected {expect['stream']!r}, got {decision.stream!r}")
    if "rule" in expect:
        got = decision.rule["id"] if decision.rule else None
        if got != expect["rule"]:
            failures.append(f"rule: expected {expect['rule']!r}, got {got!r}")
    if "exception" in expect:
        got = decision.exception["reason"] if decision.exception else None
        if got != expect["exception"]:
            failures.append(f"exception: expected {expect['exception']!r}, got {got!r}")
    if "errors" in expect:
        got_codes = sorted(e["code"] for e in decision.errors)
        if sorted(expect["errors"]) != got_codes:
            failures.append(f"errors: expected {sorted(expect['errors'])}, got {got_codes}")
    for section, data in (("billing", decision.billing), ("amounts", decision.pricing or {})):
        for dotted, expected in (expect.get(section) or {}).items():
            actual = resolve(data, compile_path(dotted))
            if not _same(actual, expected):
                shown = None if actual is MISSING else to_jsonable(actual)
                failures.append(f"{section} {dotted}: expected {expected!r}, got {shown!r}")
    return failures


def run_case(case: Case, pipeline: Pipeline) -> Outcome:
    if case.load_error or case.cdr is None:
        return Outcome(case, False, [case.load_error or "no CDR"])
    decision = pipeline.decide(case.cdr, source=f"{case.file}:{case.line}", facts_override=case.facts)
    failures = check(decision, case.expect)
    return Outcome(case, not failures, failures, decision)


def select(cases: list[Case], pattern: str | None) -> list[Case]:
    if not pattern:
        return cases
    regex = re.compile(pattern)
    return [c for c in cases if regex.search(c.name)]
