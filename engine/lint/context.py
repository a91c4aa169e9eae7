"""What every check sees: the whole configuration under the config root, read once, leniently.

The bundle loader stops at the first broken document; the linter must not.  So the context
keeps every file (text, document, read problems), and hands checks only the *items* that are
valid against their part of the schema: one misspelt rule does not hide the findings of the
fifty rules around it (the schema error is reported by the document check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from jsonschema import Draft202012Validator

from engine.classify.rules import Fallback, Rule, parse_fallback, parse_rules
from engine.config.bundle import Document, build_bundle, config_files, display_name, read_document
from engine.config.schema_check import validator_for
from engine.config.yamlload import Loc, LocDict, LocList
from engine.problems import Problem


@dataclass
class SourceFile:
    """One file handed to the linter."""

    path: Path  # absolute
    name: str  # as shown to users: relative to the config root
    text: str | None  # None when unreadable / not UTF-8
    document: Document | None  # None when it did not even parse into a document with a kind
    problems: list[Problem] = field(default_factory=list)  # from reading: yaml, kind, schema


@lru_cache(maxsize=None)
def _sub_validator(kind: str, pointer: str) -> Draft202012Validator:
    """A validator for the part of ``<kind>.schema.json`` at ``pointer`` ("/$defs/rule")."""
    base = validator_for(kind)
    node: Any = base.schema
    for part in pointer.strip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return base.evolve(schema=node)


class LintContext:
    """The loaded configuration.  Cheap things are attributes; the rest is computed on demand."""

    def __init__(self, root: Path, files: Sequence[SourceFile], *, catalog: Any = None):
        self.root = Path(root)
        self.files = list(files)
        self._catalog = catalog
        self.notes: list[str] = []  # said once on stderr by the CLI (e.g. a schema is missing)
        self._memo: dict[Any, Any] = {}

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Compute something once per context (several checks share an index)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, root: str | Path, extra: Iterable[Path] = (), *, catalog: Any = None) -> "LintContext":
        """Every config file under ``root`` (rules/, mappings/) plus any ``extra`` files."""
        root = Path(root)
        paths: dict[Path, Path] = {}
        for path in config_files(root):  # bundle order, as the loader reads them
            paths.setdefault(path.resolve(), path)
        for path in sorted(extra, key=lambda p: display_name(p, root)):  # then newcomers
            paths.setdefault(path.resolve(), path)
        files = [read_source(path, display_name(path, root)) for path in paths.values()]
        return cls(root, files, catalog=catalog)

    # -- documents -------------------------------------------------------------------------

    @cached_property
    def documents(self) -> list[Document]:
        return [f.document for f in self.files if f.document is not None]

    def docs(self, kind: str) -> list[Document]:
        """Every document of ``kind``, including ones with schema errors (use ``items``)."""
        return [d for d in self.documents if d.kind == kind]

    def file(self, name: str) -> SourceFile | None:
        for f in self.files:
            if f.name == name:
                return f
        return None

    @staticmethod
    def valid(kind: str, pointer: str, value: Any) -> bool:
        """Whether ``value`` is valid against the part of the kind's schema at ``pointer``."""
        return _sub_validator(kind, pointer).is_valid(value)

    def items(self, kind: str, key: str, pointer: str) -> Iterator[tuple[Document, int, Any, Loc]]:
        """(document, index, item, item location) of every schema-valid item of the list ``key``
        in every document of ``kind``; invalid items are skipped (the schema check reports them)."""
        for doc in self.docs(kind):
            items = doc.data.get(key)
            if not isinstance(items, LocList):
                continue
            for i, item in enumerate(items):
                if self.valid(kind, pointer, item):
                    yield doc, i, item, items.item_locs[i]

    # -- rules -----------------------------------------------------------------------------

    @cached_property
    def _rules(self) -> tuple[list[Rule], dict[int, LocDict]]:
        rules: list[Rule] = []
        nodes: dict[int, LocDict] = {}
        order = 0
        for doc in self.docs("classification"):
            items = doc.data.get("rules")
            if not isinstance(items, LocList):
                continue
            for i, raw in enumerate(items):
                if self.valid("classification", "/$defs/rule", raw):
                    rule = parse_rule(raw, doc.file, items.item_locs[i], order)
                    rules.append(rule)
                    nodes[rule.order] = raw
                order += 1
        return rules, nodes

    @property
    def rules(self) -> list[Rule]:
        """Every schema-valid rule, in bundle order (file order, then list order)."""
        return self._rules[0]

    def rule_node(self, rule: Rule) -> LocDict:
        """The YAML mapping a rule came from (for precise locations)."""
        return self._rules[1][rule.order]

    @cached_property
    def fallbacks(self) -> list[tuple[Fallback, LocDict]]:
        """(fallback, the document holding it) for every schema-valid fallback."""
        out = []
        for doc in self.docs("classification"):
            raw = doc.data.get("fallback")
            if raw is not None and self.valid("classification", "/properties/fallback", raw):
                fb = parse_fallback(doc.data, doc.file)
                if fb is not None:
                    out.append((fb, doc.data))
        return out

    # -- the bundle (for problems of kinds registered by other parts of the core) -----------

    @cached_property
    def bundle_result(self) -> tuple[Any, list[Problem]]:
        return build_bundle(self.root, self.documents, [])

    # -- field paths -----------------------------------------------------------------------

    @property
    def catalog(self):
        if self._catalog is None:
            from engine.lint.fields import FieldCatalog

            self._catalog = FieldCatalog.load()
        return self._catalog

    # -- locations -------------------------------------------------------------------------

    @cached_property
    def _nodes_by_loc(self) -> dict[Loc, LocDict]:
        index: dict[Loc, LocDict] = {}

        def visit(node: Any) -> None:
            if isinstance(node, LocDict):
                index.setdefault(node.loc, node)
                for value in node.values():
                    visit(value)
            elif isinstance(node, LocList):
                for value in node:
                    visit(value)

        for doc in self.documents:
            visit(doc.data)
        return index

    def node_at(self, loc: Loc | None) -> LocDict | None:
        """The YAML mapping that starts at ``loc`` (conditions remember only their own loc)."""
        return self._nodes_by_loc.get(loc) if loc is not None else None

    @staticmethod
    def problem(code: str, where: Loc | str | None, message: str, severity: str = "error") -> Problem:
        """A finding at a source location (or at line 1 of a file name, or nowhere)."""
        if isinstance(where, Loc):
            return Problem(code=code, message=message, file=where.file, line=where.line, col=where.col,
                           severity=severity)
        if isinstance(where, str):
            return Problem(code=code, message=message, file=where, line=1, col=1, severity=severity)
        return Problem(code=code, message=message, severity=severity)


def read_source(path: Path, name: str) -> SourceFile:
    """Read one file the way the bundle does, keeping the text for style checks and carets."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return SourceFile(path.resolve(), name, None, None,
                          [Problem(code="config.read", message=f"cannot read: {exc.strerror}",
                                   file=name, line=1, col=1)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    document, problems = read_document(path, name)
    return SourceFile(path.resolve(), name, text, document, problems)


def value_loc(node: Any, key: str) -> Loc | None:
    """Where the value of ``key`` stands in a mapping (or the mapping itself)."""
    if isinstance(node, LocDict):
        return node.value_locs.get(key, node.loc)
    return None


def key_loc(node: Any, key: str) -> Loc | None:
    if isinstance(node, LocDict):
        return node.key_locs.get(key, node.loc)
    return None


def parse_rule(raw: LocDict, file: str, item_loc: Loc, order: int) -> Rule:
    """One schema-valid rule item, through the same parser the bundle uses."""
    single = LocDict(raw.loc)
    items = LocList(item_loc)
    items.append(raw)
    items.item_locs.append(item_loc)
    single["rules"] = items
    (rule,) = parse_rules(single, file, order)  # regexes are compiled (and reported) by their check
    return rule
