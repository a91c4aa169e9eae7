"""path.unknown: a ``cdr.*`` or ``facts.*`` path in a rule or a mapping that the CDR schema
(schemas/cdr.schema.json) or the facts schema (schemas/facts.schema.json) does not know.

A misspelt path is not an error at run time -- it is simply always missing -- so a rule on it
silently never (or always) matches and a mapping silently writes nulls.  ``pricing.*`` paths
are not checked until the pricing result has a schema.
"""

from __future__ import annotations

from typing import Any, Iterator

from engine.classify.rules import walk
from engine.config.yamlload import LocDict, LocList
from engine.lint.context import LintContext, value_loc
from engine.lint.fields import SCHEMA_FILES, PathInfo
from engine.lint.registry import check
from engine.problems import Problem


def _explain(path: str, info: PathInfo) -> str:
    hint = f" (did you mean {info.suggestion!r}?)" if info.suggestion and info.suggestion != path else ""
    return f"unknown field {path!r}: {info.message}{hint}"


def _note_missing_schemas(ctx: LintContext) -> None:
    def note() -> bool:
        for root in ctx.catalog.missing_roots():
            ctx.notes.append(f"schemas/{SCHEMA_FILES[root]} not found: {root}.* paths are not checked")
        return True
    ctx.memo("missing-schema-note", note)


@check
def rule_paths(ctx: LintContext) -> Iterator[Problem]:
    _note_missing_schemas(ctx)
    for rule in ctx.rules:
        for cmp in walk(rule.when):
            info = ctx.catalog.lookup(cmp.path)
            if not info.ok:
                where = value_loc(ctx.node_at(cmp.loc), "path") or cmp.loc
                yield ctx.problem("path.unknown", where, f"rule {rule.id!r}: {_explain(cmp.path, info)}")


def expression_path_nodes(expr: Any) -> Iterator[LocDict]:
    """Every expression node that reads a path (``path`` keys at any depth: concat, default)."""
    if isinstance(expr, LocDict):
        if isinstance(expr.get("path"), str):
            yield expr
        for value in expr.values():
            yield from expression_path_nodes(value)
    elif isinstance(expr, LocList):
        for item in expr:
            yield from expression_path_nodes(item)


@check
def mapping_paths(ctx: LintContext) -> Iterator[Problem]:
    _note_missing_schemas(ctx)
    for doc in ctx.docs("mapping"):
        fields = doc.data.get("fields")
        if not isinstance(fields, LocDict):
            continue
        for target, expr in fields.items():
            if not ctx.valid("mapping", "/$defs/expr", expr):
                continue
            for node in expression_path_nodes(expr):
                info = ctx.catalog.lookup(node["path"])
                if not info.ok:
                    yield ctx.problem("path.unknown", value_loc(node, "path"),
                                      f"mapping field {target!r}: {_explain(node['path'], info)}")
