"""step_size, as the 2.2.1 bugfix branch says it (mod_cdrs "step_size", mod_tariffs PriceComponent).

* Applied once per session to the session TOTAL of a dimension, never per period and never when
  switching from one element to another: ENERGY in Wh, TIME/PARKING_TIME in seconds.
* TIME and PARKING_TIME are one group: the step is applied once, to the dimension of the last
  time-based period that was priced, and only to the total of *that* dimension ("the charging
  duration is not rounded up, as it is followed by another time based period").
* The step_size used is the one of the last relevant price component, and the rounded-up extra
  is billed at that component's price (mod_tariffs "switching to different Tariff Element" #1
  = 0.55, #2 = 1.30, "switching to Free-of-Charge Tariff Element" = 0.73).
* Reservation time (priced with the TIME component of a reservation element) is its own group.
* Only volume that is priced counts: time in which no element had a component for the dimension
  is not billable and is not part of the total ("The total of billable parking time ...").

Energy is compared in Wh quantised to 1e-6 so that noise from splitting periods never pushes an
exact multiple of the step to the next one. Time is first rounded to the nearest whole second:
OCPI carries hours with 4 decimals (0.36 s resolution), so 97 minutes arrive as 1.6167 h =
5820.12 s, and rounding that fraction *up* to a 60 s step would bill a 98th minute nobody used.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal
from typing import Hashable, Iterable, NamedTuple

UNIT_FACTOR = {"ENERGY": Decimal(1000), "TIME": Decimal(3600), "PARKING_TIME": Decimal(3600),
               "RESERVATION_TIME": Decimal(3600)}
GROUPS = (("ENERGY",), ("TIME", "PARKING_TIME"), ("RESERVATION_TIME",))
_BASE_QUANTUM = {"ENERGY": Decimal("0.000001"), "TIME": Decimal(1), "PARKING_TIME": Decimal(1),
                 "RESERVATION_TIME": Decimal(1)}
ZERO = Decimal(0)
_GROUP_OF = {dimension: g for g, group in enumerate(GROUPS) for dimension in group}
# The arithmetic of a ``localcontext()`` with ``prec = 50`` (the default context otherwise), as
# methods of one context: the same results without entering and leaving a context per call.
_C50 = Context(prec=50)


class StepInput(NamedTuple):
    """One priced slice of a session, in time order: what step_size needs to know about it.

    A NamedTuple rather than a frozen dataclass: pricing makes one per priced slice of every
    CDR and only reads it back here (a tuple is made at a fraction of a frozen __init__'s cost)."""

    key: Hashable        # the component it belongs to
    dimension: str       # ENERGY | TIME | PARKING_TIME | RESERVATION_TIME
    volume: Decimal      # in OCPI units (kWh, hours)
    step_size: int       # of the price component that priced it


class StepResult(NamedTuple):
    """A group's billable total before and after its step, and the component that gets the extra
    (a NamedTuple for the same reason as StepInput)."""

    key: Hashable
    dimension: str
    total: Decimal        # billable total of the dimension (OCPI units)
    billed_total: Decimal
    step_size: int

    @property
    def extra(self) -> Decimal:
        return self.billed_total - self.total


def round_up(volume: Decimal, dimension: str, step: int) -> Decimal:
    """Round a total up to the smallest multiple of ``step`` base units (Wh, s) not below it."""
    factor = UNIT_FACTOR[dimension]
    base = _C50.multiply(volume, factor).quantize(_BASE_QUANTUM[dimension], ROUND_HALF_UP, _C50)  # (positional)
    if base <= 0 or step <= 0:
        return volume
    steps = _C50.divide(base, step).to_integral_value(ROUND_CEILING, _C50)
    billed = _C50.multiply(steps, step)
    if billed == base:
        return volume
    return _C50.divide(billed, factor)


def apply_step_sizes(slices: Iterable[StepInput]) -> list[StepResult]:
    """One StepResult per group that has priced volume; its ``extra`` goes to ``key``."""
    by_group: dict[int, list[StepInput]] = {}  # the slices of each group, in order (one pass)
    for s in slices:
        g = _GROUP_OF.get(s.dimension)
        if g is not None and s.volume != 0:
            by_group.setdefault(g, []).append(s)
    out: list[StepResult] = []
    for g in sorted(by_group):
        mine = by_group[g]
        last = mine[-1]
        total = ZERO
        for s in mine:
            if s.dimension == last.dimension:
                total = _C50.add(total, s.volume)
        out.append(StepResult(last.key, last.dimension, total, round_up(total, last.dimension, last.step_size),
                              last.step_size))
    return out
