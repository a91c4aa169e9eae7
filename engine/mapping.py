"""Mappings: how a CDR, its facts and its price become the billing objects of a stream.

A deliberately small expression language (path, const, default, round, period, format, concat)
compiled once per bundle. There is no ``eval``: an analyst can change what goes where without
being able to run code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any, Callable
from zoneinfo import ZoneInfo

from engine.classify.evaluate import is_number
from engine.config.yamlload import LocDict
from engine.paths import MISSING, compile_path, getter

Expr = Callable[[dict[str, Any], ZoneInfo], Any]


def _period(value: datetime, unit: str, tz: ZoneInfo) -> str:
    local = value.astimezone(tz)
    if unit == "quarter":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    if unit not in ("day", "month"):
        return str(local.year)
    # every billed CDR passes here (billing_period): formatting the fields is cheaper than
    # strftime, and spells the same (on glibc %Y is not zero-padded either; CDR DateTimes are
    # years 1000-2999 by the schema anyway)
    if unit == "day":
        return f"{local.year}-{_TWO_DIGITS[local.month]}-{_TWO_DIGITS[local.day]}"
    return f"{local.year}-{_TWO_DIGITS[local.month]}"


_TWO_DIGITS = tuple(f"{n:02d}" for n in range(32))  # a month's or day's number as _period spells it


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
        base = lambda ctx, tz: "".join([_as_text(p(ctx, tz)) for p in parts])
        base.concat = tuple(parts)  # type: ignore[attr-defined]  (inlined by _generate)

    fallback = compile_expr(node["default"]) if "default" in node else None
    places = node.get("round")
    quantum = Decimal(1).scaleb(-int(places)) if places is not None else None
    period = node.get("period")
    fmt = node.get("format")

    if fallback is None and quantum is None and not period and not fmt:
        # nearly every field: a bare path or constant, for which ``evaluate`` below reduces to this
        if "path" in node:
            return _plain_path(compile_path(node["path"]))
        expr: Expr = lambda ctx, tz: None if (v := base(ctx, tz)) is MISSING else v
        if "const" in node:
            expr.constant = None if node["const"] is MISSING else node["const"]  # type: ignore[attr-defined]
        else:  # a concat: a str, never MISSING
            expr.concat = base.concat  # type: ignore[attr-defined]
        return expr

    def evaluate(ctx: dict[str, Any], tz: ZoneInfo) -> Any:
        value = base(ctx, tz)
        if (value is MISSING or value is None) and fallback is not None:
            value = fallback(ctx, tz)
        if value is MISSING:
            return None
        if quantum is not None and is_number(value):
            value = Decimal(value).quantize(quantum, ROUND_HALF_UP)  # (positional: see engine.money)
        if isinstance(value, datetime):
            if period:
                return _period(value, period, tz)
            if fmt:
                return value.astimezone(tz).strftime(fmt)
        return value

    if "path" in node and not fmt:
        # the shipped options (default, round, period) on a path: ``_generate`` inlines them
        evaluate.parts = (_plain_path(compile_path(node["path"])), fallback, quantum, period)  # type: ignore[attr-defined]
    return evaluate


def _plain_path(steps: tuple[str | int, ...]) -> Expr:
    """A bare ``{path: ...}`` field: the value, None when missing (``resolve`` -> MISSING -> None).

    Nearly every field is one, so the common two- and three-key paths are resolved in one
    function call rather than a getter wrapped in a lambda.
    """
    if len(steps) == 2 and all(type(s) is str for s in steps):
        a, b = steps

        def get2(ctx: Any, tz: ZoneInfo) -> Any:
            if isinstance(ctx, dict):
                node = ctx.get(a)
                if isinstance(node, dict):
                    return node.get(b)
            return None
        get2.steps = steps  # type: ignore[attr-defined]  (inlined by _generate)
        return get2
    if len(steps) == 3 and all(type(s) is str for s in steps):
        a, b, c = steps

        def get3(ctx: Any, tz: ZoneInfo) -> Any:
            if isinstance(ctx, dict):
                node = ctx.get(a)
                if isinstance(node, dict):
                    node = node.get(b)
                    if isinstance(node, dict):
                        return node.get(c)
            return None
        get3.steps = steps  # type: ignore[attr-defined]  (inlined by _generate)
        return get3
    get = getter(steps)
    return lambda ctx, tz: None if (v := get(ctx)) is MISSING else v


# An empty mapping nothing can add to: the generated ``apply``'s stand-in for a root that is not a dict.
_NO_FIELDS = MappingProxyType({})

# A compiled target tree: (key, expression, None) for a leaf, (key, None, subtree) for an object.
Plan = tuple[tuple[str, "Expr | None", "Plan | None"], ...]


def _plan(fields: tuple[tuple[tuple[str, ...], Expr], ...]) -> Plan | None:
    """The dotted targets as a tree, keys in order of first appearance (the order ``apply``'s
    output always had). None when targets overlap (``a`` and ``a.b``): then ``apply`` keeps
    the field-by-field assignment, whose outcome for such a mapping this does not re-derive."""
    root: dict[str, Any] = {}
    for target, expr in fields:
        node = root
        for key in target[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                return None
        if target[-1] in node:
            return None
        node[target[-1]] = expr

    def freeze(tree: dict[str, Any]) -> Plan:
        return tuple((key, None, freeze(sub)) if isinstance(sub, dict) else (key, sub, None)
                     for key, sub in tree.items())
    return freeze(root)


def _build(plan: Plan, context: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The tree evaluated: what ``_generate``'s function returns (kept as its specification)."""
    out: dict[str, Any] = {}
    for key, expr, sub in plan:
        out[key] = expr(context, tz) if sub is None else _build(sub, context, tz)  # type: ignore[misc]
    return out


