"""``cdrflow dry-run`` over the sample corpus, as an analyst runs it."""

from __future__ import annotations

import json

from runcli import ROOT, cdrflow

SAMPLE = "samples/cdrs/adhoc-de-berlin-ac-001.json"


def decisions(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_every_sample_gets_exactly_one_decision_with_the_contract_shape():
    result = cdrflow("dry-run", "samples/cdrs")
    assert result.returncode == 0, result.stderr
    out = decisions(result.stdout)
    files = [p for p in (ROOT / "samples/cdrs").rglob("*") if p.suffix in (".json", ".jsonl")]
    assert len(out) >= len(files) >= 60
    required = {"cdr_id", "stream", "rule", "facts", "billing", "errors", "exception", "config_version"}
    for d in out:
        assert required <= d.keys()
        # Exactly one of: a stream, or an exception with a reason.
        assert (d["stream"] is None) == (d["exception"] is not None), d
        if d["rule"]:
            assert {"id", "file", "line"} <= d["rule"].keys()
    assert {d["stream"] for d in out} >= {"adhoc", "subscription", "msp", None}
    assert len({d["config_version"] for d in out}) == 1


def test_single_file_explains_rule_facts_and_billing():
    result = cdrflow("dry-run", SAMPLE)
    (d,) = decisions(result.stdout)
    assert d["stream"] == "adhoc"
    assert d["rule"]["file"] == "rules/classification.yaml" and d["rule"]["line"] > 0
    assert d["facts"]["psp"]["captured"] is True
    assert d["billing"]["billing_period"].startswith("2026-")
    # Amounts leave the system as strings.
    assert isinstance(d["billing"]["line_item"]["amount"], str)


def test_stdin_and_text_format():
    text = (ROOT / SAMPLE).read_text()
    result = cdrflow("dry-run", "--format", "text", "-", stdin=text)
    assert result.returncode == 0, result.stderr
    assert "adhoc" in result.stdout and "1 CDRs" in result.stdout


def test_bad_input_is_a_decision_with_errors_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    good = (ROOT / SAMPLE).read_text().replace("\n", " ")
    bad.write_text("{not json\n" + good + "\n" + '{"id": 5}\n')
    result = cdrflow("dry-run", str(bad))
    assert result.returncode == 0 and "Traceback" not in result.stderr
    out = decisions(result.stdout)
    assert [d["exception"]["reason"] if d["exception"] else d["stream"] for d in out] == \
        ["INVALID_CDR", "adhoc", "INVALID_CDR"]
    assert out[0]["errors"][0]["code"] == "json.invalid"
    assert any(e["code"] == "schema.required" for e in out[2]["errors"])


def test_broken_config_is_a_usage_error(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "x.yaml").write_text("kind: classification\nrules: [\n")
    result = cdrflow("dry-run", "--config", str(tmp_path), str(ROOT / SAMPLE))
    assert result.returncode == 2
    assert "x.yaml" in result.stderr and "Traceback" not in result.stderr


def test_dry_run_writes_nothing(tmp_path):
    before = sorted(p.name for p in ROOT.iterdir())
    cdrflow("dry-run", SAMPLE)
    assert sorted(p.name for p in ROOT.iterdir()) == before


def test_a_cdr_too_large_to_price_goes_to_the_exception_queue_and_the_batch_goes_on(tmp_path):
    """Found by mutating corpus CDRs: a volume or a tariff price of 1E+30 stopped the whole run."""
    cdr = json.loads((ROOT / SAMPLE).read_text())
    huge_volume = json.loads(json.dumps(cdr))
    huge_volume["charging_periods"][0]["dimensions"][0]["volume"] = 10 ** 30
    huge_price = json.loads(json.dumps(cdr))
    huge_price["tariffs"][0]["elements"][0]["price_components"][0]["price"] = 1e30
    lines = tmp_path / "huge.jsonl"
    lines.write_text("\n".join(json.dumps(d) for d in (huge_volume, huge_price, cdr)) + "\n")
    result = cdrflow("dry-run", str(lines))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    first, second, third = decisions(result.stdout)
    for d, path in ((first, "charging_periods[0].dimensions[0].volume"),
                    (second, "tariffs[0].elements[0].price_components[0].price")):
        assert d["stream"] is None
        assert d["exception"]["reason"] == "PRICING_FAILED" and d["exception"]["code"] == "NUMBER_OUT_OF_RANGE"
        assert d["exception"]["stream"] == "adhoc" and path in d["exception"]["description"]
    assert third["stream"] == "adhoc"
