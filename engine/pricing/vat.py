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


def allocate(nets: Sequence[tuple[Decimal, Decimal | None]], lines: Sequence[VatLine]) -> list[Decimal]:
    """The VAT share of each (net, rate) pair; shares of one rate sum to that rate's VAT."""
    shares = [Decimal("0.00")] * len(nets)
    with localcontext() as ctx:
        ctx.prec = 50
        for line in lines:
            if line.rate is None:
                continue
            idx = [i for i, (_, rate) in enumerate(nets) if rate == line.rate]
            exact = {i: nets[i][0] * line.rate / HUNDRED for i in idx}
            floor = {i: exact[i].quantize(CENT, rounding=ROUND_FLOOR) for i in idx}
            missing = int(((line.vat - sum(floor.values(), ZERO)) / CENT).to_integral_value())
            order = sorted(idx, key=lambda i: (-(exact[i] - floor[i]), i))
            for n, i in enumerate(order):
                bump = CENT if n < missing else ZERO
                shares[i] = floor[i] + bump
            if missing > len(order):  # cannot happen with rounding half up; keep totals right anyway
                shares[order[-1]] += CENT * (missing - len(order))
    return shares
