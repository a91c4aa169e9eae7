"""engine/pricing/result.py: JSON rendering (amounts as strings) and negation."""

from __future__ import annotations

import json
from decimal import Decimal as D

from pricing_helpers import load, spec_tariff, local, make_cdr

from engine.pricing import price_cdr

KEYS = ["total_cost", "total_energy_cost", "total_time_cost", "total_parking_cost", "total_fixed_cost",
        "total_reservation_cost", "components", "warnings", "difference"]
COMPONENT_KEYS = {"dimension", "volume", "billed_volume", "unit_price", "step_size", "excl_vat", "incl_vat",
                  "vat_rate", "element_index", "tariff_id", "period_start"}


def test_to_json_shape_and_strings():
    out = price_cdr(load("ocpi-spec_2.2.1-bugfixes_cdr_example.json")).to_json()
    assert list(out)[:len(KEYS)] == KEYS
    assert out["total_cost"] == {"excl_vat": "4.00", "incl_vat": "4.40"}
    assert out["total_time_cost"] == {"excl_vat": "4.00", "incl_vat": "4.40"}
    assert out["total_energy_cost"] is None and out["total_reservation_cost"] is None
    (c,) = out["components"]
    assert COMPONENT_KEYS <= set(c)
    assert c == {**c, "dimension": "TIME", "volume": "1.973", "billed_volume": "2", "unit_price": "2.00",
                 "step_size": 300, "excl_vat": "4.00", "incl_vat": "4.40", "vat_rate": "10",
                 "element_index": 0, "tariff_id": "12", "period_start": "2015-06-29T21:39:09Z"}
    assert out["difference"]["excl_vat"] == "0.00" and out["difference"]["cdr_total"]["incl_vat"] == "4.40"
    json.dumps(out)  # plain JSON: no Decimal, no datetime left


def test_negated_flips_every_amount_once():
    r = price_cdr(make_cdr(local("2019-06-03 10:00"), [(0, {"ENERGY": 50, "TIME": 1})]),
                  spec_tariff("tariff_6_025kwh_start_max_price"))
    n = r.negated()
    assert (n.total_cost.excl_vat, n.total_cost.incl_vat) == (D("-10.00"), D("-11.00"))
    assert n.total_energy_cost.excl_vat == -r.total_energy_cost.excl_vat
    assert [c.excl_vat for c in n.components] == [-c.excl_vat for c in r.components]
    assert [c.volume for c in n.components] == [c.volume for c in r.components]
    assert n.adjustment.excl_vat == D("3.00") and n.vat[0].net == -r.vat[0].net
    assert n.exact_total_cost.excl_vat == -r.exact_total_cost.excl_vat
    assert n.negative and not n.negated().negative
    assert n.negated() == r.__class__(**{**r.__dict__, "difference": None})
    assert n.to_json()["total_cost"] == {"excl_vat": "-10.00", "incl_vat": "-11.00"}


def test_unit_price_keeps_its_digits():
    tariff = {"id": "P", "currency": "EUR", "elements": [{"price_components": [
        {"type": "ENERGY", "price": D("0.123456"), "step_size": D(1)}]}]}
    out = price_cdr(make_cdr(local("2026-06-01 10:00"), [(0, {"ENERGY": 10, "TIME": 1})]), tariff).to_json()
    assert out["components"][0]["unit_price"] == "0.123456"
    assert out["total_cost"]["excl_vat"] == "1.23"
