"""A sliding window of decoded JSON text over a byte stream, for parsing value by value.

Why not ijson: its C backend builds a prefix string per event, so memory and time grow with the
*square* of the nesting depth (20,000 nested arrays take 1 GB; 100,000 get the process killed),
and its errors carry no line/column. Here each value is parsed by the standard library's C
scanner (``JSONDecoder.raw_decode`` at an offset: Decimal numbers, RecursionError on deep
junk, exact error positions) while the window only holds the value being parsed plus one read
chunk, so memory stays constant however long the array or the JSON Lines file is.

A value cut by the end of the window is told from a malformed one by where the decoder failed
(at the very end of the window, or an unterminated string); the window then grows by at least
its own size, so a 10 MB string costs O(size), not O(size^2), to parse.
"""

from __future__ import annotations

import codecs
import json
import re
from decimal import Decimal
from typing import Any, BinaryIO, Callable

CHUNK = 1 << 16
_WS = re.compile(r"[ \t\r\n]*")
_NEAR_END = 16  # a decode error this close to the window's end may just be a cut value
# A JSON escape of a UTF-16 surrogate: paired, it is one character; alone, the string it is in
# is not valid Unicode and cannot be stored, printed or sent on (UTF-8 has no encoding for it).
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class Malformed(Exception):
    """The input is not valid JSON at ``index`` of the window (or cannot be parsed safely)."""

    def __init__(self, code: str, message: str, index: int):
        super().__init__(message)
        self.code = code
        self.message = message
        self.index = index


class TextWindow:
    """Decoded text from ``stream``; ``pos`` is the parse position, text before it is dropped."""

    def __init__(self, stream: BinaryIO, decoder: json.JSONDecoder, on_surrogate: Callable[[], None] | None = None):
        self._read: Callable[[int], bytes] = getattr(stream, "read1", None) or stream.read
        self._on_surrogate = on_surrogate  # told of every value whose text escapes a surrogate
        self._bytes = codecs.getincrementaldecoder("utf-8-sig")()  # a BOM is dropped
        self._decode = decoder.raw_decode
        self.text = ""
        self.pos = 0
        self.eof = False
        self._line_base = 1  # line of text[0]
        self._col_base = 1   # column of text[0]

    # -- window management -------------------------------------------------------------------

    def _compact(self) -> None:
        if self.pos == 0:
            return
        consumed = self.text[: self.pos]
        newlines = consumed.count("\n")
        if newlines:
            self._line_base += newlines
            self._col_base = self.pos - consumed.rfind("\n")
        else:
            self._col_base += self.pos
        self.text = self.text[self.pos:]
        self.pos = 0

    def fill(self, at_least: int = 0) -> bool:
        """Read at least ``at_least`` more characters (one chunk if 0); False once at end of input."""
        if self.eof:
            return False
        self._compact()
        wanted = max(at_least, 1)
        added = 0
        while added < wanted:
            raw = self._read(max(CHUNK, at_least - added))
            if isinstance(raw, str):  # a text stream handed in by mistake: it is still JSON
                raw = raw.encode("utf-8", "surrogatepass")
            if not raw:
                try:
                    tail = self._bytes.decode(b"", final=True)
                except UnicodeDecodeError as exc:
                    raise Malformed("json.invalid", f"not valid UTF-8 at the end of the input ({exc.reason})",
                                    len(self.text)) from None
                self.text += tail
                self.eof = True
                return bool(tail) or added > 0
            try:
                text = self._bytes.decode(raw)
            except UnicodeDecodeError as exc:
                raise Malformed("json.invalid", f"not valid UTF-8 ({exc.reason})", len(self.text)) from None
            self.text += text
            added += len(text)
        return True

    def position(self, index: int) -> tuple[int, int]:
        """1-based (line, column) of ``text[index]`` in the whole input."""
        line = self._line_base + self.text.count("\n", 0, index)
        last = self.text.rfind("\n", 0, index)
        return line, (index - last if last >= 0 else self._col_base + index)

    # -- parsing -----------------------------------------------------------------------------

    def peek(self) -> str:
        """The next non-whitespace character ("" at end of input); ``pos`` is moved onto it."""
        while True:
            self.pos = _WS.match(self.text, self.pos).end()
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.fill():
                return ""

    def expect(self, chars: str, what: str) -> str:
        char = self.peek()
        if char == "" or char not in chars:
            found = "the end of the input" if char == "" else repr(char)
            raise Malformed("json.invalid", f"expected {what}, found {found}", self.pos)
        self.pos += 1
        return char

    def value(self) -> Any:
        """Parse the JSON value at ``pos`` (after :meth:`peek`), growing the window as needed."""
        while True:
            try:
                value, end = self._decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                cut = exc.pos >= len(self.text) - _NEAR_END or exc.msg.startswith("Unterminated string")
                if cut and not self.eof and self.fill(len(self.text) - self.pos):
                    continue
                raise Malformed("json.invalid", exc.msg, exc.pos) from None
            except RecursionError:
                raise Malformed("json.too_deep", "nested too deeply to be a CDR", self.pos) from None
            except ValueError as exc:  # e.g. an integer beyond Python's 4300-digit limit
                raise Malformed("json.invalid", str(exc)[:120], self.pos) from None
            if end >= len(self.text) and not self.eof and type(value) in (int, Decimal):
                # a number at the window's end may continue in the next chunk
                if self.fill():
                    continue
            if self._on_surrogate is not None and SURROGATE_ESCAPE.search(self.text, self.pos, end):
                self._on_surrogate()
            self.pos = end
            return value

    def line(self) -> str | None:
        """The rest of the current line (without the newline), or None at end of input."""
        searched = self.pos
        while True:
            newline = self.text.find("\n", searched)
            if newline >= 0:
                line = self.text[self.pos:newline]
                self.pos = newline + 1
                return line
            searched = len(self.text)
            start = self.pos
            if not self.fill(len(self.text) - self.pos):
                if self.pos >= len(self.text):
                    return None
                line = self.text[self.pos:]
                self.pos = len(self.text)
                return line
            searched -= start  # the window was compacted by fill()
