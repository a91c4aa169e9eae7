"""Findings as text (with the source line and a caret), JSON, or GitHub annotations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.problems import Problem

FORMATS = ("text", "json", "github")


@dataclass
class LintReport:
    findings: list[Problem]  # in scope, sorted by place
    files: list[str]  # names of the files in scope
    sources: dict[str, str | None] = field(default_factory=dict)  # file name -> text, for carets
    locations: dict[str, Path] = field(default_factory=dict)  # file name -> absolute path
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for p in self.findings if p.is_error)

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.findings if not p.is_error)

    @property
    def exit_code(self) -> int:
        """0 clean (warnings alone are clean), 1 at least one error."""
        return 1 if self.errors else 0

    def summary(self) -> str:
        return (f"{_count(self.errors, 'error')}, {_count(self.warnings, 'warning')} "
                f"in {_count(len(self.files), 'file')}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def sort_key(p: Problem) -> tuple:
    return (p.file is None, p.file or "", p.line or 0, p.col or 0, p.code, p.message)


Shown = Callable[[str], str]


def _identity(name: str) -> str:
    return name


def source_excerpt(text: str | None, line: int | None, col: int | None) -> list[str]:
    """The source line and a caret under the column ([] when there is nothing to show)."""
    if text is None or not line:
        return []
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return []
    source = lines[line - 1].rstrip()
    if not source.strip():
        return []
    col = max(1, min(col or 1, len(source) + 1))
    # keep tabs so the caret lines up however the terminal renders them
    pad = "".join(c if c == "\t" else " " for c in source[:col - 1])
    return [source, pad + "^"]


def render_text(report: LintReport, shown: Shown = _identity) -> str:
    out: list[str] = []
    for p in report.findings:
        if p.file is None:
            out.append(f"cdrflow: {p.severity} {p.code} {p.message}")
            continue
        where = shown(p.file) + (f":{p.line}:{p.col or 1}" if p.line else "")
        out.append(f"{where}: {p.severity} {p.code} {p.message}")
        out += source_excerpt(report.sources.get(p.file), p.line, p.col)
    out.append(report.summary())
    return "\n".join(out) + "\n"


def render_json(report: LintReport, shown: Shown = _identity) -> str:
    return json.dumps({
        "findings": [
            {"file": shown(p.file) if p.file is not None else None, "line": p.line, "col": p.col,
             "severity": p.severity, "code": p.code, "message": p.message}
            for p in report.findings
        ],
        "summary": {"errors": report.errors, "warnings": report.warnings, "files": len(report.files)},
    }, indent=2) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: LintReport, shown: Shown = _identity) -> str:
    """GitHub Actions workflow commands: one annotation per finding."""
    out = []
    for p in report.findings:
        level = "error" if p.is_error else "warning"
        props = []
        if p.file is not None:
            props.append(f"file={_escape_property(shown(p.file))}")
            if p.line:
                props += [f"line={p.line}", f"col={p.col or 1}"]
        props.append(f"title={_escape_property(p.code)}")
        out.append(f"::{level} {','.join(props)}::{_escape_data(p.message)}")
    out.append(report.summary())
    return "\n".join(out) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "github": render_github}
