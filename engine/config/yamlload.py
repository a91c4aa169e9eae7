"""A strict YAML reader that keeps every node's file:line:column.

PyYAML's defaults are wrong for billing configuration: YAML 1.1 turns the country code ``NO``
into ``False``, ``0755`` into 493 and silently keeps the last of two duplicate keys, and floats
lose cents. So we compose the node tree ourselves and resolve plain scalars by the YAML 1.2
core schema only: ``true``/``false``, ``null``/``~``, integers, and decimals read as Decimal.
Everything else (including dates) stays a string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable

import yaml

from engine.problems import Problem


@dataclass(frozen=True)
class Loc:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class LocDict(dict):
    """A mapping that remembers where it, each key and each value stand in the source."""

    __slots__ = ("loc", "key_locs", "value_locs")

    def __init__(self, loc: Loc):
        super().__init__()
        self.loc = loc
        self.key_locs: dict[Any, Loc] = {}
        self.value_locs: dict[Any, Loc] = {}


class LocList(list):
    """A sequence that remembers where it and each item stand in the source."""

    __slots__ = ("loc", "item_locs")

    def __init__(self, loc: Loc):
        super().__init__()
        self.loc = loc
        self.item_locs: list[Loc] = []


class _NoImplicitLoader(yaml.SafeLoader):
    """Composes nodes only; every plain scalar keeps the str tag so we can resolve it ourselves."""


_NoImplicitLoader.yaml_implicit_resolvers = {}

_STR_TAG = "tag:yaml.org,2002:str"
_NULL = re.compile(r"^(?:null|Null|NULL|~|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_DEC = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_SPECIAL_FLOAT = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$")

_EXPLICIT = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq",
}


class YamlError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def _loc(file: str, mark: yaml.Mark) -> Loc:
    return Loc(file, mark.line + 1, mark.column + 1)


def _scalar(node: yaml.ScalarNode, file: str) -> Any:
    text = node.value
    if node.tag != _STR_TAG or node.style is not None:  # quoted or explicitly tagged
        if node.tag == "tag:yaml.org,2002:int":
            return int(text)
        if node.tag == "tag:yaml.org,2002:float":
            return Decimal(text)
        if node.tag == "tag:yaml.org,2002:bool":
            return _BOOL.get(text, text)
        if node.tag == "tag:yaml.org,2002:null":
            return None
        if node.tag not in _EXPLICIT:
            raise YamlError(_problem(file, node.start_mark, "yaml.tag", f"unsupported tag {node.tag}"))
        return text
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return int(text)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _DEC.match(text):
        return Decimal(text)
    if _SPECIAL_FLOAT.match(text):
        raise YamlError(_problem(file, node.start_mark, "yaml.nonfinite",
                                 f"{text!r} is not a finite number; quote it if you mean a string"))
    return text


def _problem(file: str, mark: yaml.Mark | None, code: str, message: str) -> Problem:
    if mark is None:
        return Problem(code=code, message=message, file=file, line=1, col=1)
    return Problem(code=code, message=message, file=file, line=mark.line + 1, col=mark.column + 1)


def _convert(node: yaml.Node, file: str, problems: list[Problem]) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node, file)
    if isinstance(node, yaml.SequenceNode):
        out = LocList(_loc(file, node.start_mark))
        for item in node.value:
            out.append(_convert(item, file, problems))
            out.item_locs.append(_loc(file, item.start_mark))
        return out
    if isinstance(node, yaml.MappingNode):
        out = LocDict(_loc(file, node.start_mark))
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (key_node.value == "<<" and key_node.style is None):
                problems.append(_problem(file, key_node.start_mark, "yaml.merge_key",
                                         "merge keys (<<) are not supported; write the keys out"))
                continue
            key = _convert(key_node, file, problems)
            if isinstance(key, (LocDict, LocList)):
                problems.append(_problem(file, key_node.start_mark, "yaml.complex_key",
                                         "mapping keys must be scalars"))
                continue
            if key in out:
                first = out.key_locs[key]
                problems.append(_problem(
                    file, key_node.start_mark, "yaml.duplicate_key",
                    f"duplicate key {key!r} (first defined at line {first.line})"))
                continue
            out[key] = _convert(value_node, file, problems)
            out.key_locs[key] = _loc(file, key_node.start_mark)
            out.value_locs[key] = _loc(file, value_node.start_mark)
        return out
    raise YamlError(_problem(file, node.start_mark, "yaml.node", f"unexpected node {node!r}"))


def load_yaml(text: str, file: str) -> tuple[Any, list[Problem]]:
    """Parse one YAML document. Returns (data or None, problems); never raises for bad input."""
    problems: list[Problem] = []
    try:
        node = yaml.compose(text, Loader=_NoImplicitLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context or "invalid YAML"
        return None, [_problem(file, mark, "yaml.syntax", reason)]
    except yaml.YAMLError as exc:
        return None, [_problem(file, None, "yaml.syntax", str(exc))]
    if node is None:
        return None, [_problem(file, None, "yaml.empty", "the file is empty")]
    try:
        return _convert(node, file, problems), problems
    except YamlError as exc:
        return None, problems + [exc.problem]
    except RecursionError:
        return None, problems + [_problem(file, None, "yaml.too_deep", "nesting is too deep")]


def location_of(root: Any, path: Iterable[Any], *, key: bool = False) -> Loc | None:
    """The source location of the node at ``path`` (a JSON-Schema error path) below ``root``.

    Walks as far as the path exists and returns the deepest location found, so an error about a
    missing key points at the mapping that lacks it.
    """
    node = root
    found: Loc | None = getattr(root, "loc", None)
    for step in path:
        if isinstance(node, LocDict) and step in node:
            found = (node.key_locs if key else node.value_locs).get(step, found)
            node = node[step]
        elif isinstance(node, LocList) and isinstance(step, int) and 0 <= step < len(node):
            found = node.item_locs[step]
            node = node[step]
        else:
            break
        found = getattr(node, "loc", found) if not key else found
    return found


def plain(data: Any) -> Any:
    """Strip location wrappers (for hashing or JSON output)."""
    if isinstance(data, dict):
        return {k: plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data
