"""``cdrflow lint``: find what is wrong with the rules and mappings before a CDR does.

The linter loads the *whole* configuration under the config root (cross-file checks need it),
runs every registered check over it and reports the findings that lie in the paths asked for.

A check is a plain function ``check(ctx: LintContext) -> Iterable[Problem]`` registered with
``@check`` (``engine.lint.registry``).  The modules below are imported before a run; a module
with new checks (tariff plans, MSP tariffs, tax rules, ...) is added here with one line.  Named
references between kinds (a tariff id used by an MSP, an account used by a posting group) need
no new check at all: register them with ``defines``/``unique``/``refers_to`` from
``engine.lint.references``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Iterable, Sequence

from engine.config.bundle import CONFIG_DIRS
from engine.lint.context import LintContext
from engine.lint import registry
from engine.lint.registry import CHECKS, check, register_check, run_checks
from engine.lint.report import FORMATS, LintReport, sort_key
from engine.problems import Problem

CHECK_MODULES = (
    "engine.lint.documents",   # yaml.*, config.kind, schema.*, style.modeline, bundle problems
    "engine.lint.rules",       # rule.priority_tie, rule.bad_regex, rule.*_fallback, rule.no_description
    "engine.lint.shadowing",   # rule.shadowed, rule.never_matches
    "engine.lint.paths",       # path.unknown (rules and mappings)
    "engine.lint.operators",   # rule.type_mismatch, rule.enum_value, rule.string_order
    "engine.lint.references",  # duplicates and dangling references between kinds
)


def load_kinds() -> None:
    """Kinds registered by other parts of the core (tax rules, tariffs) - the bundle knows which."""
    from engine.config.bundle import load_kind_modules

    load_kind_modules()


def load_checks() -> list:
    load_kinds()
    for name in CHECK_MODULES:
        importlib.import_module(name)
    return list(registry.CHECKS)


def default_paths(root: Path) -> list[Path]:
    """``rules`` and ``mappings`` under the config root (those that exist)."""
    return [root / d for d in CONFIG_DIRS if (root / d).exists()]


def yaml_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


def _within(path: Path, scopes: Sequence[Path]) -> bool:
    return any(path == s or path.is_relative_to(s) for s in scopes)


def lint(root: str | Path = ".", paths: Sequence[str | Path] | None = None, *,
         catalog: Any = None, checks: Iterable | None = None) -> tuple[LintReport, LintContext]:
    """Lint the configuration under ``root``; report findings in ``paths`` (default: rules/ and
    mappings/).  Files in ``paths`` outside the config tree are linted as part of the bundle."""
    root = Path(root)
    scopes = [Path(p) for p in paths] if paths else default_paths(root)
    in_scope = [f for s in scopes for f in yaml_files(s)]
    if checks is None:
        checks = load_checks()
    else:
        load_kinds()  # the kinds must be known even when the caller picks the checks
    ctx = LintContext.load(root, in_scope, catalog=catalog)
    problems = run_checks(ctx, checks)

    resolved = [s.resolve() for s in scopes]
    by_name = {f.name: f.path for f in ctx.files}

    def reported(p: Problem) -> bool:
        if p.file is None:
            return True
        return _within(by_name.get(p.file) or (root / p.file).resolve(), resolved)

    findings = sorted((p for p in problems if reported(p)), key=sort_key)
    files = [f.name for f in ctx.files if _within(f.path, resolved)]
    report = LintReport(findings, files, {f.name: f.text for f in ctx.files}, dict(by_name), list(ctx.notes))
    return report, ctx


__all__ = ["CHECKS", "CHECK_MODULES", "FORMATS", "LintContext", "LintReport", "check", "lint",
           "load_checks", "register_check", "run_checks"]
