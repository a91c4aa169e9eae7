"""The one rounding policy of cdrflow (EN 16931, commercial rounding).

Every place that turns an exact Decimal into an amount that leaves the system goes through
here, so that "where do we round?" has one answer:

* line nets to 2 dp (BT-131), unit prices to at most 4 dp (BT-146);
* VAT per rate on the *sum* of the line nets, rounded once (BR-CO-17);
* B2C gross prices: net = round(gross / (1 + rate)), VAT = gross - net.

Money is always Decimal; a float reaching this module is a bug and is refused.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Iterable

from engine.memo import remembered_for

CENT = Decimal("0.01")
MILLI = Decimal("0.001")
UNIT_PRICE_QUANTUM = Decimal("0.0001")
ZERO = Decimal("0")
HUNDRED = Decimal("100")

# Enough precision that intermediate products (kWh x price x rate) never round silently.
_PRECISION = 34
# Passed explicitly on the hot path (cheaper than entering a localcontext for every amount).
# ``quantize`` is called with positional arguments throughout: with keywords CPython parses them
# per call (0.29 us against 0.11 us), and amounts are rounded some twenty times per CDR.
_CONTEXT = Context(prec=_PRECISION, rounding=ROUND_HALF_UP)
# The arithmetic before rounding (products, quotients): what ``localcontext()`` with
# ``prec = 34`` gave, i.e. the default context's half-even rounding beyond 34 digits. Calling its
# methods is the same arithmetic without entering and leaving a context per amount.
_ARITH = Context(prec=_PRECISION, rounding=ROUND_HALF_EVEN)


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Convert an int, numeric string or Decimal to Decimal; refuse floats and non-finite values."""
    if isinstance(value, bool):
        raise TypeError(f"{field}: expected a number, got a boolean")
    if isinstance(value, float):
        raise TypeError(f"{field}: floats are not accepted for money, pass a str or Decimal")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (int, str)):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise ValueError(f"{field}: {value!r} is not a number") from None
    else:
        raise TypeError(f"{field}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number")
    return result


def round_amount(value: Decimal) -> Decimal:
    """An amount (line net, VAT, total) to 2 dp, half up."""
    return value.quantize(CENT, ROUND_HALF_UP, _CONTEXT)


def round_unit_price(value: Decimal) -> Decimal:
    """A unit price to at most 4 dp, half up, shown with 2 to 4 decimals (0.25, 0.255, 0.2555)."""
    q = value.quantize(UNIT_PRICE_QUANTUM, ROUND_HALF_UP, _CONTEXT)
    for places in (CENT, MILLI):
        shorter = q.quantize(places, None, _ARITH)  # (only kept when exact: rounding moot)
        if shorter == q:
            return shorter
    return q


def line_net(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """Line net = quantity x unit price, rounded once to 2 dp."""
    return _ARITH.multiply(quantity, unit_price).quantize(CENT, ROUND_HALF_UP, _CONTEXT)  # round_amount, inlined


def vat_amount(summed_nets: Decimal, rate_percent: Decimal) -> Decimal:
    """VAT for one rate on the sum of the nets at that rate (BR-CO-17), rounded once."""
    return _ARITH.divide(_ARITH.multiply(summed_nets, rate_percent), HUNDRED).quantize(
        CENT, ROUND_HALF_UP, _CONTEXT)  # round_amount, inlined


def vat_breakdown(lines: Iterable[tuple[Decimal, Decimal]]) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """Group (net, rate%) pairs by rate: {rate: (summed net, VAT on it)}."""
    sums: dict[Decimal, Decimal] = {}
    for net, rate in lines:
        sums[rate] = sums.get(rate, ZERO) + net
    return {rate: (round_amount(total), vat_amount(total, rate)) for rate, total in sums.items()}


def gross_divisor(rate_percent: Decimal) -> Decimal:
    """1 + rate / 100: what a gross amount is divided by to give its net (exact arithmetic).

    A VAT rate is a configuration constant (one object for every CDR), so the divisor is
    remembered per object (``remembered_for``: one object, one value, one divisor).
    """
    return remembered_for(_DIVISORS, rate_percent, _gross_divisor, _DIVISORS_LIMIT)


_DIVISORS: dict[int, tuple[object, Decimal]] = {}
_DIVISORS_LIMIT = 256


def _gross_divisor(rate_percent: Decimal) -> Decimal:
    return _ARITH.add(1, _ARITH.divide(rate_percent, HUNDRED))


def exact_quotient(dividend: Decimal, divisor: Decimal) -> Decimal:
    """``dividend / divisor`` as in a ``localcontext()`` with ``prec = 34`` (before rounding)."""
    return _ARITH.divide(dividend, divisor)


def exact_difference(minuend: Decimal, subtrahend: Decimal) -> Decimal:
    """``minuend - subtrahend`` as in a ``localcontext()`` with ``prec = 34``."""
    return _ARITH.subtract(minuend, subtrahend)


def exact_sum(values: Iterable[Decimal], start: Decimal = ZERO) -> Decimal:
    """``sum(values, start)`` as in a ``localcontext()`` with ``prec = 34``."""
    add = _ARITH.add
    total = start
    for value in values:
        total = add(total, value)
    return total


def net_from_gross(gross: Decimal, rate_percent: Decimal) -> tuple[Decimal, Decimal]:
    """B2C back-calculation: (net, VAT) with net = round(gross / (1 + rate)), VAT = gross - net."""
    gross = round_amount(gross)
    net = round_amount(_ARITH.divide(gross, gross_divisor(rate_percent)))
    return net, _ARITH.subtract(gross, net)


def fmt(value: Decimal | None) -> str | None:
    """Serialise an amount as a string with exactly 2 decimals (amounts leave the system as strings).

    Amounts are rounded to the cent already, and the text of a Decimal of two decimals is
    its rounded text: ``str`` shows exactly -exponent digits after the point (and never a point
    in exponent notation), so a text ending in a point and two digits has exponent -2, which
    ``quantize`` leaves as it is; at most 34 characters also keeps the coefficient within the
    34 digits ``quantize`` may return. Any other value is rounded first, as ever.
    """
    if value is None:
        return None
    if type(value) is Decimal:  # (a subclass may show itself otherwise)
        text = str(value)
        if text[-3:-2] == "." and len(text) <= 34:
            return text
    return str(value.quantize(CENT, ROUND_HALF_UP, _CONTEXT))  # round_amount, inlined (hot: to_json)


def _fmt_rounded(value: Decimal) -> str:
    """What ``fmt`` gives (its specification): the amount rounded to the cent, as text."""
    return str(value.quantize(CENT, ROUND_HALF_UP, _CONTEXT))


def fmt_exact(value: Decimal | None) -> str | None:
    """Serialise a quantity or unit price without losing digits and without exponent notation."""
    if value is None:
        return None
    # a Decimal's str is its format "f" unless it uses exponent notation, and cheaper
    text = str(value) if type(value) is Decimal else format(value, "f")
    if "E" in text:
        text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".") or "0"
    return text


_CONSTANT_TEXTS: dict[int, tuple[object, str | None]] = {}
_CONSTANT_TEXTS_LIMIT = 1024


def fmt_exact_constant(value: Decimal | None) -> str | None:
    """``fmt_exact`` of a configuration constant (a VAT rate): the same object for every CDR,
    so its text is remembered per object (``remembered_for``: a Decimal is immutable, so one
    object always has one text)."""
    if value is None:
        return None
    return remembered_for(_CONSTANT_TEXTS, value, fmt_exact, _CONSTANT_TEXTS_LIMIT)
