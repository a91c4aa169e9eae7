"""``cdrflow price`` (engine/commands/price.py), end to end through engine.intake."""

from __future__ import annotations

import argparse
import io
import json

from pricing_helpers import DATA

from engine.commands import price as price_command

CDR_EXAMPLE = DATA / "ocpi-spec_2.2.1-bugfixes_cdr_example.json"
CODEBERG = DATA / "ocpi-tariffs-py_2.2.1_codeberg_issue_228_dynamic_hourly__cdr.json"

MINIMAL = {
    "start_date_time": "2026-06-01T08:00:00Z",
    "end_date_time": "2026-06-01T10:30:00Z",
    "currency": "EUR",
    "cdr_location": {"country": "DEU"},
    "charging_periods": [{"start_date_time": "2026-06-01T08:00:00Z",
                          "dimensions": [{"type": "ENERGY", "volume": 20}, {"type": "TIME", "volume": 2.5}]}],
    "total_cost": {"excl_vat": 5.00, "incl_vat": 5.50},
}


def cli(*argv, stdin: str | None = None, capsys=None, monkeypatch=None) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="cdrflow")
    price_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["price", *map(str, argv)])
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_spec_cdr_example_json(capsys):
    code, out, _ = cli(CDR_EXAMPLE, capsys=capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["cdr_id"] == "12345"
    assert doc["total_cost"] == {"excl_vat": "4.00", "incl_vat": "4.40"}
    assert doc["components"][0]["billed_volume"] == "2"
    assert doc["difference"]["within_tolerance"] is True


def test_codeberg_text_table(capsys):
    code, out, _ = cli("--format", "text", CODEBERG, capsys=capsys)
    assert code == 0
    assert "ENERGY     14" in out and "ENERGY     15" in out
    assert "exact (unrounded)   1.83702  2.2227942" in out
    assert "difference             0.01       0.01" in out
    assert "TOTAL_COST_DIFFERENCE" in out


def test_minimal_cdr_with_a_tariff_file(tmp_path, capsys):
    cdr = tmp_path / "cdr.json"
    cdr.write_text(json.dumps(MINIMAL))
    code, out, err = cli("--tariff", DATA / "ocpi-spec_2.2.1-bugfixes_tariff_8_simple_025kwh.json", cdr,
                         capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["total_cost"] == {"excl_vat": "5.00", "incl_vat": "5.50"}
    assert doc["difference"]["excl_vat"] == "0.00"


def test_tz_override(tmp_path, capsys):
    code, out, _ = cli("--tz", "Asia/Tokyo", CDR_EXAMPLE, capsys=capsys)
    doc = json.loads(out)
    assert code == 0 and doc["time_zone"] == "Asia/Tokyo" and doc["time_zone_source"] == "override"


def test_no_tariff_cannot_be_priced(tmp_path, capsys):
    cdr = tmp_path / "cdr.json"
    cdr.write_text(json.dumps(MINIMAL))
    code, out, err = cli(cdr, capsys=capsys)
    assert code == 1 and out == ""
    assert "NO_TARIFF" in err


def test_unreadable_cdr_is_1(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = cli(bad, capsys=capsys)
    assert code == 1 and "cannot be read" in err


def test_usage_errors_are_2(tmp_path, capsys):
    assert cli("--tz", "Mars/Olympus", CDR_EXAMPLE, capsys=capsys)[0] == 2
    assert cli(tmp_path / "missing.json", capsys=capsys)[0] == 2
    assert cli("--tariff", tmp_path / "missing.json", CDR_EXAMPLE, capsys=capsys)[0] == 2
    assert cli("--tolerance", "-1", CDR_EXAMPLE, capsys=capsys)[0] == 2


def test_stdin(capsys, monkeypatch):
    code, out, _ = cli("-", stdin=CDR_EXAMPLE.read_text(), capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["total_cost"]["incl_vat"] == "4.40"


def test_registered_in_the_cdrflow_cli(capsys):
    from engine.cli import main

    assert main(["price", str(CDR_EXAMPLE), "--format", "text"]) == 0
    assert "TOTAL                  4.00      4.40" in capsys.readouterr().out


def test_numbers_too_large_to_price_are_named_not_a_traceback(tmp_path, capsys):
    """A volume of 1E+29 hours cannot be quantized at 34 digits: the field is named, exit 1."""
    text = CDR_EXAMPLE.read_text()
    data = json.loads(text)
    data["charging_periods"][0]["dimensions"][0]["volume"] = 10 ** 29
    cdr = tmp_path / "huge.json"
    cdr.write_text(json.dumps(data))
    code, out, err = cli(cdr, capsys=capsys)
    assert code == 1 and out == ""
    assert "NUMBER_OUT_OF_RANGE" in err and "charging_periods[0].dimensions[0].volume" in err
    assert "Traceback" not in err
