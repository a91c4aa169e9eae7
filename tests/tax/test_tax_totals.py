from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings, strategies as st

from engine.money import line_net, net_from_gross, round_amount, vat_amount
from engine.tax.totals import allocate_nets, document_totals, settle_nets

D = Decimal


@dataclass(frozen=True)
class L:
    net: Decimal
    tax_rate: Decimal
    tax_class: str = "S"
    tax_treatment: str = "domestic"
    gross: Decimal | None = None

    def neg(self):
        return L(-self.net, self.tax_rate, self.tax_class, self.tax_treatment,
                 None if self.gross is None else -self.gross)


rates = st.sampled_from([D(r) for r in ("0", "7", "10", "16", "19", "20", "21", "25.5")])
nets = st.decimals(min_value=D("0"), max_value=D("5000"), places=2, allow_nan=False, allow_infinity=False)
signed = st.decimals(min_value=D("-5000"), max_value=D("5000"), places=2, allow_nan=False, allow_infinity=False)
lines = st.lists(st.builds(L, nets, rates), min_size=1, max_size=12)


def test_vat_on_the_sum_not_per_line():
    # 3 x 0.03 at 19 %: per line 0.0057 -> 0.01, three times 0.03; on the sum 0.09 x 19 % = 0.0171 -> 0.02.
    doc = document_totals([L(D("0.03"), D(19))] * 3)
    assert doc.vat_total == D("0.02") and doc.line_total == D("0.09") and doc.incl_vat == D("0.11")


def test_groups_per_class_and_rate_with_notes():
    doc = document_totals([L(D("10"), D(19)), L(D("5"), D(0), "AE", "reverse_charge"), L(D("1.5"), D(19))],
                          notes={"reverse_charge": "Steuerschuldnerschaft des Leistungsempfängers"})
    groups = {(g.tax_class, g.rate): g for g in doc.groups}
    assert groups[("S", D(19))].taxable == D("11.50") and groups[("S", D(19))].vat == D("2.19")
    assert groups[("AE", D(0))].vat == D("0.00") and groups[("AE", D(0))].note.startswith("Steuerschuld")
    assert doc.to_json() == {"excl_vat": "16.50", "vat": "2.19", "incl_vat": "18.69"}


def test_gross_document_back_calculates_per_rate():
    grosses = [D("9.99"), D("4.51"), D("0.01")]
    lines = [L(D(0), D(19), gross=g) for g in grosses]
    settled = [L(n, D(19), gross=g) for n, g in zip(settle_nets(lines, True), grosses)]
    doc = document_totals(settled, prices_include_vat=True)
    net, vat = net_from_gross(sum(grosses), D(19))
    assert doc.line_total == net and doc.vat_total == vat and doc.incl_vat == sum(grosses)


@given(lines)
def test_incl_is_never_below_excl_for_non_negative_prices(ls):
    doc = document_totals(ls)
    assert doc.incl_vat >= doc.excl_vat >= 0


@given(lines)
def test_vat_per_rate_is_rate_times_summed_nets_rounded_once(ls):
    doc = document_totals(ls)
    for g in doc.groups:
        summed = sum((line.net for line in ls if line.tax_rate == g.rate), D(0))
        assert g.taxable == summed
        assert g.vat == round_amount(summed * g.rate / 100) == vat_amount(summed, g.rate)
    assert doc.vat_total == sum((g.vat for g in doc.groups), D(0))


@given(st.lists(st.builds(L, signed, rates), min_size=1, max_size=12))
def test_negated_lines_give_exactly_negated_totals(ls):
    doc, neg = document_totals(ls), document_totals([line.neg() for line in ls])
    assert (neg.line_total, neg.vat_total, neg.incl_vat) == (-doc.line_total, -doc.vat_total, -doc.incl_vat)
    assert [(g.rate, g.taxable, g.vat) for g in neg.groups] == [(g.rate, -g.taxable, -g.vat) for g in doc.groups]


@settings(max_examples=200)
@given(st.lists(signed, min_size=1, max_size=10), rates)
def test_allocated_nets_sum_to_the_back_calculated_net_and_negate_exactly(grosses, rate):
    alloc = allocate_nets(grosses, rate)
    assert sum(alloc, D(0)) == net_from_gross(sum(grosses, D(0)), rate)[0]
    assert allocate_nets([-g for g in grosses], rate) == [-n for n in alloc]
    for g, n in zip(grosses, alloc):  # each line within a cent or so of its own back-calculation
        assert abs(n - round_amount(g / (1 + rate / 100))) <= D("0.01") * len(grosses)


@given(st.lists(st.builds(L, nets, rates), min_size=1, max_size=8))
def test_gross_documents_negate_exactly(ls):
    gross_lines = [L(D(0), line.tax_rate, gross=line_net(line.net, D(1))) for line in ls]
    settled = [L(n, g.tax_rate, gross=g.gross) for n, g in zip(settle_nets(gross_lines, True), gross_lines)]
    negated = [line.neg() for line in settled]
    a, b = document_totals(settled, prices_include_vat=True), document_totals(negated, prices_include_vat=True)
    assert (b.line_total, b.vat_total) == (-a.line_total, -a.vat_total)
    assert a.incl_vat == sum((g.gross for g in gross_lines), D(0))


