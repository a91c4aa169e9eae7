"""engine/pricing/price.py: tariff choice, time zone, FLAT, VAT, errors as data, warnings."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pricing_helpers import amounts, by_dimension, load, local, make_cdr, minutes, spec_tariff

from engine.pricing import PricingError, price_cdr, price_periods, parse_tariff, try_price_cdr
from engine.pricing.timezone import load_zone

START = local("2026-06-01 10:00")


def simple(price="0.25", vat=D(19), kind="ENERGY", tid="S", step=1, restrictions=None):
    pc = {"type": kind, "price": D(price), "step_size": D(step)}
    if vat is not None:
        pc["vat"] = vat
    el = {"price_components": [pc]}
    if restrictions:
        el["restrictions"] = restrictions
    return {"id": tid, "currency": "EUR", "elements": [el]}


def test_no_tariff_is_an_error_as_data():
    cdr = make_cdr(START, [(0, {"ENERGY": 1, "TIME": 1})])
    result, problems = try_price_cdr(cdr)
    assert result is None and [p.code for p in problems] == ["NO_TARIFF"]
    with pytest.raises(PricingError) as exc:
        price_cdr(cdr)
    assert exc.value.problems[0].code == "NO_TARIFF"


def test_no_periods_and_no_times_are_errors():
    cdr = make_cdr(START, [(0, {"ENERGY": 1, "TIME": 1})])
    assert try_price_cdr({**cdr, "charging_periods": []}, simple())[1][0].code == "NO_CHARGING_PERIODS"
    assert try_price_cdr({**cdr, "start_date_time": None}, simple())[1][0].code == "MISSING_SESSION_TIMES"
    assert try_price_cdr(cdr, {"id": "E", "elements": []})[1][-1].code == "NO_TARIFF"


def test_embedded_tariff_chosen_by_the_periods_tariff_id():
    a, b = simple("0.10", tid="A"), simple("0.50", tid="B")
    cdr = make_cdr(START, [(0, {"ENERGY": 10, "TIME": 1})], tariffs=[a, b], tariff_id="B")
    r = price_cdr(cdr)
    assert r.tariff_id == "B" and r.total_cost.excl_vat == D("5.00")
    assert not [w for w in r.warnings if w.code == "TARIFF_ID_MISMATCH"]
    r = price_cdr(make_cdr(START, [(0, {"ENERGY": 10, "TIME": 1})], tariffs=[a, b]))
    assert r.tariff_id == "A"  # no tariff_id on the periods: the first


def test_explicit_tariff_wins_and_other_ids_are_reported():
    cdr = make_cdr(START, [(0, {"ENERGY": 10, "TIME": 1})], tariffs=[simple("0.10", tid="A")], tariff_id="A")
    r = price_cdr(cdr, simple("0.30", tid="X"))
    assert r.tariff_id == "X" and r.total_cost.excl_vat == D("3.00")
    assert [w.code for w in r.warnings] == ["TARIFF_ID_MISMATCH"]


def test_time_zone_precedence_changes_the_price():
    """Night rate 22:00-06:00 local; a session at 19:00-20:00 UTC is night in Helsinki (UTC+3),
    day in London (UTC+1)."""
    tariff = {"id": "N", "currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": D("0.10"), "step_size": D(1)}],
         "restrictions": {"start_time": "22:00", "end_time": "06:00"}},
        {"price_components": [{"type": "ENERGY", "price": D("0.50"), "step_size": D(1)}]}]}
    from datetime import datetime, timezone
    start = datetime(2026, 6, 1, 19, tzinfo=timezone.utc)
    cdr = make_cdr(start, [(0, {"ENERGY": 10, "TIME": 1})], country="FIN")
    assert price_cdr(cdr, tariff).total_cost.excl_vat == D("1.00")
    assert price_cdr(cdr, tariff, location_tz="Europe/London").total_cost.excl_vat == D("5.00")
    r = price_cdr(cdr, tariff, tz="Europe/Helsinki", location_tz="Europe/London")
    assert (r.total_cost.excl_vat, r.time_zone_source) == (D("1.00"), "override")
    no_country = price_cdr(make_cdr(start, [(0, {"ENERGY": 10, "TIME": 1})], country=None), tariff)
    assert no_country.time_zone == "UTC" and "TIME_ZONE_DEFAULTED" in [w.code for w in no_country.warnings]


def test_absent_vat_is_not_zero_vat():
    cdr = make_cdr(START, [(0, {"ENERGY": 10, "TIME": 1})])
    none = price_cdr(cdr, simple(vat=None))
    zero = price_cdr(cdr, simple(vat=D("0.0")))
    assert amounts(none) == amounts(zero) == ("2.50", "2.50")
    assert none.components[0].vat_rate is None and zero.components[0].vat_rate == D(0)
    assert none.to_json()["vat"] == [{"rate": None, "net": "2.50", "vat": "0.00"}]
    assert zero.to_json()["vat"] == [{"rate": "0", "net": "2.50", "vat": "0.00"}]


def test_vat_per_rate_on_summed_nets():
    """Three lines of 0.05 at 19 %: per line 0.0095 -> 0.01 each (0.03); per rate on 0.15 ->
    0.0285 -> 0.03. Lines share the rate's VAT so that they add up to the total."""
    tariff = {"id": "V", "currency": "EUR", "elements": [
        {"price_components": [{"type": "FLAT", "price": D("0.05"), "vat": D(19), "step_size": D(1)},
                              {"type": "TIME", "price": D("0.05"), "vat": D(19), "step_size": D(1)},
                              {"type": "PARKING_TIME", "price": D("0.05"), "vat": D(19), "step_size": D(1)}]}]}
    cdr = make_cdr(START, [(0, {"TIME": 1}), (60, {"PARKING_TIME": 1})])
    r = price_cdr(cdr, tariff)
    assert amounts(r) == ("0.15", "0.18")
    assert [(v.net, v.vat) for v in r.vat] == [(D("0.15"), D("0.03"))]
    assert sum(c.incl_vat for c in r.components) == D("0.18")


