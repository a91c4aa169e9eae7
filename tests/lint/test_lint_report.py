"""engine/lint/report.py: text with the source line and a caret, JSON, GitHub annotations."""

from __future__ import annotations

import json

from engine.lint.report import LintReport, render_github, render_json, render_text, source_excerpt
from engine.problems import Problem

SOURCE = "kind: classification\nrules:\n  - id: a\n    when: {path: facts.msp.active, eq: true}\n"


def report(*problems, files=("rules/c.yaml",)):
    return LintReport(list(problems), list(files), {"rules/c.yaml": SOURCE})


ERROR = Problem(code="rule.shadowed", message="rule 'a' can never match", file="rules/c.yaml", line=4,
                col=11, severity="error")
WARNING = Problem(code="rule.no_description", message="no description", file="rules/c.yaml", line=3,
                  col=5, severity="warning")


def test_text_has_location_source_line_caret_and_summary():
    text = render_text(report(WARNING, ERROR, files=["rules/c.yaml", "m.yaml", "n.yaml"]))
    assert text == (
        "rules/c.yaml:3:5: warning rule.no_description no description\n"
        "  - id: a\n"
        "    ^\n"
        "rules/c.yaml:4:11: error rule.shadowed rule 'a' can never match\n"
        "    when: {path: facts.msp.active, eq: true}\n"
        "          ^\n"
        "1 error, 1 warning in 3 files\n"
    )


def test_summary_counts():
    assert report().summary() == "0 errors, 0 warnings in 1 file"
    assert report(ERROR, ERROR, WARNING, WARNING).summary() == "2 errors, 2 warnings in 1 file"
    assert report(WARNING).exit_code == 0 and report(ERROR).exit_code == 1


def test_file_names_are_shown_as_the_caller_wants():
    text = render_text(report(ERROR), lambda name: "cfg/" + name)
    assert text.startswith("cfg/rules/c.yaml:4:11: error")


def test_problems_without_a_file_or_source():
    lost = Problem(code="lint.internal", message="crashed")
    elsewhere = Problem(code="config.operator", message="no operator", file="rules", line=1, col=1)
    text = render_text(report(elsewhere, lost))
    assert "rules:1:1: error config.operator no operator\ncdrflow: error lint.internal crashed\n" in text


def test_source_excerpt_edges():
    assert source_excerpt("a\n\tb: c\n", 2, 4) == ["\tb: c", "\t  ^"]
    assert source_excerpt("a\n", 5, 1) == []
    assert source_excerpt(None, 1, 1) == []
    assert source_excerpt("abc\n", 1, 99) == ["abc", "   ^"]


def test_json_shape():
    data = json.loads(render_json(report(ERROR, WARNING)))
    assert data == {
        "findings": [
            {"file": "rules/c.yaml", "line": 4, "col": 11, "severity": "error", "code": "rule.shadowed",
             "message": "rule 'a' can never match"},
            {"file": "rules/c.yaml", "line": 3, "col": 5, "severity": "warning",
             "code": "rule.no_description", "message": "no description"},
        ],
        "summary": {"errors": 1, "warnings": 1, "files": 1},
    }


def test_github_annotations_are_escaped():
    odd = Problem(code="path.unknown", message="100% wrong\nsecond line", file="rules/a,b.yaml", line=2,
                  col=3, severity="warning")
    out = render_github(report(ERROR, odd)).splitlines()
    assert out[0] == "::error file=rules/c.yaml,line=4,col=11,title=rule.shadowed::rule 'a' can never match"
    assert out[1] == "::warning file=rules/a%2Cb.yaml,line=2,col=3,title=path.unknown::100%25 wrong%0Asecond line"
    assert out[2] == "1 error, 1 warning in 1 file"