def _allocate_in_a_context(grosses, rate):
    """The allocation worked out step by step inside localcontext(prec=34) (the reference)."""
    from decimal import localcontext

    from engine.money import CENT, round_amount
    with localcontext() as ctx:
        ctx.prec = 34
        divisor = 1 + rate / 100
        target = round_amount(round_amount(sum(grosses, D("0.00"))) / divisor)
        nets = [round_amount(g / divisor) for g in grosses]
        by_size = sorted(range(len(grosses)), key=lambda i: (-abs(grosses[i]), i))
        k = 0
        while sum(nets, D("0.00")) != target:
            nets[by_size[k % len(by_size)]] += CENT if target > sum(nets, D("0.00")) else -CENT
            k += 1
    return nets


def test_allocation_outside_a_context_is_the_allocation_inside_one():
    import random
    rnd = random.Random(5)
    for _ in range(2000):
        rate = rnd.choice([D("19"), D("25.5"), D("0"), D("7"), D("16")])
        grosses = [D(rnd.randint(-50000, 50000)) / 100 for _ in range(rnd.randint(1, 5))]
        got, want = allocate_nets(grosses, rate), _allocate_in_a_context(grosses, rate)
        assert got == want and [str(n) for n in got] == [str(n) for n in want], (grosses, rate)


def _outcome(fn):
    try:
        return repr(fn())
    except Exception as exc:  # noqa: BLE001 - the same failure is part of the same result
        return type(exc).__name__


def _random_lines(rnd, size):
    """Lines as pricing makes them (one treatment's objects) and as it never does (equal but
    distinct objects, a second group, odd values), so that both paths are taken."""
    rate, tax_class = rnd.choice([D("19"), D("0"), D("25.5"), D("7"), D("NaN")]), rnd.choice(["S", "AE", "O"])
    values = ["0.00", "-0.00", "0", "0.1", "19.99", "-3.33", "5E+2", "1E+30", "9.999E+33", "1E+999998", "-1.005"]
    out = []
    for _ in range(size):
        net = D(rnd.choice(values)) if rnd.random() < 0.3 else D(rnd.randint(-50000, 50000)) / 100
        gross = None if rnd.random() < 0.05 else net * D("1.19")
        line_rate, line_class = rate, tax_class
        pick = rnd.random()
        if pick < 0.1:
            line_rate = D(str(rate))           # equal, another object
        elif pick < 0.15:
            line_rate = D("7")
        elif pick < 0.2:
            line_class = "".join(["S"])        # equal, another object
        elif pick < 0.22:
            line_rate = D("sNaN")
        elif pick < 0.24:
            line_class = ["S"]                 # not hashable
        out.append(L(net, line_rate, line_class, rnd.choice(["domestic", "export"]), gross))
    return out


def test_one_group_totals_are_the_grouped_totals():
    """document_totals' one-group path against _grouped_totals (the specification): the same
    totals, field by field and digit by digit, or the same failure."""
    import random
    from engine.tax.totals import _grouped_totals
    rnd = random.Random(7)
    fast = 0
    for _ in range(6000):
        lines = _random_lines(rnd, rnd.randint(1, 4))
        gross = rnd.random() < 0.5
        notes = rnd.choice([None, {}, {"domestic": "n", "export": None}])
        countries = rnd.choice([None, {"domestic": "DE"}])
        got = _outcome(lambda: document_totals(lines, prices_include_vat=gross, notes=notes, countries=countries))
        want = _outcome(lambda: _grouped_totals(lines, gross, notes, countries))
        assert got == want, (lines, gross)
        fast += all(ln.tax_rate is lines[0].tax_rate and ln.tax_class is lines[0].tax_class for ln in lines)
    assert fast > 2000  # the one-group path was taken often
    assert document_totals([]) == _grouped_totals([], False, None, None)


def test_one_group_nets_are_the_grouped_nets():
    """settle_nets' one-group path against _grouped_nets (the specification), digit by digit."""
    import random
    from engine.tax.totals import _grouped_nets
    rnd = random.Random(11)
    for _ in range(6000):
        lines = _random_lines(rnd, rnd.randint(1, 4))
        assert _outcome(lambda: settle_nets(lines, True)) == _outcome(lambda: _grouped_nets(lines)), lines
    assert settle_nets([], True) == _grouped_nets([]) == []


def test_remembered_gross_divisors_are_worked_out_ones():
    from decimal import localcontext

    from engine.money import gross_divisor
    for text in ("19", "19.0", "25.5", "0", "7.7", "-5", "1E+40", "NaN"):
        for rate in (D(text), D(text)):
            with localcontext() as ctx:
                ctx.prec = 34
                want = 1 + rate / 100
            assert repr(gross_divisor(rate)) == repr(gross_divisor(rate)) == repr(want), text
