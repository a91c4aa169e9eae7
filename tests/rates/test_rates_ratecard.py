"""engine/rates/ratecard.py: the remembered net unit price of gross lines and the session usage."""

import random
from decimal import Decimal, localcontext

from engine.money import line_net, round_amount, round_unit_price
from engine.rates.model import _price, _price_text
from engine.rates.ratecard import RateCard, _line, card_lines, session_lines, session_usage, usage_of
from engine.tax.treatment import TaxTreatment

D = Decimal


def _gross_line_in_a_context(product, quantity, price, tax, reference):
    """A gross line worked out step by step inside localcontext(prec=34) (the specification)."""
    with localcontext() as ctx:
        ctx.prec = 34
        divisor = 1 + tax.rate / 100
        amount = line_net(quantity, price)
        return (product, quantity, round_unit_price(price / divisor), round_amount(amount / divisor), amount, price)


def test_gross_lines_with_remembered_net_prices_are_the_lines_worked_out_each_time():
    rnd = random.Random(3)
    prices = [D(p) for p in ("0.52", "0.5200", "0.49", "0.079", "12", "0.0001", "-0.35", "0")]
    rates = [D(r) for r in ("19", "20", "25.5", "0", "7", "21.0")]
    taxes = [TaxTreatment("domestic", rate, "DE", "S") for rate in rates]
    for _ in range(4000):
        price = rnd.choice(prices)
        if rnd.random() < 0.2:
            price = D(str(price))  # equal, another object: its own entry
        tax = rnd.choice(taxes)
        quantity = D(rnd.randint(-100000, 100000)) / D(rnd.choice([1, 10, 1000, 10000]))
        got = _line("ENERGY", "Energy", quantity, "kWh", price, tax, True, {"cdr_id": "x"})
        want = _gross_line_in_a_context("ENERGY", quantity, price, tax, {"cdr_id": "x"})
        shown = (got.product, got.quantity, got.unit_price, got.net, got.gross, got.unit_price_gross)
        assert repr(shown) == repr(want), (price, tax.rate, quantity)
        assert got.reference == {"cdr_id": "x"} and (got.tax_rate, got.tax_class) == (tax.rate, "S")


def test_unit_price_texts_remembered_per_object_are_the_texts_of_the_value():
    for text in ("0.4", "0.40", "0.400", "0.4000", "0.12345", "-0.35", "12", "1E+2", "0.0001", "0E-8"):
        for value in (D(text), D(text)):  # two objects of one value, each asked twice
            assert _price(value) == _price(value) == _price_text(value), text


def test_usage_of_odd_totals():
    cdr = {"total_energy": "12.5", "total_time": D("2"), "total_parking_time": D("2.5")}
    usage, problems = usage_of(cdr)
    assert (usage.energy_kwh, usage.charging_hours, usage.parking_hours) == (D("12.5"), 0, D("2.5"))
    assert [p.code for p in problems] == ["PARKING_EXCEEDS_TOTAL_TIME"]
    usage, problems = usage_of({"total_energy": D("NaN"), "total_time": 1.5, "total_parking_time": True})
    assert (usage.energy_kwh, usage.charging_hours, usage.parking_hours) == (0, 0, 0)
    assert [(p.code, p.path) for p in problems] == [("INVALID_CDR_TOTAL", "total_energy"),
                                                    ("INVALID_CDR_TOTAL", "total_time"),
                                                    ("INVALID_CDR_TOTAL", "total_parking_time")]


_CARDS = [
    RateCard(energy=D("0.39")),
    RateCard(energy=D("0.52"), session=D("0.25")),
    RateCard(energy=D("0.45"), time_price=D("0.02"), session=D("0.40"), idle_per_minute=D("0.10"),
             idle_grace_minutes=D("30")),
    RateCard(time_price=D("1.20"), time_unit="h", idle_per_minute=D("0.05")),
    RateCard(),
]


def test_session_usage_and_lines_are_usage_of_and_card_lines():
    """The session pricers' figures without a Usage against usage_of and card_lines (by repr)."""
    rnd = random.Random(11)
    taxes = [TaxTreatment("domestic", D(r), "DE", "S") for r in ("19", "0", "25.5")]
    totals = [None, "0", "1.5", D("2.25"), D("0.75"), D("-1"), D("NaN"), "x", 3, D("12.345")]
    for _ in range(3000):
        cdr = {key: rnd.choice(totals) for key in ("total_energy", "total_time", "total_parking_time")}
        card = rnd.choice(_CARDS + [None])
        usage, problems = usage_of(cdr, card)
        *figures, found = session_usage(cdr, card)
        assert repr((usage.energy_kwh, usage.charging_hours, usage.parking_hours, usage.idle_minutes)) == \
            repr(tuple(figures))
        assert repr(found) == repr(problems)
        if card is None:
            continue
        tax, gross, label = rnd.choice(taxes), rnd.random() < 0.5, rnd.choice(["AC", "DC highway", ""])
        reference = {"cdr_id": "x"}
        want = card_lines(card, usage, tax=tax, gross=gross, label=label, reference=reference)
        got = session_lines(card, usage.energy_kwh, usage.charging_hours, usage.idle_minutes, tax, gross, label,
                            reference)
        assert repr(got) == repr(want)
        assert all(line.reference is reference for line in got)
