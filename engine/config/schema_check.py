"""JSON-Schema validation of YAML documents, reported the way an analyst can act on.

Two habits of raw jsonschema output are unhelpful: a ``oneOf`` failure says "is not valid under
any of the given schemas" instead of what is wrong in the branch the author meant, and a typo
in a key gives no hint. So we descend into the deepest failing branch and add "did you mean".
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

from engine.config.yamlload import location_of
from engine.problems import Problem

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


@lru_cache(maxsize=None)
def schema_for(kind: str) -> dict[str, Any]:
    with open(SCHEMA_DIR / f"{kind}.schema.json", encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=None)
def validator_for(kind: str) -> Draft202012Validator:
    schema = schema_for(kind)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


_SHALLOW = ("required", "type", "const", "not", "enum")


def _branch_score(errors: list[jsonschema.ValidationError]) -> tuple[int, int]:
    """How well a oneOf/anyOf branch fits: a branch that fails on the shape of the node itself
    (wrong type, missing discriminating key) is one the author did not mean."""
    shallow = sum(1 for e in errors if not e.relative_path and e.validator in _SHALLOW)
    depth = max((len(e.absolute_path) for e in errors), default=0)
    return (-shallow, depth)


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Follow oneOf/anyOf contexts into the branch the author most likely meant."""
    while error.context:
        branches: dict[Any, list[jsonschema.ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
        best = max(branches.values(), key=_branch_score)
        error = max(best, key=lambda e: (len(e.absolute_path), e.validator not in _SHALLOW))
    return error


def _hint(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list((error.schema.get("properties") or {}).keys())
        extra = [k for k in error.instance if k not in allowed]
        hints = []
        for key in extra:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hints.append(f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        if hints:
            return "; ".join(hints)
    if error.validator in ("enum", "const") and isinstance(error.instance, str):
        options = error.validator_value if error.validator == "enum" else [error.validator_value]
        close = difflib.get_close_matches(error.instance, [str(o) for o in options], n=1)
        suffix = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{error.instance!r} is not one of {list(options)}{suffix}"
    return error.message


def schema_problems(data: Any, kind: str, file: str) -> list[Problem]:
    """Validate one document against ``schemas/<kind>.schema.json``; one Problem per failure."""
    problems = []
    for error in validator_for(kind).iter_errors(data):
        leaf = _deepest(error)
        path = list(leaf.absolute_path)
        if leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
            allowed = (leaf.schema.get("properties") or {}).keys()
            extra = [k for k in leaf.instance if k not in allowed]
            loc = location_of(data, path + extra[:1], key=True) if extra else location_of(data, path)
        else:
            loc = location_of(data, path)
        problems.append(Problem(
            code=f"schema.{leaf.validator}",
            message=_hint(leaf),
            path=".".join(str(p) for p in path),
            file=file,
            line=loc.line if loc else 1,
            col=loc.col if loc else 1,
        ))
    problems.sort(key=lambda p: (p.line or 0, p.col or 0))
    return problems
