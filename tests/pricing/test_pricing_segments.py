"""engine/pricing/segments.py and the time-of-day rules end to end: midnight wrap, "00:00" as end
of day, DST days (Europe/Berlin 2026-03-29 spring forward, 2026-10-25 fall back), kWh and
duration thresholds inside a period (linear consumption)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from pricing_helpers import by_dimension, local, make_cdr, minutes

from engine.pricing import Boundaries, price_cdr, split_periods
from engine.pricing.segments import offset_changes, wall_clock_instants

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc


def night_day_tariff(night_start="22:00", night_end="06:00"):
    return {"id": "ND", "currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": D("0.20"), "vat": D(19), "step_size": D(1)}],
         "restrictions": {"start_time": night_start, "end_time": night_end}},
        {"price_components": [{"type": "ENERGY", "price": D("0.40"), "vat": D(19), "step_size": D(1)}]},
    ]}


def test_midnight_wrap_on_an_ordinary_night():
    """22:00-06:00 night rate, session 21:00-08:00 local (11 h, 11 kWh, linear): 8 kWh at night."""
    start, end = local("2026-06-01 21:00"), local("2026-06-02 08:00")
    cdr = make_cdr(start, [(0, {"ENERGY": 11, "TIME": 11})], end=end)
    r = price_cdr(cdr, night_day_tariff())
    assert [(c.element_index, c.volume) for c in r.components] == [(1, D(3)), (0, D(8))]
    assert r.total_cost.excl_vat == D("2.80")


def test_spring_forward_day_berlin():
    """2026-03-29 02:00 CET -> 03:00 CEST. 21:00 local (20:00 UTC) to 08:00 local (06:00 UTC)
    is 10 real hours; 22:00-06:00 local is only 7 of them."""
    start, end = local("2026-03-28 21:00"), local("2026-03-29 08:00")
    assert (end - start).total_seconds() == 10 * 3600
    cdr = make_cdr(start, [(0, {"ENERGY": 10, "TIME": 10})], end=end)
    r = price_cdr(cdr, night_day_tariff())
    assert [(c.element_index, c.volume) for c in r.components] == [(1, D(3)), (0, D(7))]
    assert r.total_cost.excl_vat == D("2.60")


def test_fall_back_day_berlin():
    """2026-10-25 03:00 CEST -> 02:00 CET. 21:00 local (19:00 UTC) to 08:00 local (07:00 UTC)
    is 12 real hours; 22:00-06:00 local is 9 of them."""
    start, end = local("2026-10-24 21:00"), local("2026-10-25 08:00")
    assert (end - start).total_seconds() == 12 * 3600
    cdr = make_cdr(start, [(0, {"ENERGY": 12, "TIME": 12})], end=end)
    r = price_cdr(cdr, night_day_tariff())
    assert [(c.element_index, c.volume) for c in r.components] == [(1, D(3)), (0, D(9))]
    assert r.total_cost.excl_vat == D("3.00")


def test_window_inside_the_repeated_hour_counts_twice():
    """02:30-03:00 local happens twice on 2026-10-25 (CEST, then CET): one hour in all."""
    start, end = local("2026-10-25 00:00"), local("2026-10-25 05:00")
    cdr = make_cdr(start, [(0, {"ENERGY": 6, "TIME": 6})], end=end)  # 6 real hours
    r = price_cdr(cdr, night_day_tariff("02:30", "03:00"))
    night = [c for c in r.components if c.element_index == 0]
    assert night[0].volume == D(1)


def test_window_inside_the_skipped_hour_is_empty():
    """02:30-03:00 local does not exist on 2026-03-29."""
    start, end = local("2026-03-29 00:00"), local("2026-03-29 05:00")
    cdr = make_cdr(start, [(0, {"ENERGY": 4, "TIME": 4})], end=end)  # 4 real hours
    r = price_cdr(cdr, night_day_tariff("02:30", "03:00"))
    assert [(c.element_index, c.volume) for c in r.components] == [(1, D(4))]


def test_window_ending_in_the_skipped_hour_ends_at_the_jump():
    """00:00-02:30 local on 2026-03-29: local time jumps from 02:00 to 03:00, so the window is
    00:00-02:00 CET, i.e. 2 real hours."""
    start, end = local("2026-03-28 23:00"), local("2026-03-29 05:00")
    cdr = make_cdr(start, [(0, {"ENERGY": 5, "TIME": 5})], end=end)  # 5 real hours
    r = price_cdr(cdr, night_day_tariff("00:00", "02:30"))
    assert sorted((c.element_index, c.volume) for c in r.components) == [(0, D(2)), (1, D(3))]


def test_offset_changes_and_wall_clock_instants():
    day_start = datetime(2026, 3, 28, 12, tzinfo=UTC)
    day_end = datetime(2026, 3, 29, 12, tzinfo=UTC)
    assert offset_changes(BERLIN, day_start, day_end) == [datetime(2026, 3, 29, 1, tzinfo=UTC)]
    from datetime import time
    instants = wall_clock_instants(BERLIN, [time(2, 30)], datetime(2026, 10, 24, 12, tzinfo=UTC),
                                   datetime(2026, 10, 25, 12, tzinfo=UTC))
    assert instants == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)]


def test_day_of_week_changes_at_local_midnight():
    """Weekend price from Saturday 00:00 local: Friday 23:00 - Saturday 01:00 splits at midnight."""
    tariff = {"id": "W", "currency": "EUR", "elements": [
        {"price_components": [{"type": "TIME", "price": D("1.00"), "step_size": D(1)}],
         "restrictions": {"day_of_week": ["SATURDAY", "SUNDAY"]}},
        {"price_components": [{"type": "TIME", "price": D("2.00"), "step_size": D(1)}]},
    ]}
    cdr = make_cdr(local("2026-06-05 23:00"), [(0, {"TIME": 2})])
    r = price_cdr(cdr, tariff)
    assert [(c.element_index, c.volume) for c in r.components] == [(1, D(1)), (0, D(1))]
    assert r.total_cost.excl_vat == D("3.00")


def test_00_00_end_of_day_element_from_tariff_14():
    """tariff_14: 17:00-20:00 and 20:00-00:00 elements; TIME 19:30-20:30 splits at 20:00."""
    from pricing_helpers import spec_tariff

    cdr = make_cdr(local("2026-06-01 19:30"), [(0, {"TIME": 1})])
    r = price_cdr(cdr, spec_tariff("tariff_14_step_size"))
    assert [(c.element_index, minutes(c.volume)) for c in r.components] == [(1, 30), (2, 30)]
    late = price_cdr(make_cdr(local("2026-06-01 23:30"), [(0, {"TIME": 1})]), spec_tariff("tariff_14_step_size"))
    assert [(c.element_index, minutes(c.volume)) for c in late.components] == [(2, 30), (0, 30)]


def test_kwh_threshold_inside_a_period():
    """max_kwh 10 (exclusive) then a fallback: 15 kWh in one period -> 10 + 5."""
    tariff = {"id": "K", "currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": D("0.30"), "step_size": D(1)}],
         "restrictions": {"max_kwh": D(10)}},
        {"price_components": [{"type": "ENERGY", "price": D("0.25"), "step_size": D(1)}],
         "restrictions": {"min_kwh": D(10)}},
    ]}
    cdr = make_cdr(local("2026-06-01 10:00"), [(0, {"ENERGY": 4, "TIME": 1}), (60, {"ENERGY": 11, "TIME": 1})])
    r = price_cdr(cdr, tariff)
    assert [(c.element_index, c.volume) for c in r.components] == [(0, D(10)), (1, D(5))]
    assert r.total_cost.excl_vat == D("4.25")


def test_min_duration_inside_a_period():
    """An idle fee from 2 h after the session start: TIME 3 h in one period -> 1 h billed."""
    tariff = {"id": "M", "currency": "EUR", "elements": [
        {"price_components": [{"type": "TIME", "price": D("6.00"), "vat": D(19), "step_size": D(60)}],
         "restrictions": {"min_duration": D(7200)}},
    ]}
    r = price_cdr(make_cdr(local("2026-06-01 10:00"), [(0, {"ENERGY": 30, "TIME": 3})]), tariff)
    (time,) = r.components
    assert time.volume == D(1) and r.total_cost.excl_vat == D("6.00")


def test_split_periods_for_other_pricers():
    """The lower-level API: cut at a subscription plan's own day/night hours, no tariff."""
    cdr = make_cdr(local("2026-06-01 21:00"), [(0, {"ENERGY": 4, "TIME": 2}), (120, {"PARKING_TIME": 1})])
    segments, problems = split_periods(cdr, BERLIN, Boundaries.of(["22:00", "06:00"]))
    assert problems == []
    assert [(s.local_start.strftime("%H:%M"), s.volume("ENERGY"), s.volume("TIME"), s.volume("PARKING_TIME"))
            for s in segments] == [("21:00", D(2), D(1), D(0)), ("22:00", D(2), D(1), D(0)),
                                   ("23:00", D(0), D(0), D(1))]
    assert segments[1].energy_before == D(2) and segments[1].seconds_from_start == D(3600)
    assert sum(s.volume("ENERGY") for s in segments) == D(4)