def test_flat_fee_judged_at_session_start():
    """FLAT is charged once, from the first element whose restrictions hold at the start."""
    tariff = {"id": "F", "currency": "EUR", "elements": [
        {"price_components": [{"type": "FLAT", "price": D("1.00"), "step_size": D(1)}],
         "restrictions": {"start_time": "18:00", "end_time": "22:00"}},
        {"price_components": [{"type": "FLAT", "price": D("0.50"), "step_size": D(1)},
                              {"type": "ENERGY", "price": D("0.30"), "step_size": D(1)}]}]}
    evening = price_cdr(make_cdr(local("2026-06-01 17:30"), [(0, {"ENERGY": 10, "TIME": 2})]), tariff)
    assert [(c.dimension, c.element_index, c.excl_vat) for c in evening.components] == [
        ("FLAT", 1, D("0.50")), ("ENERGY", 1, D("3.00"))]
    night = price_cdr(make_cdr(local("2026-06-01 18:00"), [(0, {"ENERGY": 10, "TIME": 2})]), tariff)
    assert by_dimension(night, "FLAT")[0].excl_vat == D("1.00") and len(by_dimension(night, "FLAT")) == 1


def test_missing_current_data_is_reported():
    cdr = make_cdr(START, [(0, {"ENERGY": 10, "TIME": 2})])
    r = price_cdr(cdr, spec_tariff("tariff_4_complex"))
    assert "RESTRICTION_DATA_MISSING" in [w.code for w in r.warnings]
    assert by_dimension(r, "TIME") == []  # no current known: no current-restricted TIME element applies


def test_unsorted_periods_and_zero_length_periods():
    cdr = make_cdr(START, [(60, {"ENERGY": 2, "TIME": 1}), (0, {"ENERGY": 3, "TIME": 1})])
    r = price_cdr(cdr, simple())
    assert "PERIODS_NOT_CHRONOLOGICAL" in [w.code for w in r.warnings]
    assert r.total_cost.excl_vat == D("1.25")
    instant = make_cdr(START, [(0, {"ENERGY": 2})], end=START)
    assert price_cdr(instant, simple()).total_cost.excl_vat == D("0.50")


def test_float_prices_are_refused_not_guessed():
    tariff = {"id": "F", "currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.25, "step_size": D(1)},
                              {"type": "TIME", "price": D(2), "step_size": D(60)}]}]}
    r = price_cdr(make_cdr(START, [(0, {"ENERGY": 10, "TIME": 1})]), tariff)
    assert [w.code for w in r.warnings] == ["INVALID_TARIFF"]
    assert [c.dimension for c in r.components] == ["TIME"]


def test_price_periods_lower_level():
    tariff, _ = parse_tariff(spec_tariff("tariff_14_step_size"))
    cdr = make_cdr(local("2026-06-01 16:55"), [(0, {"TIME": D(10) / 60}), (10, {"PARKING_TIME": D(2) / 60})])
    session = price_periods(cdr, tariff, load_zone("Europe/Berlin"))
    assert [(s.dimension, s.element.index, s.segment.local_start.strftime("%H:%M")) for s in session.slices] == [
        ("TIME", 0, "16:55"), ("TIME", 1, "17:00"), ("PARKING_TIME", 1, "17:05")]
    assert session.unpriced == {}


def test_unpriced_volume_is_free_and_listed():
    tariff, _ = parse_tariff(spec_tariff("tariff_14_step_size"))
    cdr = make_cdr(local("2026-06-01 19:50"), [(0, {"PARKING_TIME": D(20) / 60})])
    session = price_periods(cdr, tariff, load_zone("Europe/Berlin"))
    assert minutes(session.unpriced["PARKING_TIME"]) == 10


