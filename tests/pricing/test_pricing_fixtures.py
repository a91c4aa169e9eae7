"""Real and official CDRs (tests/data/tariffs, see SOURCES.md there)."""

from __future__ import annotations

import json
from decimal import Decimal as D

from pricing_helpers import amounts, load, spec_tariff

from engine.pricing import price_cdr


def test_spec_cdr_example_2_2_1():
    """mod_cdrs "Example of a CDR" (2.2.1 bugfix branch): TIME 1.973 h at 2 EUR/h, step 300 s ->
    2 h -> 4.00 / 4.40, equal to the CDR's own total; Gent -> Europe/Brussels from BEL."""
    cdr = load("ocpi-spec_2.2.1-bugfixes_cdr_example.json")
    r = price_cdr(cdr)
    assert amounts(r) == ("4.00", "4.40")
    assert r.total_time_cost.excl_vat == D("4.00") and r.total_time_cost.incl_vat == D("4.40")
    (time,) = r.components
    assert time.volume == D("1.973") and time.billed_volume == D("2")
    assert r.time_zone == "Europe/Brussels" and r.time_zone_source == "country"
    assert r.difference.excl_vat == 0 and r.difference.incl_vat == 0 and r.difference.within_tolerance
    assert not [w for w in r.warnings if w.severity == "warning"]
    assert r.to_json()["total_cost"] == {"excl_vat": "4.00", "incl_vat": "4.40"}


def test_spec_cdr_example_with_put_example_tariff():
    """The tariff of mod_tariffs "Example: New Tariff € 2 per hour" (PUT body) is the same
    TIME 2.00/h, step 300 tariff: given explicitly it prices the example CDR the same."""
    cdr = load("ocpi-spec_2.2.1-bugfixes_cdr_example.json")
    r = price_cdr(cdr, spec_tariff("tariff_put_example"))
    assert amounts(r) == ("4.00", "4.40")
    assert r.tariff_id == "12"


def test_codeberg_228_dynamic_hourly():
    """Real NL CDR with 48 hourly ENERGY elements: 7.293 kWh at 14:00-15:00 local (0.22) and
    0.969 kWh at 15:00-16:00 (0.24), 21 % VAT. Exact: 1.83702 / 2.2227942 -> 1.84 / 2.22, one
    cent above the CPO's 1.83 / 2.21: a finding within tolerance, not an error. Our own billed
    total rounds each line first (1.60 + 0.23) and so agrees with the CPO."""
    cdr = load("ocpi-tariffs-py_2.2.1_codeberg_issue_228_dynamic_hourly__cdr.json")
    r = price_cdr(cdr)
    assert r.time_zone == "Europe/Amsterdam"
    assert [(c.element_index, c.volume, c.unit_price) for c in r.components] == [
        (14, D("7.293"), D("0.22")), (15, D("0.969"), D("0.24"))]
    assert r.exact_total_cost.excl_vat == D("1.83702")
    assert r.exact_total_cost.incl_vat == D("2.2227942")
    d = r.difference
    assert (d.recomputed.excl_vat, d.recomputed.incl_vat) == (D("1.84"), D("2.22"))
    assert (d.cdr_excl_vat, d.cdr_incl_vat) == (D("1.83"), D("2.21"))
    assert (d.excl_vat, d.incl_vat) == (D("0.01"), D("0.01"))
    assert d.within_tolerance
    assert amounts(r) == ("1.83", "2.21")
    assert (d.billed_excl_vat, d.billed_incl_vat) == (D("0.00"), D("0.00"))
    codes = {w.code: w for w in r.warnings}
    assert codes["TOTAL_COST_DIFFERENCE"].severity == "info"
    assert "PERIOD_OUTSIDE_SESSION" in codes  # periods aligned to the UTC hour, before the start
    out = r.to_json()["difference"]
    assert out["excl_vat"] == "0.01" and out["incl_vat"] == "0.01" and out["within_tolerance"] is True
    assert out["cdr_total"] == {"excl_vat": "1.83", "incl_vat": "2.21"}
    json.dumps(r.to_json())


def test_codeberg_228_with_zero_tolerance_is_a_mismatch():
    cdr = load("ocpi-tariffs-py_2.2.1_codeberg_issue_228_dynamic_hourly__cdr.json")
    r = price_cdr(cdr, tolerance=D("0"))
    # the billed comparison is exact (both round per line), so the CDR is still explained
    assert r.difference.within_tolerance
    r2 = price_cdr({**cdr, "total_cost": {"excl_vat": D("1.80"), "incl_vat": D("2.18")}})
    assert not r2.difference.within_tolerance
    assert [w.severity for w in r2.warnings if w.code == "TOTAL_COST_MISMATCH"] == ["warning"]


def test_ocn_tools_quirks():
    """ocn-tools transcription: tariff in CHF for a EUR CDR, VAT 0.077 given as a fraction,
    alpha-2 country "DE", incl_vat 0.00 < excl_vat 0.45: all reported, none fatal."""
    cdr = load("ocn-tools_2.2_cdr_12345_transcribed_from_ts.json")
    tariff = load("ocn-tools_2.2_tariff_1_transcribed_from_ts.json")
    r = price_cdr(cdr, tariff)
    codes = [w.code for w in r.warnings]
    assert "CURRENCY_MISMATCH" in codes and "VAT_LOOKS_LIKE_FRACTION" in codes
    assert "TOTAL_COST_MISMATCH" in codes
    assert r.time_zone == "Europe/Berlin"
    # FLAT only (no TIME component); VAT used as given: 0.077 %
    assert amounts(r) == ("0.50", "0.50")
    assert r.exact_total_cost.incl_vat == D("0.500385")