def test_reservation_moves_the_session_start_for_durations():
    """min/max_duration count from the start of charging, not of the reservation."""
    tariff = {"id": "R", "currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": D("0.00"), "step_size": D(1)}],
         "restrictions": {"max_duration": D(1800)}},
        {"price_components": [{"type": "ENERGY", "price": D("0.50"), "step_size": D(1)}]},
    ]}
    cdr = make_cdr(local("2026-06-01 10:00"), [(0, {"RESERVATION_TIME": 1}), (60, {"ENERGY": 2, "TIME": 1})])
    r = price_cdr(cdr, tariff)
    assert [(c.element_index, c.volume) for c in r.components] == [(0, D(1)), (1, D(1))]
    assert by_dimension(r, "ENERGY")[0].period_start == local("2026-06-01 11:00")


def test_unreadable_volumes_are_still_reported_with_their_path():
    """The Decimal fast path in _read_periods: anything but a finite Decimal goes through to_decimal."""
    cdr = make_cdr(local("2026-06-01 10:00"), [(0, {"ENERGY": 2, "TIME": 1})])
    dims = cdr["charging_periods"][0]["dimensions"]
    dims.append({"type": "PARKING_TIME", "volume": D("NaN")})
    dims.append({"type": "PARKING_TIME", "volume": "1.5"})
    dims.append({"type": "PARKING_TIME", "volume": 1.5})
    segments, problems = split_periods(cdr, BERLIN)
    assert [(p.code, p.path) for p in problems] == [
        ("INVALID_PERIOD", "charging_periods[0].dimensions[2].volume"),
        ("INVALID_PERIOD", "charging_periods[0].dimensions[4].volume")]
    assert sum(s.volume("PARKING_TIME") for s in segments) == D("1.5")


