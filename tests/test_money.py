from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from engine import money

amounts = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=4,
                      allow_nan=False, allow_infinity=False)
rates = st.sampled_from([Decimal(r) for r in ("0", "7", "7.7", "10", "19", "20", "21", "25.5")])


def test_half_up_not_bankers():
    assert money.round_amount(Decimal("0.125")) == Decimal("0.13")
    assert money.round_amount(Decimal("0.135")) == Decimal("0.14")
    assert money.round_amount(Decimal("-0.125")) == Decimal("-0.13")


def test_unit_prices_keep_up_to_four_places():
    assert str(money.round_unit_price(Decimal("0.25"))) == "0.25"
    assert str(money.round_unit_price(Decimal("0.2550"))) == "0.255"
    assert str(money.round_unit_price(Decimal("0.123456"))) == "0.1235"
    assert str(money.round_unit_price(Decimal("2"))) == "2.00"


def test_floats_refused():
    with pytest.raises(TypeError):
        money.to_decimal(0.1)
    with pytest.raises(ValueError):
        money.to_decimal("NaN")
    assert money.to_decimal(" 2.00 ") == Decimal("2.00")


def test_vat_per_rate_on_summed_nets_differs_from_per_line():
    # Three lines of 0.05 at 19 %: per line 0.01 each (0.03), on the sum 0.15 -> 0.03 (0.0285).
    lines = [(Decimal("0.05"), Decimal("19"))] * 3
    assert money.vat_breakdown(lines) == {Decimal("19"): (Decimal("0.15"), Decimal("0.03"))}
    # Seven lines of 0.07 at 19 %: per line 0.01 each = 0.07, on the sum 0.49 -> 0.09.
    lines = [(Decimal("0.07"), Decimal("19"))] * 7
    assert money.vat_breakdown(lines)[Decimal("19")][1] == Decimal("0.09")


@given(st.lists(st.tuples(amounts, rates), min_size=1, max_size=20))
def test_vat_is_rate_times_summed_nets_rounded_once(lines):
    lines = [(money.round_amount(n), r) for n, r in lines]
    breakdown = money.vat_breakdown(lines)
    for rate, (net, vat) in breakdown.items():
        exact = sum(n for n, r in lines if r == rate) * rate / 100
        assert vat == exact.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        assert net == sum(n for n, r in lines if r == rate)


@given(st.decimals(min_value=0, max_value=100000, places=2), rates)
def test_gross_back_calculation_adds_up(gross, rate):
    net, vat = money.net_from_gross(gross, rate)
    assert net + vat == gross
    assert net <= gross
    assert abs(money.vat_amount(net, rate) - vat) <= Decimal("0.01")


@given(amounts)
def test_fmt_is_a_two_decimal_string(value):
    text = money.fmt(value)
    assert isinstance(text, str) and len(text.split(".")[1]) == 2
    assert Decimal(text) == money.round_amount(value)


def test_fmt_exact_never_uses_exponents():
    assert money.fmt_exact(Decimal("1E+2")) == "100"
    assert money.fmt_exact(Decimal("0.000100")) == "0.0001"
    assert money.fmt_exact(Decimal("15.342")) == "15.342"


# ---- the explicit contexts are the localcontext() arithmetic they replaced ----------------------