def _generate(plan: Plan) -> Callable[[dict[str, Any], ZoneInfo], dict[str, Any]]:
    """``_build`` for one plan as straight-line code: one nested dict display, built per CDR.

    Walking the tree cost a loop step and a function call per field (~45 % of ``apply``); the
    generated function writes the same keys in the same order. A bare two- or three-key path is
    inlined as the ``get2``/``get3`` it compiled to (each root, e.g. ``ctx["cdr"]``, and each node
    on the way, e.g. ``facts.msp``, is read once: reading a plain dict has no side effects), a
    bare constant is a reference to its value, a path with default/round/period is inlined by
    ``options``, a concat by ``text``, and every other expression is called as before. Only
    ``repr()`` of the mapping's own keys and path steps (strings) is written into the source, as
    ``engine.frozen`` does with field names (constants are passed as names): a mapping still
    cannot run code.
    """
    env: dict[str, Any] = {"_D": Decimal, "_HALF_UP": ROUND_HALF_UP, "_NUM": (int, Decimal),
                           "_period": _period, "_datetime": datetime, "_as_text": _as_text, "_NONE": _NO_FIELDS}
    roots: dict[str, str] = {}
    nodes: dict[tuple[str, str], str] = {}

    def value(expr: Expr) -> str:
        steps = getattr(expr, "steps", None)
        if steps is not None:
            root = roots.setdefault(steps[0], f"r{len(roots)}")  # a dict, or _NONE (see below)
            if len(steps) == 3:
                return f"{nodes.setdefault((steps[0], steps[1]), f'n{len(nodes)}')}.get({steps[2]!r})"
            return f"{root}.get({steps[1]!r})"
        parts = getattr(expr, "parts", None)
        if parts is not None:
            return options(*parts)
        concat = getattr(expr, "concat", None)
        if concat is not None:
            return text(concat)
        name = f"v{len(env)}"
        if hasattr(expr, "constant"):
            env[name] = expr.constant  # type: ignore[attr-defined]
            return name
        env[name] = expr
        return f"{name}(ctx, tz)"

    def options(path: Expr, fallback: Expr | None, quantum: Decimal | None, period: str | None) -> str:
        """``evaluate`` for a path with a default, round and period, as nested expressions.

        The path gives None when missing (as ``evaluate`` ends up with), so None takes the
        default; a number is rounded; a datetime becomes its period; anything else passes.
        """
        code = value(path)
        if fallback is not None:
            code = f"(d if (d := {code}) is not None else {value(fallback)})"
        if quantum is not None:
            env[q := f"v{len(env)}"] = quantum
            # is_number(d), inlined: an int or Decimal that is not a bool (bool has no subclasses)
            code = (f"(_D(d).quantize({q}, _HALF_UP) if isinstance(d := {code}, _NUM) "
                    f"and d.__class__ is not bool else d)")
        if period:
            env[u := f"v{len(env)}"] = period
            code = f"(_period(d, {u}, tz) if isinstance(d := {code}, _datetime) else d)"
        return code

    def text(parts: tuple[Expr, ...]) -> str:
        """A concat: each part's ``_as_text`` joined, a constant's text spelled out once here
        (``_as_text`` of the same constant is always the same str), a str passed as is (its
        ``_as_text`` is itself)."""
        texts = []
        for part in parts:
            if hasattr(part, "constant"):
                env[t := f"v{len(env)}"] = _as_text(part.constant)  # type: ignore[attr-defined]
                texts.append(t)
            else:
                texts.append(f"(s if (s := {value(part)}).__class__ is str else _as_text(s))")
        return f"''.join(({', '.join(texts)},))"

    def display(tree: Plan) -> str:
        return "{" + ", ".join(f"{key!r}: {value(expr) if sub is None else display(sub)}"  # type: ignore[arg-type]
                               for key, expr, sub in tree) + "}"

    body = display(plan)
    # each root (and each node a three-key path passes, e.g. facts.msp) read once, as a dict or
    # (not a dict, or no context) the empty _NONE, whose .get gives None for every key: what the
    # ``isinstance(..., dict)`` tests of ``get2``/``get3`` give
    reads = "".join(f"    {name} = x if isinstance(x := c.get({root!r}), dict) else _NONE\n"
                    for root, name in roots.items())
    reads += "".join(f"    {name} = x if isinstance(x := {roots[root]}.get({key!r}), dict) else _NONE\n"
                     for (root, key), name in nodes.items())
    source = (f"def apply(ctx, tz):\n"
              f"    c = ctx if isinstance(ctx, dict) else _NONE\n{reads}"
              f"    return {body}\n")
    exec(source, env)  # noqa: S102 - see the docstring: only repr()'d strings from the mapping
    env["apply"].source = source  # (for debugging and the tests)
    return env["apply"]


@dataclass(frozen=True)
class Mapping:
    stream: str
    file: str
    fields: tuple[tuple[tuple[str, ...], Expr], ...]

    def __post_init__(self) -> None:
        # compiled once: apply() runs the tree as generated code instead of splitting targets per CDR
        tree = _plan(self.fields)
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_apply", _generate(tree) if tree is not None else None)

    def apply(self, context: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
        """The nested billing object, e.g. {"invoice": {"line_item": {"id": ...}}}."""
        generated = self._apply  # type: ignore[attr-defined]
        if generated is not None:
            return generated(context, tz)
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
