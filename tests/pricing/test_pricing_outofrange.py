"""engine/pricing/outofrange.py: which numbers of a CDR are too large to price, named by path."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from engine.pricing.outofrange import NUMBER_OUT_OF_RANGE, out_of_range_problem


def test_names_every_number_beyond_the_bound_the_first_as_the_path():
    cdr = {"total_energy": Decimal("999999999999"),           # just below 1E+12: fine
           "charging_periods": [{"dimensions": [{"type": "TIME", "volume": Decimal("1E+12")}]}],
           "tariffs": [{"elements": [{"price_components": [{"price": 10 ** 13, "step_size": 1}]}]}],
           "credit": True}
    problem = out_of_range_problem(cdr, InvalidOperation())
    assert problem.code == NUMBER_OUT_OF_RANGE
    assert problem.path == "charging_periods[0].dimensions[0].volume"
    assert "charging_periods[0].dimensions[0].volume is 1E+12" in problem.message
    assert "tariffs[0].elements[0].price_components[0].price is 10000000000000" in problem.message
    assert "total_energy" not in problem.message


def test_negative_and_non_finite_numbers_count():
    cdr = {"a": Decimal("-1E+15"), "b": Decimal("NaN"), "c": Decimal("-Infinity"), "d": [Decimal("1E+20")]}
    problem = out_of_range_problem(cdr, InvalidOperation())
    assert problem.path == "a"
    assert problem.message.startswith("a is -1E+15; b is NaN; c is -Infinity (and 1 more)")


def test_no_large_number_points_at_the_tariff_or_plan():
    problem = out_of_range_problem({"total_energy": Decimal("12.5"), "ok": True}, OverflowError())
    assert problem.code == NUMBER_OUT_OF_RANGE and problem.path == ""
    assert "OverflowError" in problem.message and "tariff or plan" in problem.message
