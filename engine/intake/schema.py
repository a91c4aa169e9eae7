"""Schema validation of CDRs and tariffs: a compiled fast path and an explaining slow path.

Validation is on the hot path of every CDR (target: >= 10,000 CDR/s on one core), so the
verdict comes from ``jsonschema_rs`` (Rust, compiled once per process, formats enabled). Only
when it says "invalid" does the pure-Python ``jsonschema`` run, to produce the list of
Problems: one per failure, path naming the field, a message a human can act on (allowed values
with "did you mean", the limit that was exceeded) and never the offending 10 MB value itself.
tests/intake/test_schema.py checks that both validators agree on every fixture and on a set of
mutated CDRs.
"""

from __future__ import annotations

import difflib
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

import jsonschema_rs
from jsonschema import Draft202012Validator, ValidationError

from engine.problems import Problem, join_path

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
MAX_PROBLEMS = 50  # per CDR; a CDR with more is not going to be fixed field by field

# Fields of other OCPI versions that show up in the wrong shape, and what to say about them.
_FOREIGN_FIELDS = {
    "before_taxes": "an OCPI 2.3.0 Price field; cdrflow reads OCPI 2.2.1 and 2.1.1 CDRs",
    "taxes": "an OCPI 2.3.0 Price field; cdrflow reads OCPI 2.2.1 and 2.1.1 CDRs",
    "stop_date_time": "the OCPI 2.1.1 name of end_date_time, in a CDR that otherwise has the 2.2.1 shape",
    "auth_id": "an OCPI 2.1.1 field, in a CDR that otherwise has the 2.2.1 shape",
    "location": "an OCPI 2.1.1 field (2.2.1: cdr_location), in a CDR that otherwise has the 2.2.1 shape",
}

_PATTERN_MEANING = {
    "^[A-Za-z]{2}$": "expected a 2-letter ISO 3166-1 alpha-2 country code",
    "^[A-Za-z0-9]{3}$": "expected a 3-character party id (ISO 15118)",
    "^[A-Z]{3}$": "expected a 3-letter ISO 4217 currency code",
    "^[A-Za-z]{3}$": "expected a 3-letter ISO 3166-1 alpha-3 country code",
    "^[ -~]*$": "only printable ASCII is allowed in an OCPI CiString",
    "^([0-1][0-9]|2[0-3]):[0-5][0-9]$": "expected a time of day HH:MM (24 h, leading zeros)",
    "^([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$": "expected a date YYYY-MM-DD",
    "^-?[0-9]{1,2}\\.[0-9]{5,7}$": "expected a latitude in decimal degrees with 5 to 7 decimals, e.g. 51.047599",
    "^-?[0-9]{1,3}\\.[0-9]{5,7}$": "expected a longitude in decimal degrees with 5 to 7 decimals, e.g. 3.729944",
    "^[12][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$":
        "expected an OCPI DateTime like 2015-06-29T20:39:09Z (years 1000-2999, no leap second)",
}

_JSON_TYPE = {str: "string", int: "integer", Decimal: "number", float: "number", bool: "boolean",
              type(None): "null", list: "array", dict: "object"}


def short(value: Any, limit: int = 40) -> str:
    """A bounded repr for messages: a 10 MB string must not end up in the exception queue."""
    if isinstance(value, str):
        if len(value) > limit:
            return repr(value[:limit]) + f"... ({len(value)} characters)"
        return repr(value)
    if isinstance(value, (dict, list)):
        return f"{_JSON_TYPE[type(value)]} of {len(value)} item(s)"
    if isinstance(value, Decimal):
        text = str(value)
        return text if len(text) <= limit else text[:limit] + "..."
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def did_you_mean(word: Any, options: Iterable[Any]) -> str:
    """`` (did you mean 'day_of_week'?)`` for a near miss (also camelCase and case slips), else ""."""
    if not isinstance(word, str) or len(word) > 64:
        return ""
    names = [str(o) for o in options]
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", word).lower()
    for candidate in (snake, word.upper()):
        if candidate != word and candidate in names:
            return f" (did you mean {candidate!r}?)"
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


