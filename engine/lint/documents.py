"""Checks on whole files: YAML syntax and duplicate keys, the kind, the JSON Schema, the editor
modeline, and whatever the bundle builder itself objects to."""

from __future__ import annotations

import os
import re
from typing import Iterator

from engine.config.yamlload import Loc
from engine.lint.context import LintContext
from engine.lint.registry import check
from engine.problems import Problem

MODELINE = re.compile(r"#\s*yaml-language-server:\s*\$schema=(?P<url>\S+)")


@check
def read_problems(ctx: LintContext) -> Iterator[Problem]:
    """yaml.* (syntax, duplicate keys, tags, ...), config.kind (missing/unknown kind, with did
    you mean), schema.* (deepest failing oneOf branch, did you mean): found while reading."""
    for f in ctx.files:
        yield from f.problems


@check
def modeline(ctx: LintContext) -> Iterator[Problem]:
    """style.modeline: each file starts with ``# yaml-language-server: $schema=...`` pointing at
    its kind's schema, so editors validate and complete it."""
    for f in ctx.files:
        if f.text is None or not f.text.strip():
            continue
        kind = f.document.kind if f.document is not None else None
        expected = f"{kind}.schema.json" if kind else None
        root = ctx.root.resolve()
        schema = root / "schemas" / (expected or "<kind>.schema.json")
        want = os.path.relpath(schema, f.path.parent).replace(os.sep, "/") \
            if f.path.is_relative_to(root) else f"<schemas>/{schema.name}"
        found = None
        for number, line in enumerate(f.text.splitlines(), start=1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#") and stripped != "---":
                break  # the modeline belongs in the comment block at the top
            match = MODELINE.search(line)
            if match:
                found = (number, match)
                break
        if found is None:
            yield ctx.problem("style.modeline", f.name,
                              f"no '# yaml-language-server: $schema=' modeline at the top: add "
                              f"'# yaml-language-server: $schema={want}' so editors check this file",
                              severity="warning")
            continue
        number, match = found
        url = match.group("url")
        if expected and url.rsplit("/", 1)[-1] != expected:
            yield ctx.problem("style.modeline", Loc(f.name, number, match.start("url") + 1),
                              f"the modeline points at {url.rsplit('/', 1)[-1]!r} but this file is "
                              f"'kind: {kind}': use $schema={want}", severity="warning")


# Problems the bundle builder reports too, which the linter reports itself with a better location.
REPORTED_BY_LINT = frozenset({
    "rule.duplicate_id", "rule.bad_regex", "rule.no_fallback", "rule.duplicate_fallback",
    "mapping.duplicate_stream",
})


@check
def bundle_problems(ctx: LintContext) -> Iterator[Problem]:
    """Whatever ``build_bundle`` objects to that the linter does not check itself: one operator
    file (config.operator), and every problem of kinds registered by other parts of the core
    (``register_kind``) -- so a new kind is linted as soon as it loads."""
    _, problems = ctx.bundle_result
    for p in problems:
        if p.code not in REPORTED_BY_LINT:
            yield p
