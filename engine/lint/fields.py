"""Which dotted paths exist, and what type their values have, according to the JSON Schemas.

``cdr.*`` paths are looked up in ``schemas/cdr.schema.json`` (the normalised OCPI 2.2.1 CDR),
``facts.*`` paths in ``schemas/facts.schema.json``; ``pricing.*`` is not checked (yet).  The walk
follows ``properties``, ``items``/``prefixItems`` (numeric steps), ``additionalProperties`` and
``patternProperties`` schemas, ``$ref`` (local and sibling files) and takes the union of
``allOf``/``anyOf``/``oneOf`` branches.  For the linter the listed ``properties`` of an object are
exhaustive; an object that lists none (or says ``additionalProperties: true``) is open.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from engine.config.schema_check import SCHEMA_DIR
from engine.paths import compile_path

SCHEMA_FILES = {"cdr": "cdr.schema.json", "facts": "facts.schema.json"}
UNCHECKED_ROOTS = ("pricing",)

# Values as the engine sees them: intake turns CDR date-times into datetime objects and every
# JSON number into a Decimal.  Facts keep dates as ISO strings.
DATETIME, STRING, NUMBER, BOOLEAN, OBJECT, ARRAY = "date-time", "string", "number", "boolean", "object", "array"


@dataclass(frozen=True)
class _Node:
    schema: Any  # a schema object (dict) or a boolean schema
    doc: "_SchemaDoc"


class _SchemaDoc:
    def __init__(self, schema: dict[str, Any], directory: Path | None, loader: "_Loader"):
        self.schema = schema
        self.directory = directory
        self.loader = loader

    def pointer(self, fragment: str) -> Any:
        node: Any = self.schema
        for part in [p for p in fragment.lstrip("/").split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list):
                node = node[int(part)]
            else:
                node = node[part]
        return node


class _Loader:
    def __init__(self) -> None:
        self.docs: dict[Path, _SchemaDoc] = {}

    def file(self, path: Path) -> _SchemaDoc | None:
        path = path.resolve()
        if path not in self.docs:
            try:
                with open(path, encoding="utf-8") as fh:
                    self.docs[path] = _SchemaDoc(json.load(fh), path.parent, self)
            except (OSError, ValueError):
                return None
        return self.docs[path]


def _expand(node: _Node, seen: frozenset = frozenset()) -> list[_Node]:
    """The node and every schema it is made of ($ref, allOf, anyOf, oneOf), flattened."""
    schema = node.schema
    if not isinstance(schema, dict):
        return [node]
    out = [node]
    ref = schema.get("$ref")
    if isinstance(ref, str) and (id(node.doc), ref) not in seen:
        target = _deref(node.doc, ref)
        if target is not None:
            out += _expand(target, seen | {(id(node.doc), ref)})
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key) or ():
            out += _expand(_Node(branch, node.doc), seen)
    for key in ("then", "else"):
        if isinstance(schema.get(key), dict):
            out += _expand(_Node(schema[key], node.doc), seen)
    return out


def _deref(doc: _SchemaDoc, ref: str) -> _Node | None:
    target, _, fragment = ref.partition("#")
    if target:
        name = target.rsplit("/", 1)[-1]  # a sibling file, by path or by its $id URL
        if doc.directory is None:
            return None
        other = doc.loader.file(doc.directory / name)
        if other is None:
            return None
        doc = other
    try:
        return _Node(doc.pointer(fragment), doc)
    except (KeyError, IndexError, ValueError, TypeError):
        return None


@dataclass(frozen=True)
class FieldType:
    """What a field can hold at run time."""

    kinds: frozenset[str]  # of DATETIME STRING NUMBER BOOLEAN OBJECT ARRAY; empty = unknown
    enum: tuple[Any, ...] | None = None  # the allowed values, when every branch lists them
    date: bool = False  # an ISO date string ("2026-01-01"): ordering it is fine

    @property
    def known(self) -> bool:
        return bool(self.kinds)

    def describe(self) -> str:
        names = {DATETIME: "date-time", STRING: "string", NUMBER: "number", BOOLEAN: "boolean",
                 OBJECT: "object", ARRAY: "list"}
        if self.enum is not None and self.kinds <= {STRING}:
            return "string enumeration"
        return " or ".join(names[k] for k in sorted(self.kinds))


@dataclass(frozen=True)
class PathInfo:
    """The answer for one dotted path."""

    status: str  # "ok", "unknown" (with message/suggestion) or "unchecked"
    type: FieldType | None = None
    message: str = ""
    suggestion: str | None = None  # a whole dotted path that exists

    @property
    def ok(self) -> bool:
        return self.status != "unknown"


_JSON_TYPES = {"string": STRING, "number": NUMBER, "integer": NUMBER, "boolean": BOOLEAN,
               "object": OBJECT, "array": ARRAY}


def _field_type(nodes: list[_Node], root: str) -> FieldType:
    kinds: set[str] = set()
    enums: list[Any] = []
    open_enum = False  # some branch allows any string
    date = False
    for node in nodes:
        schema = node.schema
        if not isinstance(schema, dict):
            continue
        if isinstance(schema.get("enum"), list) or "const" in schema:
            values = schema["enum"] if isinstance(schema.get("enum"), list) else [schema["const"]]
            values = [Decimal(str(v)) if isinstance(v, float) else v for v in values]  # as YAML reads them
            enums += values
            for v in values:
                if isinstance(v, bool):
                    kinds.add(BOOLEAN)
                elif isinstance(v, (int, Decimal)):
                    kinds.add(NUMBER)
                elif isinstance(v, str):
                    kinds.add(STRING)
            continue
        types = schema.get("type")
        for t in [types] if isinstance(types, str) else list(types or ()):
            if t == "string":
                if schema.get("format") == "date-time" and root == "cdr":
                    kinds.add(DATETIME)
                    continue
                date = date or schema.get("format") == "date"
                open_enum = True
            if t in _JSON_TYPES:
                kinds.add(_JSON_TYPES[t])
    enum = None
    if enums and not open_enum:
        enum = tuple(dict.fromkeys(e for e in enums if e is not None))
    return FieldType(frozenset(kinds), enum, date)


def _is_open(nodes: list[_Node]) -> bool:
    """An object with no listed properties (or additionalProperties: true): any key may appear."""
    listed = False
    for node in nodes:
        schema = node.schema
        if schema is True or schema == {}:
            continue
        if not isinstance(schema, dict):
            continue
        if schema.get("additionalProperties") is True:
            return True
        if any(k in schema for k in ("properties", "patternProperties", "additionalProperties",
                                     "items", "prefixItems")):
            listed = True
    if listed:
        return False
    kinds = _field_type(nodes, "").kinds
    return not kinds or OBJECT in kinds


def _children(nodes: list[_Node], step: str | int) -> list[_Node]:
    out: list[_Node] = []
    for node in nodes:
        schema = node.schema
        if not isinstance(schema, dict):
            continue
        if isinstance(step, int):
            prefix = schema.get("prefixItems")
            if isinstance(prefix, list) and step < len(prefix):
                out.append(_Node(prefix[step], node.doc))
            elif isinstance(schema.get("items"), (dict, bool)):
                out.append(_Node(schema["items"], node.doc))
            continue
        props = schema.get("properties")
        if isinstance(props, dict) and step in props:
            out.append(_Node(props[step], node.doc))
            continue
        for pattern, sub in (schema.get("patternProperties") or {}).items():
            if re.search(pattern, step):
                out.append(_Node(sub, node.doc))
        if isinstance(schema.get("additionalProperties"), dict):
            out.append(_Node(schema["additionalProperties"], node.doc))
    return [n for c in out for n in _expand(c)]


def _keys(nodes: list[_Node]) -> list[str]:
    keys: dict[str, None] = {}
    for node in nodes:
        if isinstance(node.schema, dict):
            keys.update(dict.fromkeys(node.schema.get("properties") or {}))
    return list(keys)


def _has_items(nodes: list[_Node]) -> bool:
    return any(isinstance(n.schema, dict) and ("items" in n.schema or "prefixItems" in n.schema) for n in nodes)


def _show(steps: tuple[str | int, ...]) -> str:
    return ".".join(str(s) for s in steps)


class FieldCatalog:
    """Dotted paths -> ``PathInfo``, from one JSON Schema per root (``cdr``, ``facts``)."""

    def __init__(self, roots: dict[str, dict[str, Any] | None], *, directory: Path | None = None):
        self._loader = _Loader()
        self._roots: dict[str, _Node] = {}
        for root, schema in roots.items():
            if schema is not None:
                self._roots[root] = _Node(schema, _SchemaDoc(schema, directory, self._loader))
        self.directory = directory

    @classmethod
    def load(cls, directory: Path | None = None, files: dict[str, str] | None = None) -> "FieldCatalog":
        """Read the schemas at run time (the CDR schema may appear after this code was written)."""
        directory = Path(directory) if directory is not None else SCHEMA_DIR
        roots: dict[str, dict[str, Any] | None] = {}
        for root, name in (files or SCHEMA_FILES).items():
            try:
                with open(directory / name, encoding="utf-8") as fh:
                    roots[root] = json.load(fh)
            except (OSError, ValueError):
                roots[root] = None
        return cls(roots, directory=directory)

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(self._roots)

    def missing_roots(self) -> tuple[str, ...]:
        return tuple(r for r in SCHEMA_FILES if r not in self._roots)

    def lookup(self, dotted: str) -> PathInfo:
        steps = compile_path(dotted)
        root = steps[0]
        if root not in self._roots:
            return PathInfo("unchecked")
        nodes = _expand(self._roots[root])
        for i, step in enumerate(steps[1:], start=1):
            here = _show(steps[:i])
            children = _children(nodes, step)
            if children:
                nodes = children
                continue
            if _is_open(nodes) and not _has_items(nodes):
                return PathInfo("unchecked")
            kinds = _field_type(nodes, str(root)).kinds
            if isinstance(step, int):
                if ARRAY in kinds or _has_items(nodes):
                    return PathInfo("unchecked")  # a list without an item schema
                return PathInfo("unknown", message=f"{here!r} is not a list: it cannot be indexed with {step}")
            if _has_items(nodes) or kinds == {ARRAY}:
                fixed = _show(steps[:i] + (0,) + steps[i:])
                return PathInfo("unknown",
                                message=f"{here!r} is a list: index it, e.g. {fixed!r}",
                                suggestion=fixed if self.lookup(fixed).status == "ok" else None)
            keys = _keys(nodes)
            if not keys and kinds and OBJECT not in kinds:
                return PathInfo("unknown", message=f"{here!r} is a {_field_type(nodes, str(root)).describe()}: "
                                                   f"it has no field {step!r}")
            return self._unknown_key(steps, i, keys)
        return PathInfo("ok", type=_field_type(nodes, str(root)))

    def _unknown_key(self, steps: tuple[str | int, ...], i: int, keys: list[str]) -> PathInfo:
        here, step = _show(steps[:i]), str(steps[i])
        wanted = _show(tuple(0 if isinstance(s, int) else s for s in steps))
        candidates = self.all_paths(str(steps[0]))
        suggestion = None
        if i == len(steps) - 1:  # the field exists under another parent: the likeliest mix-up
            same_leaf = [p for p in candidates if p.rsplit(".", 1)[-1] == step]
            if same_leaf:
                suggestion = (difflib.get_close_matches(wanted, same_leaf, n=1, cutoff=0) or same_leaf)[0]
        close = _close(step, keys) if suggestion is None else None
        if close is not None:
            fixed = _show(steps[:i] + (close,) + steps[i + 1:])
            suggestion = fixed if self.lookup(fixed).status == "ok" else _show(steps[:i] + (close,))
        elif suggestion is None:
            leaf = str(steps[-1])
            others = [c for c in candidates if not wanted.startswith(c + ".")  # not its own parent
                      and difflib.SequenceMatcher(None, c.rsplit(".", 1)[-1], leaf).ratio() >= 0.75]
            close_all = difflib.get_close_matches(wanted, others, n=1, cutoff=0.6)
            suggestion = close_all[0] if close_all else None
        return PathInfo("unknown", message=f"{here!r} has no field {step!r}", suggestion=suggestion)

    def all_paths(self, root: str, max_depth: int = 7) -> list[str]:
        """Every path below ``root`` the schema lists (lists indexed by 0), for suggestions."""
        if root not in self._roots:
            return []
        out: list[str] = []

        def walk(nodes: list[_Node], prefix: tuple, depth: int) -> None:
            if depth > max_depth:
                return
            for key in _keys(nodes):
                path = prefix + (key,)
                out.append(_show(path))
                walk(_children(nodes, key), path, depth + 1)
            if _has_items(nodes):
                walk(_children(nodes, 0), prefix + (0,), depth + 1)

        walk(_expand(self._roots[root]), (root,), 1)
        return out


def _close(word: str, options: list[str]) -> str | None:
    lower = {o.lower(): o for o in options}
    if word.lower() in lower:
        return lower[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.6)
    return lower[close[0]] if close else None


def did_you_mean(word: str, options: Iterator[Any] | list[Any]) -> str:
    """`` (did you mean 'X'?)`` or ''."""
    options = [str(o) for o in options]
    close = _close(str(word), options)
    return f" (did you mean {close!r}?)" if close is not None and close != str(word) else ""
