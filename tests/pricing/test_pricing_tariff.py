"""engine/pricing/tariff.py: parsing and OCPI's first-matching-element rule."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from pricing_helpers import spec_tariff

from engine.pricing import Boundaries, Moment, parse_tariff

BERLIN = ZoneInfo("Europe/Berlin")


def moment(text, **kw):
    return Moment(local=datetime.fromisoformat(text).replace(tzinfo=BERLIN), **kw)


def test_parse_complex_example():
    tariff, problems = parse_tariff(spec_tariff("tariff_4_complex"))
    assert problems == []
    assert tariff.id == "14" and len(tariff.elements) == 6
    assert tariff.elements[1].component("TIME").step_size == 900
    assert tariff.elements[0].component("FLAT").vat == D("15.0")
    assert tariff.boundaries() == Boundaries(frozenset({time(0), time(9), time(18), time(10), time(17)}))


def test_first_matching_element_per_dimension():
    """mod_tariffs Tariff object: the first element with a component for the dimension whose
    restrictions match; dimensions are looked up independently."""
    tariff, _ = parse_tariff(spec_tariff("tariff_4_complex"))
    monday_16a = moment("2026-06-01 10:00", min_current=D(16), max_current=D(16))
    assert tariff.select("TIME", monday_16a)[0].index == 1
    assert tariff.select("FLAT", monday_16a)[0].index == 0
    assert tariff.select("PARKING_TIME", monday_16a)[0].index == 4
    assert tariff.select("ENERGY", monday_16a) is None  # no component: free
    monday_43a = moment("2026-06-01 10:00", min_current=D(43), max_current=D(43))
    assert tariff.select("TIME", monday_43a)[0].index == 2
    sunday_43a = moment("2026-06-07 10:00", min_current=D(43), max_current=D(43))
    assert tariff.select("TIME", sunday_43a)[0].index == 3
    assert tariff.select("PARKING_TIME", sunday_43a) is None  # no Sunday parking element


def test_reservation_candidates():
    tariff, _ = parse_tariff(spec_tariff("tariff_17_reservation_with_expire_fee"))
    assert [e.index for e in tariff.candidates(None)] == [2]
    assert [e.index for e in tariff.candidates("RESERVATION")] == [1]
    assert [e.index for e in tariff.candidates("RESERVATION_EXPIRES")] == [0, 1]


def test_bad_components_are_warnings():
    tariff, problems = parse_tariff({"id": "B", "elements": [{"price_components": [
        {"type": "ENERGY", "price": "abc", "step_size": 1},
        {"type": "TIME", "price": D(1), "step_size": D("0")},
        {"type": "CARBON", "price": D(1), "step_size": 1},
        {"type": "PARKING_TIME", "price": D(1), "vat": D("0.2"), "step_size": D(60)}]}]})
    assert [p.code for p in problems] == ["INVALID_TARIFF", "INVALID_STEP_SIZE", "UNKNOWN_DIMENSION",
                                          "VAT_LOOKS_LIKE_FRACTION"]
    assert problems[1].path == "tariff.elements[0].price_components[1].step_size"
    assert [c.type for c in tariff.elements[0].components] == ["TIME", "PARKING_TIME"]
    assert tariff.elements[0].components[0].step_size == 1


def test_candidates_are_worked_out_once_and_handed_out_as_new_lists():
    tariff, _ = parse_tariff(spec_tariff("tariff_17_reservation_with_expire_fee"))
    for kind in (None, "RESERVATION", "RESERVATION_EXPIRES", "SOMETHING_ELSE"):
        first, second = tariff.candidates(kind), tariff.candidates(kind)
        assert first == second == tariff._candidates(kind) and first is not second
        first.clear()  # a caller's list is its own
        assert tariff.candidates(kind) == tariff._candidates(kind)
    assert tariff == parse_tariff(spec_tariff("tariff_17_reservation_with_expire_fee"))[0]  # the cache is no field


def test_select_for_kind_answers_without_a_moment_only_when_the_kind_decides():
    """select_for_kind: the unrestricted first element is the answer for every moment; an element
    with a restriction in front makes the answer depend on the moment (MOMENT_NEEDED); invalid
    and reservation-only elements are skipped by kind alone. select agrees at every moment."""
    from engine.pricing.tariff import MOMENT_NEEDED

    tariff, _ = parse_tariff({"id": "K", "currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": D("0.2"), "step_size": D(1)}],
         "restrictions": {"start_time": "25:00"}},                      # invalid: never applies
        {"price_components": [{"type": "TIME", "price": D(2), "step_size": D(60)}],
         "restrictions": {"reservation": "RESERVATION"}},               # reservations only
        {"price_components": [{"type": "ENERGY", "price": D("0.3"), "step_size": D(1)},
                              {"type": "PARKING_TIME", "price": D(5), "step_size": D(60)}],
         "restrictions": {"min_duration": D(3600)}},
        {"price_components": [{"type": "ENERGY", "price": D("0.4"), "step_size": D(1)},
                              {"type": "FLAT", "price": D(1), "step_size": D(1)}]},
    ]})
    assert tariff.select_for_kind("ENERGY", None) is MOMENT_NEEDED      # element 2 looks at duration
    assert tariff.select_for_kind("FLAT", None)[0].index == 3           # nothing restricted before it
    assert tariff.select_for_kind("TIME", None) is None                 # only a reservation prices TIME
    assert tariff.select_for_kind("TIME", "RESERVATION")[0].index == 1
    assert tariff.select_for_kind("TIME", "RESERVATION_EXPIRES")[0].index == 1
    for seconds, energy_element, parking in ((D(0), 3, None), (D(3600), 2, 2)):
        m = moment("2026-06-01 10:00", seconds=seconds)
        assert tariff.select("ENERGY", m)[0].index == energy_element
        assert tariff.select("FLAT", m)[0].index == 3
        assert tariff.select("TIME", m) is None
        hit = tariff.select("PARKING_TIME", m)
        assert (hit[0].index if hit else None) == parking


def test_holds_for_kind_matches_holds():
    """Restrictions.holds_for_kind gives holds' answer when the kind alone decides, else None."""
    from engine.pricing import parse_restrictions

    plain, _ = parse_restrictions(None)
    reservation, _ = parse_restrictions({"reservation": "RESERVATION"})
    expires, _ = parse_restrictions({"reservation": "RESERVATION_EXPIRES"})
    timed, _ = parse_restrictions({"start_time": "10:00"})
    broken, _ = parse_restrictions({"min_kwh": "x"})
    for kind in (None, "RESERVATION", "RESERVATION_EXPIRES"):
        m = moment("2026-06-01 11:00", reservation=kind)
        for r in (plain, reservation, expires, broken):
            assert r.holds_for_kind(kind) is r.holds(m)
    assert timed.holds_for_kind(None) is None and timed.holds_for_kind("RESERVATION") is False
