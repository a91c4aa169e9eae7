"""EN 16931 document totals, computed one way for every document cdrflow issues.

* Line nets are 2 dp (``engine.money.line_net``); they are summed, never re-rounded.
* VAT is computed per VAT category and rate on the SUM of the nets in that group, rounded once
  (BR-CO-17). Per-line VAT would differ by a cent now and then — the "one-cent difference
  between invoice and credit note" users complain about.
* B2C documents priced gross (plans quoted incl. VAT): per group the gross is fixed, net =
  round(gross / (1 + rate)) and VAT = gross - net (``engine.money.net_from_gross``). The group
  net is then shared onto the lines (largest remainder) so that the line nets still add up.
* Every line carries its tax class (EN 16931 category) and treatment; a group is one
  (tax class, rate).

Rounding half up is symmetric (-x rounds to -(round x)), and the allocation is ordered by
magnitude, so a credit document built from the negated lines has exactly the negated totals.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Any, Iterable, Protocol, Sequence

from engine.frozen import frozen
from engine.money import (
    CENT, exact_difference, exact_quotient, exact_sum, fmt, fmt_exact_constant, gross_divisor, net_from_gross, round_amount,
    vat_amount,
)

ZERO = Decimal("0.00")


class TaxedLine(Protocol):
    net: Decimal
    gross: Decimal | None
    tax_rate: Decimal
    tax_class: str
    tax_treatment: str


@frozen
class TaxGroup:
    """One VAT breakdown entry (EN 16931 BG-23)."""

    tax_class: str        # BT-118
    rate: Decimal         # BT-119
    taxable: Decimal      # BT-116, sum of line nets
    vat: Decimal          # BT-117
    treatment: str
    note: str | None = None        # BT-120 exemption reason / reverse-charge wording
    country: str | None = None

    def negated(self) -> "TaxGroup":
        return TaxGroup(self.tax_class, self.rate, -self.taxable, -self.vat, self.treatment, self.note, self.country)

    def to_json(self) -> dict[str, Any]:
        return {"tax_class": self.tax_class, "rate": fmt_exact_constant(self.rate), "taxable": fmt(self.taxable),
                "vat": fmt(self.vat), "treatment": self.treatment, "note": self.note, "country": self.country}


@frozen
class DocumentTotals:
    line_total: Decimal        # BT-106
    vat_total: Decimal         # BT-110
    groups: tuple[TaxGroup, ...]

    @property
    def excl_vat(self) -> Decimal:   # BT-109 (no document-level allowances or charges)
        return self.line_total

    @property
    def incl_vat(self) -> Decimal:   # BT-112
        return self.line_total + self.vat_total

    def to_json(self) -> dict[str, Any]:
        line_total, vat_total = self.line_total, self.vat_total  # excl_vat and incl_vat, inlined
        return {"excl_vat": fmt(line_total), "vat": fmt(vat_total), "incl_vat": fmt(line_total + vat_total)}


def _group_key(line: TaxedLine) -> tuple[str, Decimal]:
    return (line.tax_class, line.tax_rate)


def allocate_nets(grosses: Sequence[Decimal], rate: Decimal) -> list[Decimal]:
    """Nets for gross-priced lines of ONE group: they sum to net_from_gross(sum of grosses).

    Each line starts at round(gross / (1 + rate)); the cents still missing (or too many) go to
    the lines with the largest gross first, then the earliest. Ordering by magnitude makes the
    allocation of negated grosses exactly the negated allocation.
    """
    if not grosses:
        return []
    target, _ = net_from_gross(sum(grosses, ZERO), rate)
    # the arithmetic of localcontext(prec=34), through engine.money's context: entering a context
    # per B2C session cost more than the division; only a cent to share out takes the block
    divisor = gross_divisor(rate)
    nets = [round_amount(exact_quotient(g, divisor)) for g in grosses]
    missing = exact_difference(target, exact_sum(nets, ZERO))
    if not missing:
        return nets
    with localcontext() as ctx:
        ctx.prec = 34
        steps = int((abs(missing) / CENT).to_integral_value(rounding=ROUND_DOWN))
        step = CENT if missing > 0 else -CENT
        order = sorted(range(len(grosses)), key=lambda i: (-abs(grosses[i]), i))
        for n in range(steps):
            nets[order[n % len(order)]] += step
    return nets


def settle_nets(lines: Sequence[TaxedLine], prices_include_vat: bool) -> list[Decimal]:
    """The net of every line: as priced for net documents, allocated from gross for gross ones."""
    if not prices_include_vat:
        return [line.net for line in lines]
    one_group = _one_group_nets(lines)
    return one_group if one_group is not None else _grouped_nets(lines)


def _grouped_nets(lines: Sequence[TaxedLine]) -> list[Decimal]:
    """The nets of any gross lines (the specification ``_one_group_nets`` follows)."""
    nets: list[Decimal] = [ZERO] * len(lines)
    groups: dict[tuple[str, Decimal], list[int]] = {}
    for i, line in enumerate(lines):
        if line.gross is None:
            raise ValueError("a gross-priced document needs a gross amount on every line")
        groups.setdefault(_group_key(line), []).append(i)
    for (_, rate), idx in groups.items():
        for i, net in zip(idx, allocate_nets([lines[i].gross for i in idx], rate)):
            nets[i] = net
    return nets


def _one_group_nets(lines: Sequence[TaxedLine]) -> list[Decimal] | None:
    """``settle_nets`` of gross lines that all carry the first line's tax class and rate objects,
    else None: they are one group (see ``_one_group_totals`` why), allocated in line order."""
    if not lines:
        return None
    tax_class, rate = lines[0].tax_class, lines[0].tax_rate
    if type(tax_class) is not str or type(rate) is not Decimal or rate.is_snan():
        return None
    grosses = []
    for line in lines:
        if line.tax_class is not tax_class or line.tax_rate is not rate:
            return None
        if line.gross is None:
            raise ValueError("a gross-priced document needs a gross amount on every line")
        grosses.append(line.gross)
    return allocate_nets(grosses, rate)


def document_totals(lines: Iterable[TaxedLine], *, prices_include_vat: bool = False,
                    notes: dict[str, str | None] | None = None,
                    countries: dict[str, str | None] | None = None) -> DocumentTotals:
    """Totals and VAT breakdown of settled lines (nets already 2 dp).

    ``notes``/``countries`` map a treatment to the note / country shown on its groups.
    """
    lines = list(lines)
    one_group = _one_group_totals(lines, prices_include_vat, notes, countries) if lines else None
    if one_group is not None:
        return one_group
    return _grouped_totals(lines, prices_include_vat, notes, countries)


def _grouped_totals(lines: list[TaxedLine], prices_include_vat: bool, notes: dict[str, str | None] | None,
                    countries: dict[str, str | None] | None) -> DocumentTotals:
    """The totals of any lines (the specification ``_one_group_totals`` follows)."""
    sums: dict[tuple[str, Decimal], list[Decimal]] = {}
    treatment_of: dict[tuple[str, Decimal], str] = {}
    for line in lines:
        key = (line.tax_class, line.tax_rate)  # _group_key, inlined: every priced CDR passes here
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [ZERO, ZERO]
            treatment_of[key] = line.tax_treatment
        acc[0] += line.net
        if prices_include_vat:
            if line.gross is None:
                raise ValueError("a gross-priced document needs a gross amount on every line")
            acc[1] += line.gross
    notes = notes or {}
    countries = countries or {}
    groups = []
    for key, (net, gross) in sums.items():
        tax_class, rate = key
        vat = (gross - net) if prices_include_vat else vat_amount(net, rate)
        treatment = treatment_of[key]
        groups.append(TaxGroup(tax_class, rate, round_amount(net), vat, treatment,
                               notes.get(treatment), countries.get(treatment)))
    line_total = round_amount(sum([line.net for line in lines], ZERO))
    vat_total = sum([g.vat for g in groups], ZERO)
    return DocumentTotals(line_total, vat_total, tuple(groups))


def _one_group_totals(lines: list[TaxedLine], prices_include_vat: bool, notes: dict[str, str | None] | None,
                      countries: dict[str, str | None] | None) -> DocumentTotals | None:
    """``_grouped_totals`` of lines that all carry the first line's tax class and rate objects
    (the lines of a session document all take them from its one TaxTreatment), else None.

    Why it is the same: a str class and a Decimal rate that is not a signalling NaN make a key
    that hashes, and the same objects always fall in one group, whose key and treatment are the
    first line's; its net is the same additions from ZERO in the same (current) context as the
    line total's sum, so the line total is the group's rounded net; the VAT total is still
    ZERO + the group's VAT (which fixes the sign of a zero). The operations that can raise
    (additions, the VAT, the rounding) come in the same order, so a failure is the same, too.
    """
    first = lines[0]
    tax_class, rate = first.tax_class, first.tax_rate
    if type(tax_class) is not str or type(rate) is not Decimal or rate.is_snan():
        return None
    net = gross = ZERO
    for line in lines:
        if line.tax_class is not tax_class or line.tax_rate is not rate:
            return None
        net += line.net
        if prices_include_vat:
            if line.gross is None:
                raise ValueError("a gross-priced document needs a gross amount on every line")
            gross += line.gross
    vat = (gross - net) if prices_include_vat else vat_amount(net, rate)
    treatment = first.tax_treatment
    taxable = round_amount(net)
    group = TaxGroup(tax_class, rate, taxable, vat, treatment, notes.get(treatment) if notes else None,
                     countries.get(treatment) if countries else None)
    return DocumentTotals(taxable, ZERO + vat, (group,))
