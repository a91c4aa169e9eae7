"""``cdrflow lint`` driven like a user: by subprocess, in a directory holding a config.

Exit codes are the contract: 0 clean (warnings alone are clean), 1 findings, 2 usage error.
The configs are made up here (the repository's rules are linted by the last test only).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

OPERATOR = """\
# yaml-language-server: $schema=../schemas/operator.schema.json
kind: operator
name: Volt GmbH
own_parties: ["DE*VLT"]
country: DE
default_time_zone: Europe/Berlin
"""

CLASSIFICATION = """\
# yaml-language-server: $schema=../schemas/classification.schema.json
kind: classification
rules:
  - id: adhoc-app
    description: App and QR payments with a captured PSP transaction
    priority: 300
    when:
      all:
        - {path: cdr.cdr_token.type, eq: AD_HOC_USER}
        - {path: facts.psp.captured, eq: true}
    stream: adhoc
  - id: roaming
    description: Tokens of roaming partners with an active contract
    priority: 200
    when: {path: facts.msp.active, eq: true}
    stream: msp
fallback:
  reason: UNCLASSIFIED
  description: No classification rule matched
"""

MAPPING = """\
# yaml-language-server: $schema=../schemas/mapping.schema.json
kind: mapping
stream: {stream}
fields:
  invoice.line_item.id: {{path: cdr.session_id, default: {{path: cdr.id}}}}
  customer.name: {{path: facts.msp.name}}
"""


def cdrflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "engine.cli", "lint", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def config(tmp_path: Path):
    """A clean config in tmp_path; ``config(**{"rules/x.yaml": text})`` changes files."""
    files = {
        "rules/operator.yaml": OPERATOR,
        "rules/classification.yaml": CLASSIFICATION,
        "mappings/adhoc.yaml": MAPPING.format(stream="adhoc"),
        "mappings/msp.yaml": MAPPING.format(stream="msp"),
    }

    def make(**changes: str | None) -> Path:
        for name, text in {**files, **{k.replace("__", "/"): v for k, v in changes.items()}}.items():
            path = tmp_path / name
            if text is None:
                path.unlink(missing_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return tmp_path

    make()
    return make


SHADOWED = CLASSIFICATION.replace("""\
fallback:""", """\
  - id: roaming-reseller
    description: Resellers among the roaming partners
    priority: 100
    when:
      all:
        - {path: facts.msp.active, eq: true}
        - {path: facts.msp.reseller, eq: true}
    stream: msp
