"""engine/pricing/restrictions.py: each TariffRestriction, judged at one moment."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from engine.pricing.restrictions import Moment, parse_restrictions, parse_time

BERLIN = ZoneInfo("Europe/Berlin")


def at(text, **kw):
    return Moment(local=datetime.fromisoformat(text).replace(tzinfo=BERLIN), **kw)


def r(**raw):
    parsed, problems = parse_restrictions(raw)
    assert not problems
    return parsed


@pytest.mark.parametrize("clock,expected", [("08:59", False), ("09:00", True), ("17:59", True), ("18:00", False)])
def test_start_end_time_is_half_open(clock, expected):
    assert r(start_time="09:00", end_time="18:00").holds(at(f"2026-06-01 {clock}")) is expected


@pytest.mark.parametrize("clock,expected", [("21:59", False), ("22:00", True), ("23:59", True), ("00:00", True),
                                            ("05:59", True), ("06:00", False), ("12:00", False)])
def test_time_window_wraps_past_midnight(clock, expected):
    """end_time < start_time: the period wraps around to the next day."""
    assert r(start_time="22:00", end_time="06:00").holds(at(f"2026-06-01 {clock}")) is expected


@pytest.mark.parametrize("clock,expected", [("19:59", False), ("20:00", True), ("23:59", True), ("00:00", False)])
def test_end_time_midnight_means_end_of_day(clock, expected):
    """"To stop at end of the day use: 00:00" (tariff_14's 20:00-00:00 element)."""
    assert r(start_time="20:00", end_time="00:00").holds(at(f"2026-06-01 {clock}")) is expected


def test_start_time_midnight_and_only_one_bound():
    assert r(start_time="00:00", end_time="17:00").holds(at("2026-06-01 00:00"))
    assert not r(start_time="00:00", end_time="17:00").holds(at("2026-06-01 17:00"))
    assert r(end_time="07:00").holds(at("2026-06-01 06:59")) and not r(end_time="07:00").holds(at("2026-06-01 07:00"))
    assert r(start_time="07:00").holds(at("2026-06-01 23:59")) and not r(start_time="07:00").holds(at("2026-06-01 06:59"))
    assert r(start_time="10:00", end_time="10:00").holds(at("2026-06-01 03:00"))  # a full day
    assert r(end_time="24:00").holds(at("2026-06-01 23:59"))


def test_dates_start_inclusive_end_exclusive():
    rule = r(start_date="2026-06-01", end_date="2026-06-03")
    assert not rule.holds(at("2026-05-31 23:59"))
    assert rule.holds(at("2026-06-01 00:00")) and rule.holds(at("2026-06-02 23:59"))
    assert not rule.holds(at("2026-06-03 00:00"))


def test_day_of_week():
    weekend = r(day_of_week=["SATURDAY", "SUNDAY"])
    assert weekend.holds(at("2026-06-06 12:00")) and weekend.holds(at("2026-06-07 12:00"))
    assert not weekend.holds(at("2026-06-05 23:59"))
    assert r(day_of_week=[]).holds(at("2026-06-05 12:00"))


def test_kwh_min_inclusive_max_exclusive():
    rule = r(min_kwh=D(10), max_kwh=D(20))
    assert not rule.holds(at("2026-06-01 12:00", energy_kwh=D("9.999")))
    assert rule.holds(at("2026-06-01 12:00", energy_kwh=D(10)))
    assert not rule.holds(at("2026-06-01 12:00", energy_kwh=D(20)))


def test_duration_min_inclusive_max_exclusive():
    rule = r(min_duration=D(1800), max_duration=D(3600))
    assert not rule.holds(at("2026-06-01 12:00", seconds=D(1799)))
    assert rule.holds(at("2026-06-01 12:00", seconds=D(1800)))
    assert not rule.holds(at("2026-06-01 12:00", seconds=D(3600)))


def test_current_and_power():
    """min_* holds from the value on (>=), max_* below it (<); the period's MIN_* value is
    judged against a minimum, its MAX_* value against a maximum."""
    low = r(max_current=D(32))
    assert low.holds(at("2026-06-01 12:00", min_current=D(6), max_current=D(16)))
    assert not low.holds(at("2026-06-01 12:00", min_current=D(6), max_current=D(32)))
    high = r(min_current=D(32))
    assert high.holds(at("2026-06-01 12:00", min_current=D(32), max_current=D(43)))
    assert not high.holds(at("2026-06-01 12:00", min_current=D(16), max_current=D(43)))
    assert not high.holds(at("2026-06-01 12:00"))  # nothing known: does not hold
    assert r(min_power=D(5), max_power=D(20)).holds(at("2026-06-01 12:00", max_power=D(11)))
    assert not r(max_power=D(16)).holds(at("2026-06-01 12:00", min_power=D(16)))


def test_reservation_kinds():
    res, exp, none = r(reservation="RESERVATION"), r(reservation="RESERVATION_EXPIRES"), r()
    charging = at("2026-06-01 12:00")
    reserved = at("2026-06-01 12:00", reservation="RESERVATION")
    expired = at("2026-06-01 12:00", reservation="RESERVATION_EXPIRES")
    assert none.holds(charging) and not none.holds(reserved) and not none.holds(expired)
    assert res.holds(reserved) and res.holds(expired) and not res.holds(charging)
    assert exp.holds(expired) and not exp.holds(reserved) and not exp.holds(charging)


def test_invalid_restrictions_make_the_element_inapplicable():
    parsed, problems = parse_restrictions({"start_time": "25:00", "day_of_week": ["MONDAY", "FUNDAY"]})
    assert parsed.invalid and not parsed.holds(at("2026-06-01 12:00"))
    assert {p.code for p in problems} == {"INVALID_RESTRICTION"} and len(problems) == 2
    assert problems[0].path == "restrictions.start_time"


def test_parse_time():
    assert str(parse_time("07:05")) == "07:05:00"
    with pytest.raises(ValueError):
        parse_time("7:05")


def test_unrestricted_shortcut_is_remembered_per_instance_and_only_for_the_unrestricted():
    """``holds`` stops after the reservation check when nothing else is set; that answer is kept
    on the instance and never taken for restrictions that do set something."""
    free, reserved, timed = r(), r(reservation="RESERVATION"), r(start_time="09:00", end_time="18:00")
    night = at("2026-06-01 20:00")
    assert free.holds(night) and not free.holds(at("2026-06-01 20:00", reservation="RESERVATION"))
    assert reserved.holds(at("2026-06-01 20:00", reservation="RESERVATION")) and not reserved.holds(night)
    assert not timed.holds(night) and timed.holds(at("2026-06-01 10:00"))
    assert (free.__dict__["_only_reservation_"], reserved.__dict__["_only_reservation_"],
            timed.__dict__["_only_reservation_"]) == (True, True, False)
    invalid, _ = parse_restrictions({"day_of_week": ["FUNDAY"]})
    assert not invalid.holds(night)
