"""A CDR whose numbers are beyond what pricing can compute goes to the exception queue, named.

Pricing computes at 34 significant digits (engine.money) and keeps volumes to 12 decimal places,
so a volume of 1E+29 hours or a price of 1E+400 cannot be priced at all: ``quantize`` raises
InvalidOperation, a step-size rounding overflows. The schema accepts such numbers (OCPI numbers
have no stated bound) and no real session comes near them, so rather than bound every number at
intake (a comparison per number on every CDR) pricing lets the arithmetic fail and says why here:
the fields of the CDR that are out of range, or, if none is, what failed. One such CDR then costs
one entry in the exception queue instead of stopping a batch.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator

from engine.problems import Problem, join_path

NUMBER_OUT_OF_RANGE = "NUMBER_OUT_OF_RANGE"
LARGEST_EXPONENT = 11  # |x| < 1E+12: the largest magnitude a CDR number may have to be priced
SHOWN = 3


def out_of_range_problem(cdr: Any, exc: ArithmeticError) -> Problem:
    """The Problem for a CDR whose pricing raised ``exc``, naming the CDR's numbers that are too large."""
    found = list(_too_large(cdr, ""))
    if found:
        shown = "; ".join(f"{path} is {value}" for path, value in found[:SHOWN])
        more = f" (and {len(found) - SHOWN} more)" if len(found) > SHOWN else ""
        return Problem(NUMBER_OUT_OF_RANGE, f"{shown}{more}: numbers in a CDR must be below 1E+12 in size "
                       "to be priced (no charging session comes near that)", path=found[0][0])
    return Problem(NUMBER_OUT_OF_RANGE, "the price could not be computed from this CDR's numbers and its "
                   f"tariff or plan ({type(exc).__name__}); no CDR number is beyond 1E+12, so check the "
                   "prices and step sizes of the tariff or plan that applies")


def _too_large(value: Any, path: str) -> Iterator[tuple[str, Decimal | int]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _too_large(item, join_path(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _too_large(item, join_path(path, index))
    elif isinstance(value, Decimal):
        if not value.is_finite() or value.adjusted() > LARGEST_EXPONENT:
            yield path, value
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** (LARGEST_EXPONENT + 1):
        yield path, value