def _reference_functions():
    from decimal import ROUND_HALF_UP, localcontext

    def round_unit_price(value):
        with localcontext() as ctx:
            ctx.prec = 34
            q = value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
            for places in (Decimal("0.01"), Decimal("0.001")):
                shorter = q.quantize(places)
                if shorter == q:
                    return shorter
            return q

    def line_net(quantity, unit_price):
        with localcontext() as ctx:
            ctx.prec = 34
            return (quantity * unit_price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def vat_amount(summed, rate):
        with localcontext() as ctx:
            ctx.prec = 34
            return (summed * rate / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def net_from_gross(gross, rate):
        with localcontext() as ctx:
            ctx.prec = 34
            gross = gross.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            net = (gross / (1 + rate / 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            return net, gross - net
    return round_unit_price, line_net, vat_amount, net_from_gross


VALUES = [Decimal(v) for v in (
    "0", "-0", "0.25", "0.255", "0.2555", "0.25555", "-0.00005", "0.00005", "1.005", "-1.005", "12.3456789",
    "0.40", "0.4000", "100", "1E+2", "19", "7.7", "25.5", "0.333333333333333333333333333333333333",
    "123456789012345678901234567890.123456789", "-98765.4321", "2.675", "0.125", "0.135")]


def _outcome(fn, *args):
    """The text of the result, or the exception type (beyond 34 digits both refuse alike)."""
    try:
        result = fn(*args)
    except ArithmeticError as exc:
        return type(exc)
    return tuple(map(str, result)) if isinstance(result, tuple) else str(result)


def test_unit_price_line_net_vat_and_gross_split_match_the_localcontext_versions():
    from engine.money import line_net, net_from_gross, round_unit_price, vat_amount
    ref_unit, ref_net, ref_vat, ref_gross = _reference_functions()
    for a in VALUES:
        assert _outcome(round_unit_price, a) == _outcome(ref_unit, a), a
        for b in VALUES:
            assert _outcome(line_net, a, b) == _outcome(ref_net, a, b), (a, b)
            assert _outcome(vat_amount, a, b) == _outcome(ref_vat, a, b), (a, b)
            if b > -100:
                assert _outcome(net_from_gross, a, b) == _outcome(ref_gross, a, b), (a, b)


def test_fmt_of_amounts_in_cents_is_the_rounded_text():
    """fmt's shortcut for texts with two decimals against rounding every value (the
    specification, _fmt_rounded): the same text or the same failure, odd values included."""
    import random
    from decimal import Decimal, InvalidOperation

    from engine.money import _fmt_rounded, fmt

    def outcome(f, value):
        try:
            return f(value)
        except InvalidOperation as exc:
            return type(exc).__name__

    rnd = random.Random(13)
    texts = ["0", "0.00", "-0.00", "0.0", "-0", "1.005", "12.34", "12.345", "1E+2", "1.2E+3", "1E-7", "1.23E-5",
             "NaN", "-NaN", "Infinity", "-Infinity", "123456789012345678901234567890.12",
             "1234567890123456789012345678901.12", "12345678901234567890123456789012.12",
             "-1234567890123456789012345678901.12", "9" * 33 + ".99", "1E+30", "1.00E+2", "0E-2", "0E+2", "5E-2"]
    for _ in range(20000):
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 40)))
        exponent = rnd.randint(-8, 4)
        texts.append(("-" if rnd.random() < 0.3 else "") + digits + "E" + str(exponent))
    for text in texts:
        value = Decimal(text)
        assert outcome(fmt, value) == outcome(_fmt_rounded, value), text

    class Shown(Decimal):
        def __str__(self):
            return "shown"

    assert fmt(Shown("1.50")) == _fmt_rounded(Shown("1.50")) == "1.50"  # a subclass is rounded, as ever


def test_fmt_exact_is_the_fixed_point_text_without_trailing_zeros():
    """fmt_exact (str unless it has an exponent) against format "f" for every value (the
    specification), odd values included."""
    import random
    from decimal import Decimal

    from engine.money import fmt_exact

    def spec(value):
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".") or "0"
        return text

    rnd = random.Random(17)
    texts = ["0", "-0", "0.000", "-0E-3", "0E-7", "0E+2", "1E+2", "1.50", "123E-8", "1E-7", "NaN", "-NaN", "sNaN",
             "NaN123", "Infinity", "-Infinity", "19", "25.5", "25.50", "-1.5E+3"]
    for _ in range(20000):
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 30)))
        texts.append(("-" if rnd.random() < 0.3 else "") + digits + "E" + str(rnd.randint(-12, 6)))
    for text in texts:
        value = Decimal(text)
        assert fmt_exact(value) == spec(value), text
    assert fmt_exact(None) is None

    class Shown(Decimal):
        def __str__(self):
            return "shown"

    for value in (10, -3, Shown("1.50"), Shown("1E+2")):  # not a Decimal: format "f", as ever
        assert fmt_exact(value) == spec(value)
