"""Errors as data.

A bad CDR, a bad YAML file or a failed rule test is never an exception that stops a batch: it
is a list of ``Problem`` values that say where (JSON path into the input, or file:line:col in a
config file), what (a stable ``code``) and why (``message``). The CLI, the HTTP API and the
exception queue all render the same objects.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from engine.frozen import frozen


@frozen
class Problem:
    code: str
    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    col: int | None = None
    severity: str = "error"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "code": self.code, "message": self.message}
        if self.file is not None:
            out["file"] = self.file
            out["line"] = self.line
            out["col"] = self.col
        if self.severity != "error":
            out["severity"] = self.severity
        out.update(self.extra)
        return out

    def location(self) -> str:
        """``file:line:col`` (or the JSON path) for human-readable output."""
        if self.file is None:
            return self.path or "<input>"
        return f"{self.file}:{self.line or 0}:{self.col or 0}"


def join_path(base: str, key: str | int) -> str:
    """Extend a JSON path the way every Problem spells it: ``a.b[0].c``."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else str(key)
