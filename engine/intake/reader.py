"""Reading CDRs from files, directories and stdin, whatever shape the sender chose.

Four shapes arrive in practice: one JSON object (a POSTed CDR), a JSON array (an export), JSON
Lines (a log or a back-fill) and the OCPI response envelope ``{"data": [...], "status_code": 1000,
"timestamp": ...}`` (a saved GET response, ``data`` possibly a single object). The shape is told
from the first bytes, never from a full parse, and everything is read as a stream: a month-end
batch of millions of CDRs is parsed one CDR at a time in constant memory (jsontext.py explains
why this is the standard library's C scanner and not ijson).

Every item comes out as a :class:`RawItem`, a parse failure included, so a caller handles good and
bad input in one loop and never sees a traceback. ``RawItem.source`` says where the item was:

* ``cdr.json``             the file is one object (or an envelope whose ``data`` is one object)
* ``batch.json[3]``        4th element (0-based) of a top-level array or of an envelope's ``data``
* ``cdrs.jsonl:12``        line 12 (1-based) of JSON Lines (``cdrs.jsonl:12[3]`` for an envelope on it)
* ``<stdin>...``           the same for standard input

In JSON Lines a malformed line is one RawItem with a problem and reading goes on with the next
line; in an array or envelope the rest cannot be resynchronised, so a malformed element ends the
file with one RawItem saying where (line and column) and why.
"""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from engine.intake import cdrline
from engine.intake.fastjson import NOT_DECODED, decode_line
from engine.intake.jsontext import SURROGATE_ESCAPE, Malformed, TextWindow
from engine.problems import Problem, join_path

EXTENSIONS = (".json", ".jsonl", ".ndjson")
LINES_EXTENSIONS = (".jsonl", ".ndjson")
STDIN = "<stdin>"
ONE_LINE_MAX = 1 << 16  # a first line up to this long is parsed whole (a CDR is a few KB)

INVALID = "json.invalid"
NON_FINITE = "json.nan"
LONE_SURROGATE = "json.lone_surrogate"
ENVELOPE_STATUS = "envelope.status"
NOT_FOUND = "input.not_found"
UNREADABLE = "input.unreadable"


class RawItem:
    """One item read: ``data`` the parsed JSON value (None if unreadable, with ``problems``).

    ``raw`` is the item's text exactly as received, where the reader has it whole (a JSON Lines
    line, a one-line document): the store keeps it as the raw CDR. None: the store keeps
    canonical JSON. ``cdr_line`` is set for a line that decoded as a 2.2.1 CDR (cdrline.py):
    ``intake.accept`` takes it instead of ``data``, which is then only parsed if someone reads it.
    """

    __slots__ = ("source", "_data", "problems", "raw", "cdr_line")

    def __init__(self, source: str, data: Any, problems: list[Problem] | None = None, raw: str | None = None,
                 cdr_line: cdrline.CdrLine | None = None):
        self.source = source
        self._data = _ON_DEMAND if cdr_line is not None and data is None else data
        self.problems = [] if problems is None else problems
        self.raw = raw
        self.cdr_line = cdr_line

    @property
    def data(self) -> Any:
        if self._data is _ON_DEMAND:
            self._data = self.cdr_line.value()  # type: ignore[union-attr]
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value

    def _fields(self) -> tuple[Any, ...]:
        return self.source, self.data, self.problems, self.raw

    def __eq__(self, other: object) -> bool:
        if type(other) is not RawItem:
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RawItem(source={self.source!r}, data={self.data!r}, problems={self.problems!r}, raw={self.raw!r})"


_ON_DEMAND = object()
_decode_json = json.JSONDecoder(parse_float=Decimal).decode


def _line_value(text: str) -> Any:
    """What the reader parses a JSON Lines line that decoded as a CDR to (see parse_line)."""
    value = decode_line(text)
    return _decode_json(text) if value is NOT_DECODED else value