fallback:""")


def test_clean_config_exits_0(config):
    done = cdrflow(cwd=config())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "0 errors, 0 warnings in 4 files\n"


def test_warnings_alone_exit_0(config):
    root = config(rules__classification_yaml=None,
                  **{"rules__classification.yaml": CLASSIFICATION.replace(
                      "    description: Tokens of roaming partners with an active contract\n", "")})
    done = cdrflow(cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rules/classification.yaml:12:5: warning rule.no_description rule 'roaming' has no description" in done.stdout
    assert done.stdout.endswith("0 errors, 1 warning in 4 files\n")


def test_text_format_with_source_line_and_caret(config):
    root = config(**{"rules__classification.yaml": SHADOWED})
    done = cdrflow(cwd=root)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == ("rules/classification.yaml:21:7: error rule.shadowed rule 'roaming-reseller' can "
                        "never match: rule 'roaming' (priority 200, rules/classification.yaml:12) matches "
                        "every CDR it matches")
    assert lines[1] == "      all:"
    assert lines[2] == "      ^"
    assert lines[-1] == "1 error, 0 warnings in 4 files"


def test_every_caret_stands_under_its_column(config):
    broken = SHADOWED.replace("facts.msp.reseller", "facts.msp.resseler").replace(
        "eq: AD_HOC_USER", "eq: ADHOC_USER")
    done = cdrflow(cwd=config(**{"rules__classification.yaml": broken}))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    headers = [i for i, line in enumerate(lines) if re.match(r"^\S+:\d+:\d+: (error|warning) ", line)]
    assert len(headers) == 3  # the enum typo, the (still) shadowed rule, the path typo
    for i in headers:
        col = int(lines[i].split(":")[2])
        assert lines[i + 2] == " " * (col - 1) + "^"
    assert "(did you mean 'facts.msp.reseller'?)" in done.stdout
    assert "(did you mean 'AD_HOC_USER'?)" in done.stdout


def test_only_findings_in_the_given_paths_are_reported(config):
    duplicate = CLASSIFICATION.replace("fallback:\n  reason: UNCLASSIFIED\n  description: No classification rule matched\n", "") \
        .replace("priority: 300", "priority: 50").replace("priority: 200", "priority: 40")
    root = config(**{"rules__more.yaml": duplicate, "mappings__msp.yaml": "kind: mapping\nstream: msp\nfields: {}\n"})
    everything = cdrflow(cwd=root)
    assert everything.returncode == 1
    assert "mappings/msp.yaml:1:1: warning style.modeline" in everything.stdout

    only = cdrflow("rules/more.yaml", cwd=root)
    assert only.returncode == 1
    assert "mappings/" not in only.stdout
    # cross-file: the duplicates are found against rules/classification.yaml, which is not reported
    assert only.stdout.count("error rule.duplicate_id") == 2
    assert "already used at rules/classification.yaml:4" in only.stdout
    assert only.stdout.endswith("in 1 file\n")

    mappings = cdrflow("mappings", cwd=root)
    assert mappings.returncode == 0
    assert mappings.stdout.endswith("0 errors, 1 warning in 2 files\n")


def test_config_option_from_another_directory(config, tmp_path):
    root = config(**{"rules__classification.yaml": SHADOWED})
    elsewhere = tmp_path.parent
    done = cdrflow("--config", str(root), cwd=elsewhere)
    assert done.returncode == 1
    assert f"{root.name}/rules/classification.yaml:21:7: error rule.shadowed" in done.stdout


def test_json_format(config):
    root = config(**{"rules__classification.yaml": SHADOWED.replace(
        "    description: Resellers among the roaming partners\n", "")})
    done = cdrflow("--format", "json", cwd=root)
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert set(data) == {"findings", "summary"}
    assert data["summary"] == {"errors": 1, "warnings": 1, "files": 4}
    for finding in data["findings"]:
        assert set(finding) == {"file", "line", "col", "severity", "code", "message"}
    assert [(f["code"], f["severity"], f["file"], f["line"], f["col"]) for f in data["findings"]] == [
        ("rule.no_description", "warning", "rules/classification.yaml", 17, 5),
        ("rule.shadowed", "error", "rules/classification.yaml", 20, 7),
    ]


def test_github_format(config):
    root = config(**{"rules__classification.yaml": SHADOWED.replace(
        "    description: Resellers among the roaming partners\n", "")})
    done = cdrflow("--format", "github", cwd=root)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("::warning file=rules/classification.yaml,line=17,col=5,title=rule.no_description::"
                               "rule 'roaming-reseller' has no description")
    assert lines[1].startswith("::error file=rules/classification.yaml,line=20,col=7,title=rule.shadowed::"
                               "rule 'roaming-reseller' can never match")
    assert lines[2] == "1 error, 1 warning in 4 files"


def test_yaml_syntax_error_exits_1(config):
    root = config(**{"mappings__adhoc.yaml": "kind: mapping\nstream: adhoc\nfields: {a: [1, 2}\n"})
    done = cdrflow("--format", "json", cwd=root)
    assert done.returncode == 1
    codes = [f["code"] for f in json.loads(done.stdout)["findings"]]
    assert "yaml.syntax" in codes


@pytest.mark.parametrize("args, message", [
    (["no/such/file.yaml"], "no/such/file.yaml: no such file or directory"),
    (["--format", "xml"], "invalid choice: 'xml'"),
    (["--config", "nowhere"], "config directory 'nowhere' does not exist"),
    (["--no-such-option"], "unrecognized arguments: --no-such-option"),
])
def test_usage_errors_exit_2(config, args, message):
    done = cdrflow(*args, cwd=config())
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert done.stdout == ""


def test_a_directory_without_rules_or_mappings_is_a_usage_error(tmp_path):
    done = cdrflow(cwd=tmp_path)
    assert done.returncode == 2
    assert "no rules/ or mappings/" in done.stderr


def test_the_repository_configuration_is_clean():
    if not (ROOT / "rules" / "classification.yaml").exists():
        pytest.skip("rules/classification.yaml is not there yet")
    done = cdrflow("rules", "mappings", cwd=ROOT)  # what `make lint` runs
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^0 errors, \d+ warnings? in \d+ files\n$", done.stdout.splitlines(keepends=True)[-1])


def test_help_lists_the_contract():
    done = subprocess.run([sys.executable, "-m", "engine.cli", "lint", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for word in ("PATH", "--format", "{text,json,github}", "--config"):
        assert word in done.stdout