def test_wall_clock_instants_per_day_are_remembered_by_zone_times_and_day():
    """_day_instants is cached: asking again gives the same instants, and another zone, day or
    set of times gives its own (the key holds everything the answer depends on)."""
    from datetime import date, time

    from engine.pricing.segments import _day_instants

    times = frozenset({time(22, 0)})
    berlin = _day_instants(BERLIN, times, date(2026, 6, 1))  # (one entry per fold: a set for the caller)
    assert set(berlin) == {datetime(2026, 6, 1, 20, 0, tzinfo=UTC)}
    assert _day_instants(BERLIN, times, date(2026, 6, 1)) == berlin
    assert set(_day_instants(ZoneInfo("Europe/London"), times, date(2026, 6, 1))) == {
        datetime(2026, 6, 1, 21, 0, tzinfo=UTC)}
    assert set(_day_instants(BERLIN, times, date(2026, 1, 1))) == {datetime(2026, 1, 1, 21, 0, tzinfo=UTC)}
    assert set(_day_instants(BERLIN, frozenset({time(2, 30)}), date(2026, 10, 25))) == {
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)}  # twice
    assert _day_instants(BERLIN, frozenset({time(2, 30)}), date(2026, 3, 29)) == ()  # skipped
    start, end = local("2026-06-01 21:00"), local("2026-06-02 08:00")
    assert wall_clock_instants(BERLIN, [time(22, 0)], start, end) == sorted(set(berlin))
