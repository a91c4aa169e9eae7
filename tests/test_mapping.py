from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from engine.config.yamlload import load_yaml
from engine.mapping import compile_mapping, expression_paths

BERLIN = ZoneInfo("Europe/Berlin")

DOC = """\
kind: mapping
stream: msp
fields:
  invoice.line_item.id: {path: cdr.session_id, default: {path: cdr.id}}
  charge.quantity: {path: cdr.total_energy, round: 3}
  billing_period: {path: cdr.start_date_time, period: month}
  quarter: {path: cdr.start_date_time, period: quarter}
  local_day: {path: cdr.start_date_time, format: "%d.%m.%Y %H:%M"}
  reference: {concat: [{path: cdr.country_code}, {const: "*"}, {path: cdr.id}]}
  amount: {path: cdr.total_cost.excl_vat, round: 2}
  absent: {path: cdr.nope}
  constant: {const: kWh}
"""

CDR = {
    "id": "CDR-1", "country_code": "DE", "total_energy": Decimal("15.3425"),
    "start_date_time": datetime(2026, 10, 31, 23, 30, tzinfo=timezone.utc),
    "total_cost": {"excl_vat": Decimal("4.005")},
}


def mapping():
    data, problems = load_yaml(DOC, "m.yaml")
    assert problems == []
    return compile_mapping(data, "m.yaml")


def test_maps_nested_targets_with_defaults_rounding_and_periods():
    out = mapping().apply({"cdr": CDR, "facts": {}}, BERLIN)
    assert out["invoice"]["line_item"]["id"] == "CDR-1"  # session_id missing -> default
    assert out["charge"]["quantity"] == Decimal("15.343")  # half up
    # 23:30 UTC on 31 Oct is 00:30 on 1 Nov in Berlin: the billing period is local.
    assert out["billing_period"] == "2026-11"
    assert out["quarter"] == "2026-Q4"
    assert out["local_day"] == "01.11.2026 00:30"
    assert out["reference"] == "DE*CDR-1"
    assert out["amount"] == Decimal("4.01")
    assert out["absent"] is None
    assert out["constant"] == "kWh"


def test_expression_paths_lists_every_source():
    data, _ = load_yaml(DOC, "m.yaml")
    assert expression_paths(data["fields"]["invoice.line_item.id"]) == ["cdr.session_id", "cdr.id"]
