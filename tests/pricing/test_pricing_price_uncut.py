"""engine/pricing/price.py's path for tariffs priced by kind alone (``_price_uncut``) against the
general path (segments, moments, slices), which stays the specification.

The whole answer of ``try_price_cdr`` is compared: ``repr`` of the result and problems shows
every Decimal with its digits and exponent (``Decimal('1.10')`` is not ``Decimal('1.1')``), and
an exception must be the same. The generated tariffs have elements without restrictions (the
path's case) and with reservation, invalid, time, duration, day, kWh and power restrictions
(where it must step aside); the CDRs have odd volumes (0, 0E-5, negative, 1E+2, many digits,
strings, beyond 50 digits or too large to price), unsorted periods, periods outside the session, reservations and unknown dimensions.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
import pytest

from engine.pricing import price as pricing
from engine.pricing import parse_tariff, try_price_cdr

UTC = timezone.utc
SETTINGS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

prices = st.sampled_from([D("0"), D("0.25"), D("0.59"), D("6.0"), D("6.00"), D("1E+1"), D("0.123456789"),
                          D("-0.30"), D("12"), D("0.3333333333333333333333333333333")])
vats = st.sampled_from([None, D("0"), D("5.5"), D("7"), D("19"), D("19.0"), D("20"), D("21")])
steps = st.sampled_from([D(0), D(1), D(60), D(300), D(1000), D("15.5")])
volumes = st.one_of(
    st.sampled_from([D(0), D("0E-5"), D("-0"), D("1E+2"), D("-1.5"), D("0.0001"), D("12.3456789012345678901234567"),
                     D("123456.123456"), "2.50", " 3 ", D("1E-30"), D("1E+17"), D("-2E+20"), D("9E+999999"), D("1E-999999"),
                     D("1." + "3" * 59)]),
    st.integers(0, 90000).map(lambda n: D(n) / 1000),
    st.integers(0, 40000).map(lambda n: D(n) / 10000),
)


@st.composite
def restrictions(draw):
    kind = draw(st.sampled_from(["none"] * 6 + ["reservation", "expires", "invalid", "time", "duration", "days",
                                               "kwh", "power", "not-an-object"]))
    if kind == "reservation":
        return {"reservation": "RESERVATION"}
    if kind == "expires":
        return {"reservation": "RESERVATION_EXPIRES"}
    if kind == "invalid":
        return {"start_time": "25:99"}
    if kind == "time":
        return {"start_time": f"{draw(st.integers(0, 23)):02d}:00", "end_time": "18:00"}
    if kind == "duration":
        return {"min_duration": D(draw(st.integers(0, 7200)))}
    if kind == "days":
        return {"day_of_week": ["SATURDAY", "SUNDAY"]}
    if kind == "kwh":
        return {"max_kwh": D(draw(st.integers(0, 30)))}
    if kind == "power":
        return {"max_power": D(draw(st.integers(5, 50)))}
    if kind == "not-an-object":
        return "x"
    return None


@st.composite
def tariffs(draw):
    elements = []
    for _ in range(draw(st.integers(1, 4))):
        kinds = draw(st.lists(st.sampled_from(["ENERGY", "TIME", "PARKING_TIME", "FLAT", "BOGUS"]), min_size=0,
                              max_size=4))
        comps = []
        for kind in kinds:
            pc = {"type": kind, "price": draw(prices), "step_size": draw(steps)}
            vat = draw(vats)
            if vat is not None:
                pc["vat"] = vat
            comps.append(pc)
        el = {"price_components": comps}
        r = draw(restrictions())
        if r is not None:
            el["restrictions"] = r
        elements.append(el)
    tariff = {"id": draw(st.sampled_from(["T", None])), "currency": "EUR", "elements": elements}
    for name in ("min_price", "max_price"):
        if draw(st.integers(0, 3)) == 0:
            tariff[name] = {"excl_vat": draw(prices) * 4}
            if draw(st.booleans()):
                tariff[name]["incl_vat"] = tariff[name]["excl_vat"] + draw(prices)
    return tariff


@st.composite
def cdrs(draw):
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 525600)))
    periods, at = [], start - timedelta(minutes=draw(st.sampled_from([0, 0, 0, 5])))
    for _ in range(draw(st.integers(1, 5))):
        dims = []
        for kind in draw(st.lists(st.sampled_from(["ENERGY", "TIME", "PARKING_TIME", "RESERVATION_TIME", "MAX_POWER",
                                                   "MIN_CURRENT", "energy", "STATE_OF_CHARGE"]), max_size=5)):
            dims.append({"type": kind, "volume": draw(volumes)})
        period = {"start_date_time": at, "dimensions": dims}
        if draw(st.integers(0, 9)) == 0:
            period["tariff_id"] = "OTHER"
        periods.append(period)
        at += timedelta(minutes=draw(st.integers(-10, 120)))
    if draw(st.integers(0, 9)) == 0:
        periods.append("not a period")
    cdr = {"id": "C", "start_date_time": start, "end_date_time": at - timedelta(minutes=draw(st.sampled_from([0, 0, 30]))),
           "currency": "EUR", "cdr_location": {"country": "DEU"}, "charging_periods": periods}
    if draw(st.booleans()):
        cdr["total_cost"] = {"excl_vat": draw(prices), "incl_vat": draw(prices)}
    return cdr


def _answer(cdr, tariff):
    try:
        return repr(try_price_cdr(cdr, tariff, location_tz="Europe/Berlin"))
    except ArithmeticError as exc:
        return f"raised {type(exc).__name__}"


def _general(cdr, tariff, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(pricing, "_price_uncut", lambda *args: None)
        return _answer(cdr, tariff)


def _one_period(*dims, at=datetime(2026, 3, 1, 10, tzinfo=UTC)):
    return {"id": "C", "start_date_time": at, "end_date_time": at + timedelta(hours=1),
            "charging_periods": [{"start_date_time": at, "dimensions": [{"type": k, "volume": v} for k, v in dims]}]}


PLAIN = {"id": "T", "currency": "EUR", "elements": [{"price_components": [
    {"type": "ENERGY", "price": D("0.5"), "step_size": D(1), "vat": D(19)}]}]}


@SETTINGS
@given(tariffs(), cdrs())
@example(PLAIN, _one_period(("ENERGY", D(10)), ("TIME", D("1E-999999"))))  # the average power overflows
@example(PLAIN, _one_period(("ENERGY", D(1)), ("PARKING_TIME", D("1E+17"))))  # unpriced, too large to round
@example(PLAIN, _one_period(("ENERGY", D(1)), at=datetime(9999, 12, 31, 20, tzinfo=UTC)))  # local time overflows
def test_the_uncut_path_gives_exactly_the_general_answer(tariff, cdr):
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert _answer(cdr, tariff) == _general(cdr, tariff, monkeypatch)


def test_the_uncut_path_is_taken_for_unrestricted_tariffs_and_not_for_restricted_ones():
    assert parse_tariff(PLAIN)[0].prices_by_kind
    cdr = _one_period(("ENERGY", D("4.5")))
    assert pricing._price_uncut(cdr, parse_tariff(PLAIN)[0], cdr["start_date_time"], cdr["end_date_time"]) is not None
    for restricted in ({"min_kwh": D(10)}, {"max_power": D(11)}, {"start_time": "08:00", "end_time": "20:00"}):
        tariff = {**PLAIN, "elements": [{**PLAIN["elements"][0], "restrictions": restricted}]}
        assert not parse_tariff(tariff)[0].prices_by_kind


def test_near_the_ends_of_the_calendar_the_general_path_decides():
    late = _one_period(("ENERGY", D(1)), at=datetime(9999, 12, 31, 12, tzinfo=UTC))
    assert pricing._price_uncut(late, parse_tariff(PLAIN)[0], late["start_date_time"], late["end_date_time"]) is None