class CompiledSchema:
    """One schema file, compiled lazily once per process for both validators."""

    def __init__(self, filename: str):
        self.filename = filename
        self._schema: dict[str, Any] | None = None
        self._fast: Any = None
        self._slow: Draft202012Validator | None = None

    @property
    def schema(self) -> dict[str, Any]:
        if self._schema is None:
            with open(SCHEMA_DIR / self.filename, encoding="utf-8") as fh:
                self._schema = json.load(fh)
        return self._schema

    @property
    def fast(self) -> Any:
        if self._fast is None:
            self._fast = jsonschema_rs.validator_for(self.schema, validate_formats=True)
        return self._fast

    @property
    def slow(self) -> Draft202012Validator:
        if self._slow is None:
            self._slow = Draft202012Validator(self.schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        return self._slow

    def is_valid(self, instance: Any) -> bool:
        """The fast verdict; the slow one where Rust cannot take the value (lone surrogates)."""
        try:
            return bool(self.fast.is_valid(instance))
        except Exception:  # noqa: BLE001 - e.g. UnicodeEncodeError on "\ud800"
            return next(iter(self.slow.iter_errors(instance)), None) is None

    def problems(self, instance: Any) -> list[Problem]:
        """Empty when valid; otherwise one Problem per failure (at most MAX_PROBLEMS)."""
        if self.is_valid(instance):
            return []
        out: list[Problem] = []
        seen: set[tuple[str, str]] = set()
        for error in self.slow.iter_errors(instance):
            for problem in _explain(error):
                if (problem.code, problem.path) not in seen:
                    seen.add((problem.code, problem.path))
                    out.append(problem)
            if len(out) >= MAX_PROBLEMS:
                out = out[:MAX_PROBLEMS]
                out.append(Problem(code="schema.too_many", message=f"more than {MAX_PROBLEMS} problems; "
                                   "the rest are not listed"))
                break
        if not out:  # the validators disagree: never accept on the slow verdict alone
            out = self._fast_problems(instance)
        formats = {p.path for p in out if p.code == "schema.format"}
        if formats:  # "not a date-time" says it all; the pattern failing too is noise
            out = [p for p in out if not (p.code == "schema.pattern" and p.path in formats)]
        return out

    def _fast_problems(self, instance: Any) -> list[Problem]:
        out = []
        for error in self.fast.iter_errors(instance):
            path = ""
            for step in error.instance_path:
                path = join_path(path, step)
            message = str(error.message)
            out.append(Problem(code="schema.invalid", path=path,
                               message=message if len(message) <= 200 else message[:200] + "..."))
            if len(out) >= MAX_PROBLEMS:
                break
        return out or [Problem(code="schema.invalid", message="rejected by the compiled schema validator")]


def _path(error: ValidationError) -> str:
    path = ""
    for step in error.absolute_path:
        path = join_path(path, step)
    return path


def _explain(error: ValidationError) -> list[Problem]:
    path = _path(error)
    kind = error.validator
    code = f"schema.{kind}"
    instance = error.instance
    value = error.validator_value
    if kind == "required":
        present = instance if isinstance(instance, dict) else {}
        return [Problem(code=code, path=join_path(path, name), message=f"missing required field {name!r}")
                for name in value if name not in present]
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list((error.schema.get("properties") or {}).keys())
        out = []
        for key in instance:
            if key in allowed:
                continue
            reason = _FOREIGN_FIELDS.get(key) if isinstance(key, str) else None
            hint = f" ({reason})" if reason else did_you_mean(key, allowed)
            out.append(Problem(code=code, path=join_path(path, str(key)),
                               message=f"unknown field {short(key)}{hint}"))
        return out
    if kind == "enum":
        options = list(value)
        listed = f": expected one of {', '.join(map(str, options))}" if len(options) <= 12 else ""
        return [Problem(code=code, path=path,
                        message=f"{short(instance)} is not an allowed value{listed}{did_you_mean(instance, options)}")]
    if kind == "type":
        got = _JSON_TYPE.get(type(instance), type(instance).__name__)
        return [Problem(code=code, path=path, message=f"expected {value}, got {got} {short(instance)}")]
    if kind == "format":
        return [Problem(code=code, path=path,
                        message=f"{short(instance)} is not a valid {value} (RFC 3339, e.g. 2015-06-29T20:39:09Z)")]
    if kind == "maxLength":
        return [Problem(code=code, path=path,
                        message=f"too long: {len(instance)} characters, at most {value} allowed")]
    if kind == "minLength":
        return [Problem(code=code, path=path, message=f"must not be empty (at least {value} character(s))")]
    if kind == "pattern":
        meaning = _PATTERN_MEANING.get(value, f"does not match {value}")
        return [Problem(code=code, path=path, message=f"{short(instance)}: {meaning}")]
    if kind == "minItems":
        return [Problem(code=code, path=path, message=f"must contain at least {value} item(s), has {len(instance)}")]
    if kind == "minimum":
        return [Problem(code=code, path=path, message=f"must be at least {value}, got {short(instance)}")]
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    return [Problem(code=code, path=path, message=message)]


CDR_SCHEMA = CompiledSchema("cdr.schema.json")
TARIFF_SCHEMA = CompiledSchema("tariff.schema.json")
