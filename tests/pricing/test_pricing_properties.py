"""Properties of price_cdr over generated tariffs and sessions (hypothesis)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.money import round_amount
from engine.pricing import price_cdr

UTC = timezone.utc
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]

prices = st.one_of(st.integers(0, 300).map(lambda n: D(n) / 100), st.integers(0, 30000).map(lambda n: D(n) / 10000))
vats = st.sampled_from([None, D("0"), D("5.2"), D("7"), D("10"), D("19"), D("20.0"), D("21")])
steps = st.sampled_from([1, 60, 100, 300, 500, 900])


@st.composite
def restrictions(draw, kwh=True):
    kind = draw(st.sampled_from(["none", "time", "duration", "days", "power"] + (["kwh"] if kwh else [])))
    if kind == "time":
        a, b = draw(st.integers(0, 23)), draw(st.integers(0, 23))
        return {"start_time": f"{a:02d}:00", "end_time": f"{b:02d}:00"}
    if kind == "duration":
        return {"max_duration": D(3600 * draw(st.integers(1, 4)))}
    if kind == "days":
        return {"day_of_week": draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))}
    if kind == "power":
        return {"max_power": D(draw(st.integers(5, 50)))}
    if kind == "kwh":
        return {"min_kwh": D(draw(st.integers(0, 20)))}
    return None


@st.composite
def tariffs(draw, kwh=True):
    elements = []
    for _ in range(draw(st.integers(1, 4))):
        kinds = draw(st.lists(st.sampled_from(["ENERGY", "TIME", "PARKING_TIME", "FLAT"]), min_size=1, max_size=4,
                              unique=True))
        comps = []
        for kind in kinds:
            pc = {"type": kind, "price": draw(prices), "step_size": D(draw(steps))}
            vat = draw(vats)
            if vat is not None:
                pc["vat"] = vat
            comps.append(pc)
        el = {"price_components": comps}
        r = draw(restrictions(kwh))
        if r:
            el["restrictions"] = r
        elements.append(el)
    tariff = {"id": "H", "currency": "EUR", "elements": elements}
    for name in ("min_price", "max_price"):
        if draw(st.integers(0, 3)) == 0:
            excl = draw(prices) * 4
            tariff[name] = {"excl_vat": excl}
            if draw(st.booleans()):
                tariff[name]["incl_vat"] = excl + draw(prices)  # a sane tariff: incl >= excl
    return tariff


@st.composite
def sessions(draw):
    """1-4 back-to-back periods of exactly one hour, each starting on a whole UTC hour."""
    day = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 364)), hours=draw(st.integers(0, 23)))
    periods = []
    for i in range(draw(st.integers(1, 4))):
        quarters = draw(st.integers(0, 4))
        dims = {"ENERGY": D(draw(st.integers(0, 50000))) / 1000 if quarters else D(0),
                "TIME": D(quarters) / 4, "PARKING_TIME": D(4 - quarters) / 4}
        lo = draw(st.integers(0, 40))
        dims["MIN_POWER"], dims["MAX_POWER"] = D(lo), D(lo + draw(st.integers(0, 20)))
        periods.append({"start_date_time": day + timedelta(hours=i),
                        "dimensions": [{"type": k, "volume": v} for k, v in dims.items() if v != 0 or k == "TIME"]})
    return {"id": "S", "start_date_time": day, "end_date_time": day + timedelta(hours=len(periods)),
            "currency": "EUR", "cdr_location": {"country": "DEU"}, "charging_periods": periods}


@SETTINGS
@given(tariffs(), sessions())
def test_total_is_the_sum_of_the_components(tariff, cdr):
    r = price_cdr(cdr, tariff)
    excl = sum((c.excl_vat for c in r.components), D(0))
    incl = sum((c.incl_vat for c in r.components), D(0))
    adj = r.adjustment
    assert r.total_cost.excl_vat == excl + (adj.excl_vat if adj else 0)
    assert r.total_cost.incl_vat == incl + (adj.incl_vat if adj else 0)
    subtotals = [a for a in (r.total_energy_cost, r.total_time_cost, r.total_parking_cost, r.total_fixed_cost,
                             r.total_reservation_cost) if a is not None]
    assert sum((a.excl_vat for a in subtotals), D(0)) == excl
    assert sum((a.incl_vat for a in subtotals), D(0)) == incl
    for c in r.components:
        assert c.billed_volume >= c.volume


@SETTINGS
@given(tariffs(), sessions())
def test_incl_vat_never_below_excl_vat_for_non_negative_prices(tariff, cdr):
    r = price_cdr(cdr, tariff)
    assert r.total_cost.incl_vat >= r.total_cost.excl_vat >= 0
    for c in r.components:
        assert c.incl_vat >= c.excl_vat >= 0
        assert c.exact_incl_vat >= c.exact_excl_vat


@SETTINGS
@given(tariffs(), sessions())
def test_vat_per_rate_is_the_rate_times_the_summed_nets_rounded_once(tariff, cdr):
    r = price_cdr(cdr, tariff)
    assert len({v.rate for v in r.vat}) == len(r.vat)
    for line in r.vat:
        mine = [c for c in r.components if c.vat_rate == line.rate]
        net = sum((c.excl_vat for c in mine), D(0))
        assert line.net == net
        expected = round_amount(net * line.rate / 100) if line.rate is not None else D(0)
        assert line.vat == expected
        assert sum((c.incl_vat - c.excl_vat for c in mine), D(0)) == expected


@SETTINGS
@given(tariffs(kwh=False), sessions(), st.data())
def test_splitting_a_period_inside_a_restriction_interval_changes_nothing(tariff, cdr, data):
    """Periods are whole UTC hours and every restriction boundary is a whole hour (local hours in
    Europe/Berlin are whole UTC hours), so a cut inside a period crosses none; the volumes may be
    shared between the halves in any proportion."""
    periods = cdr["charging_periods"]
    i = data.draw(st.integers(0, len(periods) - 1))
    minute = data.draw(st.integers(1, 59))
    q = D(data.draw(st.integers(1, 9))) / 10
    p = periods[i]
    first, second = [], []
    for dim in p["dimensions"]:
        if dim["type"] in ("MIN_POWER", "MAX_POWER"):
            first.append(dict(dim))
            second.append(dict(dim))
        else:
            part = dim["volume"] * q
            first.append({"type": dim["type"], "volume": part})
            second.append({"type": dim["type"], "volume": dim["volume"] - part})
    split = {**cdr, "charging_periods": periods[:i] + [
        {"start_date_time": p["start_date_time"], "dimensions": first},
        {"start_date_time": p["start_date_time"] + timedelta(minutes=minute), "dimensions": second},
    ] + periods[i + 1:]}
    a, b = price_cdr(cdr, tariff), price_cdr(split, tariff)
    assert a.total_cost == b.total_cost
    assert [(c.dimension, c.element_index, c.billed_volume, c.excl_vat, c.incl_vat) for c in a.components] == \
           [(c.dimension, c.element_index, c.billed_volume, c.excl_vat, c.incl_vat) for c in b.components]
