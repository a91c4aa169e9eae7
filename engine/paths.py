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
