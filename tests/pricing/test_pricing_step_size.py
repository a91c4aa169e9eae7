"""engine/pricing/step_size.py unit tests."""

from __future__ import annotations

from decimal import Decimal as D

from engine.pricing.step_size import StepInput, apply_step_sizes, round_up


def test_round_up_units():
    assert round_up(D("0.1152"), "ENERGY", 1) == D("0.116")
    assert round_up(D("0.1152"), "ENERGY", 25) == D("0.125")
    assert round_up(D("1.973"), "TIME", 300) == D("2")
    assert round_up(D("2"), "TIME", 300) == D("2")  # an exact multiple stays
    assert round_up(D(1) / 3, "PARKING_TIME", 1200) == D(1) / 3  # 1200 s despite the last digit
    assert round_up(D(0), "TIME", 300) == D(0)


def test_groups_and_last_component():
    slices = [StepInput("t1", "TIME", D("0.1"), 1800), StepInput("t2", "TIME", D("0.1"), 900),
              StepInput("p1", "PARKING_TIME", D(2) / 60, 900), StepInput("e1", "ENERGY", D("4.3"), 500),
              StepInput("e2", "ENERGY", D("1.1"), 500)]
    results = {r.key: r for r in apply_step_sizes(slices)}
    assert set(results) == {"p1", "e2"}
    assert results["p1"].billed_total == D("0.25") and results["p1"].dimension == "PARKING_TIME"
    assert results["e2"].total == D("5.4") and results["e2"].extra == D("0.1")


def test_zero_volume_slices_are_not_relevant():
    slices = [StepInput("t", "TIME", D("0.3"), 900), StepInput("p", "PARKING_TIME", D(0), 300)]
    (result,) = apply_step_sizes(slices)
    assert result.key == "t" and result.billed_total == D("0.5")
