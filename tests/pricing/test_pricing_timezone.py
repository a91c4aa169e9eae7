"""engine/pricing/timezone.py: override > location master > country > UTC."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from engine.pricing.timezone import COUNTRY_ZONES, resolve_zone, zone_for_country


def test_every_zone_in_the_table_exists():
    for alpha3, (alpha2, name) in COUNTRY_ZONES.items():
        assert len(alpha3) == 3 and len(alpha2) == 2
        ZoneInfo(name)


@pytest.mark.parametrize("country,zone", [("DEU", "Europe/Berlin"), ("DE", "Europe/Berlin"), ("nld", "Europe/Amsterdam"),
                                          ("BEL", "Europe/Brussels"), ("GBR", "Europe/London"), ("NOR", "Europe/Oslo"),
                                          ("CHE", "Europe/Zurich"), ("FIN", "Europe/Helsinki"), ("JPN", "Asia/Tokyo")])
def test_zone_for_country(country, zone):
    assert zone_for_country(country) == zone


def test_unknown_country():
    assert zone_for_country("XXX") is None and zone_for_country(None) is None


def test_precedence():
    assert resolve_zone("Europe/Lisbon", "Europe/Paris", "DEU").name == "Europe/Lisbon"
    choice = resolve_zone(None, "Europe/Paris", "DEU")
    assert (choice.name, choice.source) == ("Europe/Paris", "location")
    choice = resolve_zone(None, None, "DEU")
    assert (choice.name, choice.source, choice.problems) == ("Europe/Berlin", "country", ())


def test_invalid_override_falls_through_with_a_warning():
    choice = resolve_zone("Mars/Olympus", None, "AUT")
    assert choice.name == "Europe/Vienna"
    assert [p.code for p in choice.problems] == ["TIME_ZONE_INVALID"]


def test_nothing_known_is_utc_with_a_warning():
    choice = resolve_zone(None, None, None)
    assert (choice.name, choice.source) == ("UTC", "default")
    assert [(p.code, p.severity) for p in choice.problems] == [("TIME_ZONE_DEFAULTED", "warning")]


def test_multi_zone_country_warns():
    choice = resolve_zone(None, None, "ESP")
    assert choice.name == "Europe/Madrid"
    assert [p.code for p in choice.problems] == ["TIME_ZONE_AMBIGUOUS"]
    assert resolve_zone(None, "Atlantic/Canary", "ESP").problems == ()


def test_remembered_choices_follow_every_argument():
    """resolve_zone is remembered per (tz, location_tz, country): each argument changes the answer."""
    from engine.pricing.timezone import _resolve_zone

    cases = [(None, None, "FRA"), (None, None, "PRT"), (None, "Europe/Berlin", "FRA"), ("Asia/Tokyo", "Europe/Berlin", "FRA"),
             (None, "No/Such_Zone", "FRA"), (None, None, None), (None, None, ["not", "hashable"])]
    for args in cases * 2:  # the second time from the memo
        got, want = resolve_zone(*args), _resolve_zone(*args)
        assert (got.name, got.source, got.problems) == (want.name, want.source, want.problems)
    assert len({repr(resolve_zone(*args)) for args in cases[:6]}) == 6
