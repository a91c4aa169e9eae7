"""Load ``rules/`` and ``mappings/`` into one immutable, validated, hashed bundle.

Loading is a pipeline of small steps: read (strict YAML) -> check each document against its
kind's schema -> build the typed pieces -> resolve cross references -> hash. Every step returns
its problems as data with file:line:col; the bundle is only usable when none is an error.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping as TMapping

from engine.classify.evaluate import Classifier
from engine.classify.rules import Fallback, Rule, parse_fallback, parse_rules, walk
from engine.config.schema_check import schema_problems
from engine.config.yamlload import LocDict, load_yaml, location_of, plain
from engine.mapping import Mapping, compile_mapping
from engine.problems import Problem

CONFIG_DIRS = ("rules", "mappings")
# Kinds that make up the bundle (and its version). ``tests`` live beside the rules but are run by
# ``cdrflow test``; they do not change a Decision, so they do not change the version.
BUNDLE_KINDS = ("operator", "classification", "mapping", "posting_groups")
ALL_KINDS = BUNDLE_KINDS + ("tests",)


@dataclass(frozen=True)
class Document:
    file: str  # as shown to users: relative to the config root
    kind: str
    data: Any  # LocDict
    digest: str


@dataclass(frozen=True)
class Bundle:
    root: str
    version: str
    documents: tuple[Document, ...]
    operator: TMapping[str, Any]
    rules: tuple[Rule, ...]
    fallback: Fallback
    classifier: Classifier
    mappings: TMapping[str, Mapping]
    posting_groups: tuple[TMapping[str, Any], ...]
    extensions: TMapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def own_parties(self) -> frozenset[str]:
        return frozenset(self.operator.get("own_parties", ()))

    def docs(self, kind: str) -> tuple[Document, ...]:
        return tuple(d for d in self.documents if d.kind == kind)


# Other parts of the core (pricing, tax) register the kinds they own and how to build them, so
# the bundle stays the one place that loads configuration without knowing every kind.
Builder = Callable[[list[Document]], tuple[Any, list[Problem]]]
_EXTENSIONS: dict[str, Builder] = {}

# The modules that call ``register_kind`` when imported. Named here (not imported at the top) because
# they import this module; ``kinds()`` imports them on first use.
KIND_MODULES = (
    "engine.tax.config",    # kind: tax_rules
    "engine.rates.config",  # kinds: tariffs, tariff_plans, msp_tariffs
)
_kind_modules_loaded = False


def register_kind(kind: str, builder: Builder) -> None:
    _EXTENSIONS[kind] = builder


def load_kind_modules() -> None:
    global _kind_modules_loaded
    if not _kind_modules_loaded:
        _kind_modules_loaded = True
        for name in KIND_MODULES:
            importlib.import_module(name)


def kinds() -> tuple[str, ...]:
    load_kind_modules()
    return BUNDLE_KINDS + tuple(_EXTENSIONS) + ("tests",)


def config_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for sub in CONFIG_DIRS:
        base = root / sub
        if base.is_dir():
            files += [p for p in base.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(files)


def display_name(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def read_document(path: Path, name: str) -> tuple[Document | None, list[Problem]]:
    """Read and schema-check one file."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(code="yaml.encoding", message=f"not UTF-8: {exc.reason}", file=name, line=1, col=1)]
    data, problems = load_yaml(text, name)
    if data is None:
        return None, problems
    if not isinstance(data, LocDict) or "kind" not in data:
        return None, problems + [Problem(code="config.kind", file=name, line=1, col=1,
                                         message=f"missing 'kind' (one of {', '.join(kinds())})")]
    kind = data["kind"]
    if kind not in kinds():
        loc = location_of(data, ["kind"])
        close = difflib.get_close_matches(str(kind), kinds(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return None, problems + [Problem(code="config.kind", file=name, line=loc.line, col=loc.col,
                                         message=f"unknown kind {kind!r}{hint}")]
    problems += schema_problems(data, kind, name)
    if any(p.is_error for p in problems):
        return Document(name, kind, data, ""), problems
    digest = hashlib.sha256(name.encode() + b"\0" + raw).hexdigest()
    return Document(name, kind, data, digest), problems


def _rule_problems(rules: list[Rule], fallbacks: list[Fallback], docs: list[Document]) -> list[Problem]:
    problems = []
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            first = seen[rule.id]
            problems.append(Problem(code="rule.duplicate_id", file=rule.file, line=rule.line, col=1,
                                    message=f"rule id {rule.id!r} already used at {first.file}:{first.line}"))
        seen.setdefault(rule.id, rule)
        for cmp in walk(rule.when):
            if cmp.op == "matches":
                try:
                    re.compile(cmp.value)
                except re.error as exc:
                    loc = cmp.loc
                    problems.append(Problem(code="rule.bad_regex", file=rule.file,
                                            line=loc.line if loc else rule.line, col=loc.col if loc else 1,
                                            message=f"rule {rule.id!r}: regex {cmp.value!r} does not compile: {exc}"))
    if not fallbacks:
        where = docs[0].file if docs else "rules"
        problems.append(Problem(code="rule.no_fallback", file=where, line=1, col=1,
                                message="no 'fallback' declared: unmatched CDRs would have nowhere to go"))
    for extra in fallbacks[1:]:
        problems.append(Problem(code="rule.duplicate_fallback", file=extra.file, line=extra.line, col=1,
                                message=f"a second fallback (first at {fallbacks[0].file}:{fallbacks[0].line})"))
    return problems


def _parse_rules(docs: list[Document]) -> tuple[list[Rule], list[Fallback]]:
    rules: list[Rule] = []
    fallbacks: list[Fallback] = []
    for doc in docs:
        rules += parse_rules(doc.data, doc.file, len(rules))
        fb = parse_fallback(doc.data, doc.file)
        if fb:
            fallbacks.append(fb)
    return rules, fallbacks


def load_documents(root: Path, paths: list[Path] | None = None) -> tuple[list[Document], list[Problem]]:
    docs, problems = [], []
    for path in paths if paths is not None else config_files(root):
        doc, found = read_document(path, display_name(path, root))
        problems += found
        if doc is not None:
            docs.append(doc)
    return docs, problems


def build_bundle(root: Path, docs: list[Document], problems: list[Problem]) -> tuple[Bundle | None, list[Problem]]:
    """Turn schema-valid documents into a Bundle (None when errors make it unusable)."""
    load_kind_modules()
    usable = [d for d in docs if d.digest and d.kind != "tests"]
    by_kind: dict[str, list[Document]] = {}
    for d in usable:
        by_kind.setdefault(d.kind, []).append(d)

    operators = by_kind.get("operator", [])
    if len(operators) != 1:
        where = operators[1].file if len(operators) > 1 else "rules"
        problems.append(Problem(code="config.operator", file=where, line=1, col=1,
                                message=f"expected exactly one 'kind: operator' file, found {len(operators)}"))

    rules, fallbacks = _parse_rules(by_kind.get("classification", []))
    broken = any(d.kind == "classification" and not d.digest for d in docs)
    problems += [p for p in _rule_problems(rules, fallbacks, by_kind.get("classification", []))
                 if not (broken and p.code == "rule.no_fallback")]  # the schema error says why

    mappings: dict[str, Mapping] = {}
    for doc in by_kind.get("mapping", []):
        stream = doc.data["stream"]
        if stream in mappings:
            problems.append(Problem(code="mapping.duplicate_stream", file=doc.file, line=1, col=1,
                                    message=f"a second mapping for stream {stream!r} (first: {mappings[stream].file})"))
            continue
        mappings[stream] = compile_mapping(doc.data, doc.file)

    groups = tuple(MappingProxyType(plain(g)) for d in by_kind.get("posting_groups", []) for g in d.data["groups"])

    extensions = {}
    for kind, builder in _EXTENSIONS.items():
        built, found = builder(by_kind.get(kind, []))
        extensions[kind] = built
        problems += found

    if any(p.is_error for p in problems):
        return None, problems
    digest = hashlib.sha256("\n".join(sorted(d.digest for d in usable)).encode()).hexdigest()
    fallback = fallbacks[0]
    bundle = Bundle(
        root=str(root),
        version=digest[:12],
        documents=tuple(usable),
        operator=MappingProxyType(plain(operators[0].data)),
        rules=tuple(rules),
        fallback=fallback,
        classifier=Classifier(rules, fallback),
        mappings=MappingProxyType(mappings),
        posting_groups=groups,
        extensions=MappingProxyType(extensions),
    )
    return bundle, problems


def load_bundle(root: str | Path = ".") -> tuple[Bundle | None, list[Problem]]:
    """Load the configuration under ``root`` (the directory holding rules/ and mappings/)."""
    root = Path(root)
    docs, problems = load_documents(root)
    return build_bundle(root, docs, problems)
