"""Mappings: how a CDR, its facts and its price become the billing objects of a stream.

A deliberately small expression language (path, const, default, round, period, format, concat)
compiled once per bundle. There is no ``eval``: an analyst can change what goes where without
being able to run code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable
from zoneinfo import ZoneInfo

from engine.classify.evaluate import is_number
from engine.config.yamlload import LocDict
from engine.paths import MISSING, compile_path, getter

Expr = Callable[[dict[str, Any], ZoneInfo], Any]


def _period(value: datetime, unit: str, tz: ZoneInfo) -> str:
    local = value.astimezone(tz)
    if unit == "day":
        return local.strftime("%Y-%m-%d")
    if unit == "month":
        return local.strftime("%Y-%m")
    if unit == "quarter":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    return str(local.year)


def _as_text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compile_expr(node: dict[str, Any]) -> Expr:
    """One schema-valid expression node -> a function of (context, local zone)."""
    if "path" in node:
        get = getter(compile_path(node["path"]))  # == resolve(ctx, steps)
        base: Expr = lambda ctx, tz: get(ctx)
    elif "const" in node:
        constant = node["const"]
        base = lambda ctx, tz: constant
    else:
        parts = [compile_expr(p) for p in node["concat"]]
        base = lambda ctx, tz: "".join(_as_text(p(ctx, tz)) for p in parts)

    fallback = compile_expr(node["default"]) if "default" in node else None
    places = node.get("round")
    quantum = Decimal(1).scaleb(-int(places)) if places is not None else None
    period = node.get("period")
    fmt = node.get("format")

    if fallback is None and quantum is None and not period and not fmt:
        # nearly every field: a bare path or constant, for which ``evaluate`` below reduces to this
        if "path" in node:
            return lambda ctx, tz: None if (v := get(ctx)) is MISSING else v
        return lambda ctx, tz: None if (v := base(ctx, tz)) is MISSING else v

    def evaluate(ctx: dict[str, Any], tz: ZoneInfo) -> Any:
        value = base(ctx, tz)
        if (value is MISSING or value is None) and fallback is not None:
            value = fallback(ctx, tz)
        if value is MISSING:
            return None
        if quantum is not None and is_number(value):
            value = Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP)
        if isinstance(value, datetime):
            if period:
                return _period(value, period, tz)
            if fmt:
                return value.astimezone(tz).strftime(fmt)
        return value

    return evaluate


@dataclass(frozen=True)
class Mapping:
    stream: str
    file: str
    fields: tuple[tuple[tuple[str, ...], Expr], ...]

    def apply(self, context: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
        """The nested billing object, e.g. {"invoice": {"line_item": {"id": ...}}}."""
        out: dict[str, Any] = {}
        for target, expr in self.fields:
            node = out
            for key in target[:-1]:
                node = node.setdefault(key, {})
            node[target[-1]] = expr(context, tz)
        return out


def compile_mapping(doc: LocDict, file: str) -> Mapping:
    fields = tuple(
        (tuple(target.split(".")), compile_expr(expr)) for target, expr in doc["fields"].items()
    )
    return Mapping(stream=doc["stream"], file=file, fields=fields)


def expression_paths(node: dict[str, Any]) -> list[str]:
    """Every source path an expression reads (for the linter)."""
    paths = [node["path"]] if "path" in node else []
    for part in node.get("concat", []):
        paths += expression_paths(part)
    if "default" in node:
        paths += expression_paths(node["default"])
    return paths
