"""Dotted paths into the CDR, the facts and the pricing result (``cdr.cdr_token.type``).

Rules and mappings both address data this way; resolving a path is on the hot path of every
CDR, so a path is split once at load time into a tuple of keys and indexes.
"""

from __future__ import annotations

from typing import Any

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()

ROOTS = ("cdr", "facts", "pricing")


def compile_path(dotted: str) -> tuple[str | int, ...]:
    """``"cdr.charging_periods.0.tariff_id"`` -> ``("cdr", "charging_periods", 0, "tariff_id")``."""
    return tuple(int(part) if part.isdigit() else part for part in dotted.split("."))


def resolve(context: dict[str, Any], steps: tuple[str | int, ...]) -> Any:
    """The value at ``steps`` below ``context``, or MISSING (a null value counts as missing)."""
    node: Any = context
    for step in steps:
        if isinstance(step, int):
            if isinstance(node, (list, tuple)) and -len(node) <= step < len(node):
                node = node[step]
                continue
            return MISSING
        if isinstance(node, dict):
            node = node.get(step, MISSING)
            if node is MISSING:
                return MISSING
            continue
        return MISSING
    return MISSING if node is None else node


def getter(steps: tuple[str | int, ...]):
    """``resolve`` for one fixed path, compiled: ``getter(steps)(context) == resolve(context, steps)``.

    Paths of two or three keys (``cdr.country_code``, ``facts.token.own``), which is nearly every
    path in rules and mappings, are unrolled into straight-line code: no loop, no per-step type
    dispatch. Anything else (list indexes, longer paths) uses ``resolve``. A null anywhere on the
    way, or at the end, is MISSING exactly as in ``resolve``.
    """
    if len(steps) == 2 and all(type(s) is str for s in steps):
        a, b = steps

        def get2(context: Any) -> Any:
            if isinstance(context, dict):
                node = context.get(a)
                if isinstance(node, dict):
                    value = node.get(b, MISSING)
                    return MISSING if value is None else value
            return MISSING
        return get2
    if len(steps) == 3 and all(type(s) is str for s in steps):
        a, b, c = steps

        def get3(context: Any) -> Any:
            if isinstance(context, dict):
                node = context.get(a)
                if isinstance(node, dict):
                    node = node.get(b)
                    if isinstance(node, dict):
                        value = node.get(c, MISSING)
                        return MISSING if value is None else value
            return MISSING
        return get3
    return lambda context: resolve(context, steps)
