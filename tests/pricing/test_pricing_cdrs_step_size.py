"""The examples of the step_size section of mod_cdrs.asciidoc (OCPI 2.2.1 bugfix branch),
transcribed as sessions with tariffs built in test code (the section gives prose, no JSON)."""

from __future__ import annotations

from decimal import Decimal as D

from pricing_helpers import by_dimension, hours, local, make_cdr, minutes

from engine.pricing import price_cdr

START = local("2026-06-02 16:00")  # a Tuesday


def tariff(*elements):
    return {"id": "T", "currency": "EUR", "elements": list(elements)}


def pc(kind, price, step, vat=None):
    out = {"type": kind, "price": D(price), "step_size": D(step)}
    if vat is not None:
        out["vat"] = D(vat)
    return out


def test_time_then_parking_only_parking_is_rounded():
    """mod_cdrs step_size: step 5 min for TIME and PARKING_TIME; 21 min charging then 7 min
    parking: charging billed on 21 min (not 25), parking on 10 min."""
    t = tariff({"price_components": [pc("TIME", "1.00", 300), pc("PARKING_TIME", "2.00", 300)]})
    cdr = make_cdr(START, [(0, {"ENERGY": 3, "TIME": hours(21)}), (21, {"PARKING_TIME": hours(7)})])
    r = price_cdr(cdr, t)
    (time,) = by_dimension(r, "TIME")
    (parking,) = by_dimension(r, "PARKING_TIME")
    assert minutes(time.billed_volume) == 21
    assert minutes(parking.billed_volume) == 10


def test_energy_total_rounded_once_across_elements():
    """mod_cdrs step_size: 0.20/kWh before 17:00, 0.27 after, both step 500 Wh; 4.3 kWh before
    and 1.1 kWh after -> 5.4 -> 5.5 kWh total, i.e. 1.2 kWh billed after 17:00 (not 1.5)."""
    t = tariff({"price_components": [pc("ENERGY", "0.20", 500)], "restrictions": {"end_time": "17:00"}},
               {"price_components": [pc("ENERGY", "0.27", 500)]})
    cdr = make_cdr(START, [(0, {"ENERGY": D("4.3"), "TIME": 1}), (60, {"ENERGY": D("1.1"), "TIME": D("0.5")})])
    r = price_cdr(cdr, t)
    before, after = r.components
    assert (before.billed_volume, after.billed_volume) == (D("4.3"), D("1.2"))
    assert (before.excl_vat, after.excl_vat) == (D("0.86"), D("0.32"))
    assert r.exact_total_cost.excl_vat == D("1.184")


def test_energy_split_by_the_engine_inside_one_period():
    """The same session sent as one period 16:00-17:30 with 5.4 kWh: linear consumption puts
    3.6 kWh before 17:00; the total is still rounded once to 5.5 kWh."""
    t = tariff({"price_components": [pc("ENERGY", "0.20", 500)], "restrictions": {"end_time": "17:00"}},
               {"price_components": [pc("ENERGY", "0.27", 500)]})
    r = price_cdr(make_cdr(START, [(0, {"ENERGY": D("5.4"), "TIME": D("1.5")})]), t)
    assert [(c.volume, c.billed_volume) for c in r.components] == [(D("3.6"), D("3.6")), (D("1.8"), D("1.9"))]


def test_time_total_rounded_once_across_elements():
    """mod_cdrs step_size: 5/h before 17:00, 7/h after, step 10 min; 6 min before and 22 min
    after -> 28 -> 30 min total, so 24 min after 17:00 (not 30): 0.50 + 2.80."""
    t = tariff({"price_components": [pc("TIME", "5", 600)], "restrictions": {"end_time": "17:00"}},
               {"price_components": [pc("TIME", "7", 600)]})
    cdr = make_cdr(local("2026-06-02 16:54"), [(0, {"ENERGY": 4, "TIME": hours(28)})])
    r = price_cdr(cdr, t)
    assert [(minutes(c.volume), minutes(c.billed_volume), c.excl_vat) for c in r.components] == [
        (6, 6, D("0.50")), (22, 24, D("2.80"))]


def test_time_and_parking_step_only_on_parking():
    """mod_cdrs step_size: charging 1.00/h, parking 2.00/h, both step 10 min; 21 min charging +
    16 min parking -> parking rounded to 20 min (41 min in all), charging not rounded."""
    t = tariff({"price_components": [pc("TIME", "1.00", 600), pc("PARKING_TIME", "2.00", 600)]})
    cdr = make_cdr(START, [(0, {"ENERGY": 3, "TIME": hours(21)}), (21, {"PARKING_TIME": hours(16)})])
    r = price_cdr(cdr, t)
    (time,) = by_dimension(r, "TIME")
    (parking,) = by_dimension(r, "PARKING_TIME")
    assert (minutes(time.billed_volume), minutes(parking.billed_volume)) == (21, 20)
    assert minutes(time.billed_volume + parking.billed_volume) == 41
    assert (time.excl_vat, parking.excl_vat) == (D("0.35"), D("0.67"))


def test_parking_then_charging_rounds_the_charging_time():
    """The step goes to the last time-based period: when charging comes after parking (a car
    waiting for its slot), the TIME total is rounded, not the parking."""
    t = tariff({"price_components": [pc("TIME", "1.00", 600), pc("PARKING_TIME", "2.00", 600)]})
    cdr = make_cdr(START, [(0, {"PARKING_TIME": hours(16)}), (16, {"ENERGY": 3, "TIME": hours(21)})])
    r = price_cdr(cdr, t)
    (time,) = by_dimension(r, "TIME")
    (parking,) = by_dimension(r, "PARKING_TIME")
    assert (minutes(parking.billed_volume), minutes(time.billed_volume)) == (16, 30)
