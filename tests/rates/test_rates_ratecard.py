"""engine/rates/ratecard.py: the remembered net unit price of gross lines and the session usage."""

import random
from decimal import Decimal, localcontext

from engine.money import line_net, round_amount, round_unit_price
from engine.rates.model import _price, _price_text
from engine.rates.ratecard import RateCard, _line, session_lines, session_usage
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


def test_session_usage_odd_totals():
    cdr = {"total_energy": "12.5", "total_time": D("2"), "total_parking_time": D("2.5")}
    energy, charging, parking, _, problems = session_usage(cdr, None)
    assert (energy, charging, parking) == (D("12.5"), 0, D("2.5"))
    assert [p.code for p in problems] == ["PARKING_EXCEEDS_TOTAL_TIME"]
    energy, charging, parking, _, problems = session_usage(
        {"total_energy": D("NaN"), "total_time": 1.5, "total_parking_time": True}, None)
    assert (energy, charging, parking) == (0, 0, 0)
    assert [(p.code, p.path) for p in problems] == [("INVALID_CDR_TOTAL", "total_energy"),
                                                    ("INVALID_CDR_TOTAL", "total_time"),
                                                    ("INVALID_CDR_TOTAL", "total_parking_time")]


def test_session_lines_price_each_used_dimension_and_share_the_reference():
    card = RateCard(energy=D("0.45"), time_price=D("0.02"), session=D("0.40"), idle_per_minute=D("0.10"),
                    idle_grace_minutes=D("30"))
    cdr = {"total_energy": D("10"), "total_time": D("2.5"), "total_parking_time": D("1")}
    energy, charging, parking, idle, problems = session_usage(cdr, card)
    assert (energy, charging, parking, idle, problems) == (D("10"), D("1.5"), D("1"), D("30"), [])
    tax = TaxTreatment("domestic", D("19"), "DE", "S")
    reference = {"cdr_id": "x"}
    lines = session_lines(card, energy, charging, idle, tax, False, "AC", reference)
    assert [(line.description, line.quantity, line.unit, str(line.net)) for line in lines] == [
        ("Energy (AC)", D("10"), "kWh", "4.50"), ("Charging time (AC)", D("90"), "min", "1.80"),
        ("Session fee (AC)", D("1"), "session", "0.40"), ("Idle fee (AC)", D("30"), "min", "3.00")]
    assert all(line.reference is reference for line in lines)
    # no charging time, no idle minutes: no lines for them; energy is always shown
    lines = session_lines(card, D("0"), D("0"), D("0"), tax, False, "", reference)
    assert [line.description for line in lines] == ["Energy", "Session fee"]
