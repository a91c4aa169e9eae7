"""``cdrflow plan``: what a config change does to a corpus (exit 0 same, 2 changes, 1 error)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from runcli import ROOT, cdrflow


@pytest.fixture
def repo(tmp_path):
    for name in ("rules", "mappings", "samples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("-c", "user.email=t@example.org", "-c", "user.name=t", "add", ".")
    git("-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "base")
    return tmp_path


def test_no_change_exits_0(repo):
    result = cdrflow("plan", "--config", str(repo), "--corpus", str(repo / "samples/cdrs"))
    assert result.returncode == 0, result.stderr
    assert "Plan: 0 of" in result.stdout


def test_a_rule_change_moves_cdrs_and_exits_2(repo):
    rules = repo / "rules/classification.yaml"
    text = rules.read_text()
    # Ad-hoc sessions whose payment is only authorised are no longer an exception: the rule
    # that sends them to the queue is disabled by a condition that never holds.
    rules.write_text(text.replace("reason: AD_HOC_PAYMENT_NOT_CAPTURED", "reason: AD_HOC_PAYMENT_PENDING"))
    result = cdrflow("plan", "--config", str(repo), "--corpus", str(repo / "samples/cdrs"), "--format", "json")
    assert result.returncode == 2, result.stderr
    plan = json.loads(result.stdout)
    moves = [g for g in plan["groups"] if g["kind"] == "stream"]
    assert moves and moves[0]["from"] == "exception:AD_HOC_PAYMENT_NOT_CAPTURED"
    assert moves[0]["to"] == "exception:AD_HOC_PAYMENT_PENDING"
    assert moves[0]["examples"][0]["cdr_id"]
    assert plan["summary"]["changed"] >= 1
    text_result = cdrflow("plan", "--config", str(repo), "--corpus", str(repo / "samples/cdrs"))
    assert "exception:AD_HOC_PAYMENT_NOT_CAPTURED -> exception:AD_HOC_PAYMENT_PENDING" in text_result.stdout
    assert text_result.stdout.strip().splitlines()[-1].startswith("Plan: ")


def test_unknown_ref_exits_1(repo):
    result = cdrflow("plan", "--config", str(repo), "--base", "no-such-ref")
    assert result.returncode == 1
    assert "unknown git ref" in result.stderr