def test_credit_like_negative_totals_are_compared_not_rejected():
    cdr = load("ocpi-spec_2.2.1-bugfixes_cdr_example.json")
    r = price_cdr({**cdr, "total_cost": {"excl_vat": D("-4.00"), "incl_vat": D("-4.40")}})
    assert r.difference.excl_vat == D("8.00") and not r.difference.within_tolerance


def test_min_price_without_incl_vat_keeps_the_sessions_vat_ratio():
    tariff = {**simple("0.25", vat=D(10)), "min_price": {"excl_vat": D("1.00")}}
    r = price_cdr(make_cdr(START, [(0, {"ENERGY": 2, "TIME": 1})]), tariff)
    assert amounts(r) == ("1.00", "1.10")
    assert r.adjustment.kind == "MIN_PRICE" and r.adjustment.incl_vat == D("0.55")


def test_min_and_max_clamp_excl_and_incl_independently():
    """mod_tariffs min_price/max_price notes: both rules apply, each on its own figure."""
    tariff = {"id": "M", "currency": "EUR", "max_price": {"excl_vat": D("10.00"), "incl_vat": D("11.50")},
              "elements": [{"price_components": [
                  {"type": "ENERGY", "price": D("0.25"), "vat": D(20), "step_size": D(1)},
                  {"type": "FLAT", "price": D("0.50"), "vat": D(0), "step_size": D(1)}]}]}
    r = price_cdr(make_cdr(START, [(0, {"ENERGY": D("38.4"), "TIME": 1})]), tariff)
    # lines 9.60 (+1.92) and 0.50 (+0): 10.10 / 12.02 -> both capped
    assert amounts(r) == ("10.00", "11.50")
    r = price_cdr(make_cdr(START, [(0, {"ENERGY": D("36.4"), "TIME": 1})]), tariff)
    # 9.60 excl is under the cap, 9.10 + 1.82 + 0.50 = 11.42 incl too; with 37.6 kWh only incl is capped
    assert r.adjustment is None
    r = price_cdr(make_cdr(START, [(0, {"ENERGY": D("37.6"), "TIME": 1})]), tariff)
    assert amounts(r) == ("9.90", "11.50") and r.adjustment.excl_vat == 0


def test_select_tariff_paths():
    from engine.pricing import select_tariff

    a, b = simple(tid="A"), simple(tid="B")
    cdr = make_cdr(START, [(0, {"ENERGY": 1})], tariffs=[a, b], tariff_id="B")
    assert select_tariff(cdr) == (b, "tariffs[1]")
    assert select_tariff({**cdr, "tariffs": []}) == (None, "tariffs")


def test_idle_periods_draw_no_power():
    """A parking period (no ENERGY, no TIME) draws 0 kW: a max_power-restricted parking element
    applies, a min_power one does not, and no data is reported missing."""
    tariff = {"id": "I", "currency": "EUR", "elements": [
        {"price_components": [{"type": "PARKING_TIME", "price": D("9.00"), "step_size": D(1)}],
         "restrictions": {"min_power": D(1)}},
        {"price_components": [{"type": "PARKING_TIME", "price": D("3.00"), "step_size": D(1)}],
         "restrictions": {"max_power": D(1)}}]}
    r = price_cdr(make_cdr(START, [(0, {"ENERGY": 5, "TIME": 1}), (60, {"PARKING_TIME": 1})]), tariff)
    assert [(c.element_index, c.excl_vat) for c in r.components] == [(1, D("3.00"))]
    assert r.warnings == ()


def test_inputs_are_not_modified():
    import copy

    cdr = load("ocpi-tariffs-py_2.2.1_codeberg_issue_228_dynamic_hourly__cdr.json")
    before = copy.deepcopy(cdr)
    price_cdr(cdr)
    assert cdr == before


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**6,
                                      max_value=10**6),
                          st.sampled_from([D("-0"), D("0E+3"), D("1E+20"), D("-123456789012345678901234567890.125")])),
                min_size=4, max_size=4))
def test_a_tariff_without_limits_returns_the_totals_as_the_general_clamp_would(values):
    """_clamp's short way: the general steps would round the (already rounded) total again."""
    from engine.money import round_amount
    from engine.pricing.price import _clamp
    from engine.pricing.result import Amount
    total = Amount(round_amount(values[0]), round_amount(values[1]))
    exact = Amount(values[2], values[3])
    problems = []
    clamped, adjustment, exact_clamped = _clamp(total, exact, parse_tariff(simple())[0], problems)
    general = Amount(round_amount(total.excl_vat), round_amount(total.incl_vat))
    assert repr((clamped, adjustment, exact_clamped, problems)) == repr((general, None, exact, []))
