"""``cdrflow test``: the analysts' YAML rule tests."""

from __future__ import annotations

import json
import shutil

from runcli import ROOT, cdrflow


def test_repository_rule_tests_pass_and_reach_every_rule():
    result = cdrflow("test", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["failed"] == 0 and report["summary"]["passed"] > 20
    assert report["unreached_rules"] == []


def test_text_summary_line_and_verbose():
    result = cdrflow("test", "-v")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert lines[-1].endswith(" passed, 0 failed")
    assert any(line.startswith("PASS ") for line in lines)


def copy_config(tmp_path):
    for name in ("rules", "mappings", "samples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def test_a_failing_case_is_reported_and_exits_1(tmp_path):
    root = copy_config(tmp_path)
    (root / "rules/tests/extra.yaml").write_text(
        "kind: tests\ntests:\n"
        "  - name: wrong expectation\n"
        "    cdr: {file: ../../samples/cdrs/adhoc-de-berlin-ac-001.json}\n"
        "    expect: {stream: msp}\n")
    result = cdrflow("test", "--config", str(root), str(root / "rules/tests/extra.yaml"))
    assert result.returncode == 1
    assert "FAIL wrong expectation" in result.stdout
    assert "stream: expected 'msp', got 'adhoc'" in result.stdout
    assert "Rules no test reaches:" in result.stdout
    assert result.stdout.strip().endswith("0 passed, 1 failed")


def test_run_pattern_and_zero_tests_fails():
    result = cdrflow("test", "--run", "no-such-test-name-xyz")
    assert result.returncode == 1
    assert "no tests found" in result.stderr


def test_facts_override_and_inline_cdr(tmp_path):
    root = copy_config(tmp_path)
    cdr = json.loads((ROOT / "samples/cdrs/adhoc-de-berlin-ac-001.json").read_text())
    (root / "rules/tests/extra.yaml").write_text(
        "kind: tests\ntests:\n"
        "  - name: payment not captured\n"
        f"    cdr: {{inline: {json.dumps(cdr)}}}\n"
        "    facts: {psp: {captured: false, status: authorised}}\n"
        "    expect: {exception: AD_HOC_PAYMENT_NOT_CAPTURED}\n")
    result = cdrflow("test", "--config", str(root), "-v", str(root / "rules/tests/extra.yaml"))
    assert result.returncode == 0, result.stdout