class _NonFinite:
    """What ``NaN``/``Infinity`` parse to, so the item can be rejected with the field named."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def read_paths(paths: list[str]) -> Iterator[RawItem]:
    """Items from files, directories (``*.json``, ``*.jsonl``, ``*.ndjson``, recursively, sorted)
    and ``-`` (standard input), in the order given."""
    for given in paths:
        if given == "-":
            yield from read_items(sys.stdin.buffer, STDIN)
            continue
        path = Path(given)
        if path.is_dir():
            files = sorted((p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS),
                           key=lambda p: p.relative_to(path).parts)
        elif path.exists():
            files = [path]
        else:
            yield RawItem(given, None, [Problem(code=NOT_FOUND, message=f"no such file or directory: {given}")])
            continue
        for file in files:
            try:
                stream = open(file, "rb")
            except OSError as exc:
                yield RawItem(str(file), None, [Problem(code=UNREADABLE, message=f"cannot open: {exc.strerror}")])
                continue
            with stream:
                yield from read_items(stream, str(file))


def read_items(stream: BinaryIO, name: str) -> Iterator[RawItem]:
    """Items from one byte stream, lazily; ``name`` prefixes every ``RawItem.source``."""
    reader = _Reader(stream, name)
    try:
        yield from reader.items()
    except Malformed as exc:
        yield reader.malformed(name, exc)
    except OSError as exc:
        yield RawItem(name, None, [Problem(code=UNREADABLE, message=f"read error: {exc}")])


_ENVELOPE_KEYS = frozenset({"data", "status_code", "status_message", "timestamp"})


def _is_envelope(obj: Any) -> bool:
    """An OCPI response: a ``data`` list/object, or only envelope fields (an empty or error response)."""
    if not isinstance(obj, dict):
        return False
    if isinstance(obj.get("data"), (list, dict)):
        return True
    return "status_code" in obj and obj.keys() <= _ENVELOPE_KEYS


def _envelope_problem(meta: dict[str, Any], source: str) -> RawItem | None:
    """An OCPI response whose status_code is not 1xxx (success) is reported, once."""
    code = meta.get("status_code")
    if code is None or (isinstance(code, int) and 1000 <= code < 2000):
        return None
    message = meta.get("status_message")
    text = f"OCPI response with status_code {code!s:.12}" + (f": {str(message)[:200]}" if message else "")
    return RawItem(source, None, [Problem(code=ENVELOPE_STATUS, message=text)])


class _Reader:
    def __init__(self, stream: BinaryIO, name: str):
        self.name = name
        # Values that need a look before they are handed on (NaN/Infinity, escaped surrogates);
        # an item compares the count before and after it was parsed.
        self.flagged = 0
        self._first_line: tuple[str, Any] | None = None  # (text, value) decoded by looks_like_lines
        decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=self._constant)
        self.decode = decoder.decode
        self.window = TextWindow(stream, decoder, on_surrogate=self._flag)

    def _flag(self) -> None:
        self.flagged += 1

    def _constant(self, text: str) -> _NonFinite:
        self.flagged += 1
        return _NonFinite(text)

    # -- helpers -------------------------------------------------------------------------------

    def malformed(self, source: str, exc: Malformed) -> RawItem:
        line, col = self.window.position(exc.index)
        return RawItem(source, None, [Problem(code=exc.code, message=f"line {line}, column {col}: {exc.message}",
                                              file=self.name, line=line, col=col)])

    def item(self, source: str, value: Any, seen_before: int) -> RawItem:
        """A parsed value as a RawItem; NaN/Infinity or a lone surrogate inside it make it a
        rejected one, with the field named."""
        if self.flagged == seen_before:
            return RawItem(source, value)
        problems = _unusable(value)
        return RawItem(source, None, problems) if problems else RawItem(source, value)

    # -- shapes --------------------------------------------------------------------------------

    def items(self) -> Iterator[RawItem]:
        window = self.window
        first = window.peek()
        if first == "":
            return  # empty input: no CDRs
        if self.name.lower().endswith(LINES_EXTENSIONS):
            yield from self.lines()
        elif first == "[":
            try:
                yield from self.array(self.name)
            except _Stop:
                return
            self.expect_end()
        elif first == "{":
            if self.looks_like_lines():
                yield from self.lines()
            else:
                yield from self.document()
        else:
            found = repr(first) if first.isprintable() else f"U+{ord(first):04X}"
            raise Malformed(INVALID, f"not JSON: expected an object '{{', an array '[' or JSON Lines, found {found}",
                            window.pos)

    def looks_like_lines(self) -> bool:
        """JSON Lines if the first line alone is a complete JSON value.

        A body of one line with no newline at its end (what an HTTP client POSTs) is read to its
        end first, up to :data:`ONE_LINE_MAX`: it is then one line, parsed whole (and kept verbatim
        as the raw CDR) like a line of JSON Lines, not value by value. Only a longer first line - an
        export or envelope on one line - is streamed in constant memory by :meth:`document`."""
        window = self.window
        newline = window.text.find("\n", window.pos)
        while newline < 0 and not window.eof and len(window.text) - window.pos < ONE_LINE_MAX:
            window.fill()
            newline = window.text.find("\n", window.pos)
        if newline < 0:
            return window.eof  # one line that is all the input: the same as JSON Lines of one
        line = window.text[window.pos:newline]
        value = decode_line(line)
        if value is not NOT_DECODED:
            self._first_line = (line, value)  # parse_line takes it from here: parsed once
            return True
        try:
            _, end = json.JSONDecoder().raw_decode(line)
        except (ValueError, RecursionError):
            return False
        return line[end:].strip() == ""

    def expect_end(self) -> None:
        if self.window.peek() != "":
            raise Malformed(INVALID, "unexpected data after the end of the JSON document", self.window.pos)

    def array(self, prefix: str) -> Iterator[RawItem]:
        """The elements of the array at ``pos``, one RawItem each, as ``prefix[i]``."""
        window = self.window
        window.expect("[", "'['")
        if window.peek() == "]":
            window.pos += 1
            return
        index = 0
        while True:
            source = f"{prefix}[{index}]"
            window.peek()
            seen = self.flagged
            try:
                value = window.value()
            except Malformed as exc:
                yield self.malformed(source, exc)
                raise _Stop() from None
            yield self.item(source, value, seen)
            index += 1
            try:
                if window.expect(",]", "',' or ']' after an array element") == "]":
                    return
            except Malformed as exc:
                yield self.malformed(f"{prefix}[{index}]", exc)
                raise _Stop() from None

    def document(self) -> Iterator[RawItem]:
        """A pretty-printed object: one CDR, or an envelope whose ``data`` is streamed."""
        window = self.window
        seen = self.flagged
        meta: dict[str, Any] = {}
        streamed = False
        try:
            window.expect("{", "'{'")
            if window.peek() == "}":
                window.pos += 1
            else:
                while True:
                    if window.peek() != '"':
                        window.expect('"', "a field name in double quotes")
                    key = window.value()
                    window.expect(":", "':' after a field name")
                    if key == "data" and window.peek() == "[":
                        streamed = True
                        yield from self.array(self.name)
                    else:
                        window.peek()
                        meta[key] = window.value()
                    if window.expect(",}", "',' or '}' after a field") == "}":
                        break
        except _Stop:
            return
        if streamed or _is_envelope(meta):
            if isinstance(meta.get("data"), dict):  # a single CDR in an envelope
                yield self.item(self.name, meta["data"], seen)
            problem = _envelope_problem(meta, self.name)
            if problem is not None:
                yield problem
        else:
            yield self.item(self.name, meta, seen)
        if window.peek() != "":
            yield from self.lines(numbered=True)  # concatenated values: the rest as JSON Lines

    def lines(self, numbered: bool | None = None) -> Iterator[RawItem]:
        """JSON Lines: one value per line; blank lines skipped; a bad line does not stop the rest."""
        window = self.window
        line_no = window.position(window.pos)[0]
        pending: list[tuple[int, str]] = []
        while True:
            text = window.line()
            if text is None:
                break
            line_no += 1
            if not text.strip():
                continue
            pending.append((line_no - 1, text))
            if numbered is None:
                if len(pending) < 2 and not self.name.lower().endswith(LINES_EXTENSIONS):
                    continue  # one line alone is named like a single-object file
                numbered = True
            for item in pending:
                yield from self.parse_line(*item, numbered=True)
            pending.clear()
        for item in pending:
            yield from self.parse_line(*item, numbered=bool(numbered))

    def parse_line(self, line_no: int, text: str, *, numbered: bool) -> Iterator[RawItem]:
        source = f"{self.name}:{line_no}" if numbered else self.name
        seen = self.flagged
        first, self._first_line = self._first_line, None
        cdr = cdrline.decode(text, _line_value)
        if cdr is not None:  # (a CDR: neither an envelope nor NaN nor a lone surrogate in it)
            yield RawItem(source, first[1] if first is not None and first[0] == text else None, raw=text,
                          cdr_line=cdr)
            return
        value = first[1] if first is not None and first[0] == text else decode_line(text)
        if value is NOT_DECODED:   # (msgspec refuses lone surrogates: only this path can meet one)
            try:
                value = self.decode(text)
            except (ValueError, RecursionError) as exc:
                yield self.bad_line(source, line_no, text, exc)
                return
            if SURROGATE_ESCAPE.search(text):
                self._flag()
        if self.flagged != seen or not _is_envelope(value):
            item = self.item(source, value, seen)
            item.raw = text
            yield item
            return
        data = value.get("data")
        if isinstance(data, list):
            for i, element in enumerate(data):
                yield RawItem(f"{source}[{i}]", element)
        elif isinstance(data, dict):
            yield RawItem(source, data)
        problem = _envelope_problem(value, source)
        if problem is not None:
            yield problem

    def bad_line(self, source: str, line_no: int, text: str, exc: Exception) -> RawItem:
        """The RawItem for a JSON Lines line the standard library could not parse."""
        if isinstance(exc, json.JSONDecodeError):
            return RawItem(source, None, [Problem(code=INVALID, file=self.name, line=line_no, col=exc.colno,
                                                  message=f"line {line_no}, column {exc.colno}: {exc.msg}")],
                           raw=text)
        if isinstance(exc, RecursionError):
            return RawItem(source, None, [Problem(code="json.too_deep", file=self.name, line=line_no, col=1,
                                                  message=f"line {line_no}: nested too deeply to be a CDR")])
        return RawItem(source, None, [Problem(code=INVALID, file=self.name, line=line_no, col=1,
                                              message=f"line {line_no}: {str(exc)[:120]}")])


class _Stop(Exception):
    """A malformed array element was reported; the rest of the input cannot be read."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(text: str) -> Problem | None:
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return Problem(code=LONE_SURROGATE, message=f"not valid Unicode: a lone surrogate "
                   f"({found.group().encode('unicode_escape').decode()}) that no text encoding can hold")


def _unusable(value: Any) -> list[Problem]:
    """What makes a parsed value unusable, by path and without recursion: NaN/Infinity, and
    strings (values or field names) with a lone surrogate."""
    found: list[tuple[str, Problem]] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _NonFinite):
            found.append((path, Problem(code=NON_FINITE, path=path, message=f"{node.text} is not a JSON number "
                                        "(NaN and Infinity are not allowed in OCPI)")))
        elif isinstance(node, str):
            problem = _lone_surrogate(node)
            if problem is not None:
                found.append((path, Problem(code=problem.code, path=path, message=problem.message)))
        elif isinstance(node, dict):
            for k, v in node.items():
                key_problem = _lone_surrogate(str(k))
                if key_problem is not None:
                    key_path = join_path(path, str(k).encode("utf-8", "backslashreplace").decode())
                    found.append((key_path, Problem(code=key_problem.code, path=key_path,
                                                    message=f"field name {key_problem.message}")))
                    continue
                stack.append((join_path(path, str(k)), v))
        elif isinstance(node, list):
            stack.extend((join_path(path, i), v) for i, v in enumerate(node))
    return [problem for _, problem in sorted(found, key=lambda pair: pair[0])]
