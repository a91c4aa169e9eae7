"""VAT for a set of priced lines: once per rate on the summed nets (EN 16931 BR-CO-17), then
shared back onto the lines so that every line's incl_vat adds up to the totals.

The sharing is a largest-remainder allocation: each line gets its VAT rounded down to the cent
and the cents still missing go to the lines with the largest remainders (earliest first on a
tie). It never changes the VAT per rate, only where its cents are shown.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Sequence

from engine.money import CENT, HUNDRED, round_amount, vat_amount
from engine.pricing.result import VatLine

ZERO = Decimal(0)


def vat_lines(nets: Sequence[tuple[Decimal, Decimal | None]]) -> list[VatLine]:
    """(net, rate%) pairs to one VatLine per rate in first-seen order; rate None = no VAT."""
    sums: dict[Decimal | None, Decimal] = {}
    for net, rate in nets:
        sums[rate] = sums.get(rate, ZERO) + net
    return [VatLine(rate, round_amount(total), vat_amount(total, rate) if rate is not None else Decimal("0.00"))
            for rate, total in sums.items()]


def vat_and_shares(nets: Sequence[tuple[Decimal, Decimal | None]]) -> tuple[list[VatLine], list[Decimal]]:
    """``vat_lines(nets)`` and ``allocate(nets, those lines)``, for a caller in a prec-50
    context (``price._money``); one rate for every pair (the usual case) goes the short way.

    Why the short way is exact: ``vat_lines`` would sum the nets from ZERO in pair order in the
    caller's context and key the one line by the first rate seen (rates equal as numbers share
    a line); here the same additions and the same VatLine. ``allocate`` would start every
    share at "0.00" and, for a rate that is not None, let ``_share_rate`` overwrite them in a
    copy of the caller's context, which at prec 50 is the same arithmetic as the caller's own.
    """
    if nets:
        rate = nets[0][1]
        if all(r == rate for _, r in nets):
            total = ZERO
            for net, _ in nets:
                total = total + net
            shares = [Decimal("0.00")] * len(nets)
            if rate is None:
                return [VatLine(None, round_amount(total), Decimal("0.00"))], shares
            line = VatLine(rate, round_amount(total), vat_amount(total, rate))
            _share_rate(nets, line, shares)
            return [line], shares
    lines = vat_lines(nets)
    return lines, allocate(nets, lines)


def allocate(nets: Sequence[tuple[Decimal, Decimal | None]], lines: Sequence[VatLine]) -> list[Decimal]:
    """The VAT share of each (net, rate) pair; shares of one rate sum to that rate's VAT."""
    shares = [Decimal("0.00")] * len(nets)
    with localcontext() as ctx:
        ctx.prec = 50
        for line in lines:
            if line.rate is not None:
                _share_rate(nets, line, shares)
    return shares


def _share_rate(nets: Sequence[tuple[Decimal, Decimal | None]], line: VatLine, shares: list[Decimal]) -> None:
    """Share one rate's VAT onto its pairs (in ``shares``), in the caller's prec-50 context.

    Lists by position among the rate's pairs (which are in pair order, so a tie on the
    remainder still goes to the earliest pair); the remainders are only sorted when some but
    not all pairs get a missing cent (or, never seen, more cents than pairs are missing).
    """
    rate = line.rate
    idx = [i for i, (_, r) in enumerate(nets) if r == rate]
    exact = [nets[i][0] * rate / HUNDRED for i in idx]
    floor = [e.quantize(CENT, ROUND_FLOOR) for e in exact]
    missing = int(((line.vat - sum(floor, ZERO)) / CENT).to_integral_value())
    if missing <= 0:
        for i, f in zip(idx, floor):
            shares[i] = f + ZERO
        return
    if missing == len(idx):  # every pair gets a cent
        order = list(range(len(idx)))
    else:
        order = sorted(range(len(idx)), key=lambda k: (-(exact[k] - floor[k]), k))
    for n, k in enumerate(order):
        shares[idx[k]] = floor[k] + (CENT if n < missing else ZERO)
    if missing > len(order):  # cannot happen with rounding half up; keep totals right anyway
        shares[idx[order[-1]]] += CENT * (missing - len(order))
