"""The check registry: every lint check is a plain function ``check(ctx) -> Iterable[Problem]``.

Adding a check is one line above a function (beancount-plugin style)::

    from engine.lint.registry import check

    @check
    def tariff_ids_unique(ctx):
        for doc in ctx.docs("tariff_plan"):
            ...
            yield ctx.problem("tariff.duplicate_id", loc, "...")

The module holding it must be imported once; list it in ``engine.lint.CHECK_MODULES`` (a
module outside ``engine/lint`` works the same way, or call ``register_check(fn)`` from code that
is imported anyway).  Checks never raise for bad configuration: a check that crashes is reported
as a ``lint.internal`` error and the other checks still run.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Callable, Iterable

from engine.problems import Problem

if TYPE_CHECKING:  # pragma: no cover
    from engine.lint.context import LintContext

Check = Callable[["LintContext"], Iterable[Problem]]

CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    """Decorator: register ``fn`` as a lint check (idempotent, so re-imports do no harm)."""
    return register_check(fn)


def register_check(fn: Check) -> Check:
    key = (fn.__module__, fn.__qualname__)
    CHECKS[:] = [c for c in CHECKS if (c.__module__, c.__qualname__) != key]
    CHECKS.append(fn)
    return fn


def check_name(fn: Check) -> str:
    return f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"


def run_checks(ctx: "LintContext", checks: Iterable[Check] | None = None) -> list[Problem]:
    """Every registered check over one context; duplicates (same code and place) dropped."""
    found: list[Problem] = []
    seen: set[tuple] = set()
    for fn in list(CHECKS if checks is None else checks):
        try:
            problems = list(fn(ctx) or ())
        except Exception as exc:  # a bug in a check must not hide every other finding
            where = traceback.extract_tb(exc.__traceback__)[-1]
            problems = [Problem(
                code="lint.internal",
                message=f"check {check_name(fn)} crashed: {type(exc).__name__}: {exc} "
                        f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno}); please report this",
            )]
        for p in problems:
            key = (p.code, p.file, p.line, p.col, p.message)
            if key not in seen:
                seen.add(key)
                found.append(p)
    return found
