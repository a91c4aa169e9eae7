"""engine/pricing/vat.py: VAT per rate once, shared back onto lines."""

from __future__ import annotations

from decimal import Decimal as D, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.pricing.vat import allocate, vat_and_shares, vat_lines


def test_vat_lines_per_rate_in_first_seen_order():
    nets = [(D("2.50"), D(15)), (D("2.75"), D(20)), (D("3.75"), D(10)), (D("1.00"), None)]
    lines = vat_lines(nets)
    assert [(l.rate, l.net, l.vat) for l in lines] == [
        (D(15), D("2.50"), D("0.38")), (D(20), D("2.75"), D("0.55")), (D(10), D("3.75"), D("0.38")),
        (None, D("1.00"), D("0.00"))]


def test_allocation_adds_up_and_goes_to_largest_remainders():
    nets = [(D("0.05"), D(19)), (D("0.05"), D(19)), (D("0.05"), D(19)), (D("1.00"), None)]
    shares = allocate(nets, vat_lines(nets))
    assert sum(shares[:3]) == D("0.03") and shares[3] == 0
    assert shares[:3] == [D("0.01"), D("0.01"), D("0.01")]
    nets = [(D("0.10"), D(19)), (D("0.04"), D(19))]
    assert allocate(nets, vat_lines(nets)) == [D("0.02"), D("0.01")]  # 0.019 / 0.0076 -> total 0.0266 -> 0.03


def test_negative_nets():
    nets = [(D("-0.05"), D(19)), (D("0.50"), D(19))]
    shares = allocate(nets, vat_lines(nets))
    assert sum(shares) == vat_lines(nets)[0].vat == D("0.09")


def test_a_tie_on_the_remainder_goes_to_the_earliest_line():
    nets = [(D("0.10"), D(15)), (D("0.01"), D(15)), (D("0.10"), D(15))]  # 0.015, 0.0015, 0.015 -> 0.03
    assert allocate(nets, vat_lines(nets)) == [D("0.02"), D("0.00"), D("0.01")]


def test_every_line_a_cent_and_lines_without_one_keep_their_floor():
    nets = [(D("0.05"), D(19)), (D("0.05"), D(19)), (D("2.00"), D(7))]  # 2 x 0.0095 -> 0.02; 0.14 exactly
    assert [str(s) for s in allocate(nets, vat_lines(nets))] == ["0.01", "0.01", "0.14"]


def test_more_missing_cents_than_lines_go_to_the_smallest_remainder():
    from engine.pricing.result import VatLine
    nets = [(D("0.10"), D(19)), (D("0.04"), D(19))]  # remainders 0.009 and 0.0076
    assert allocate(nets, [VatLine(D(19), D("0.14"), D("0.05"))]) == [D("0.02"), D("0.03")]


# vat_and_shares (one rate: the short way) against vat_lines + allocate, in _money's prec-50 context
_RATES = st.sampled_from([None, D(0), D(19), D("19.0"), D("19.00"), D("7.7"), D(20), D("5.5"), D(-10), D("1E+1")])
_NETS = st.one_of(st.integers(-100000, 100000).map(lambda n: D(n) / 100),
                  st.sampled_from([D(0), D("0.00"), D("-0.00"), D("1E+2"), D("1E+30"), D("123456789012345678901234567.89"),
                                   D("0.005"), D("1.2345")]))


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(_NETS, _RATES), max_size=5), st.booleans())
def test_vat_and_shares_is_vat_lines_and_allocate(pairs, one_rate):
    nets = [(net, pairs[0][1]) for net, _ in pairs] if one_rate and pairs else pairs
    with localcontext() as ctx:
        ctx.prec = 50
        lines, shares = vat_and_shares(nets)
        general = vat_lines(nets)
        assert repr((lines, shares)) == repr((general, allocate(nets, general)))
