"""engine/memo.py: computed once per key, bounded by clearing."""

from engine.memo import remembered


def test_computed_once_per_key_and_cleared_when_full():
    memo: dict = {}
    calls = []

    def compute(k):
        calls.append(k)
        return k * 2

    assert remembered(memo, 1, lambda: compute(1), 2) == 2
    assert remembered(memo, 1, lambda: compute(1), 2) == 2
    assert calls == [1]
    remembered(memo, 2, lambda: compute(2), 2)
    assert remembered(memo, 3, lambda: compute(3), 2) == 6  # full: cleared first
    assert memo == {3: 6} and calls == [1, 2, 3]


def test_remembered_for_an_object_not_for_an_equal_one():
    from decimal import Decimal

    from engine.memo import remembered_for
    memo: dict = {}
    calls = []

    def text(value):
        calls.append(value)
        return str(value)

    a, b = Decimal("0.40"), Decimal("0.40")
    assert remembered_for(memo, a, text, 4) == "0.40"
    assert remembered_for(memo, a, text, 4) == "0.40"
    assert calls == [a]
    assert remembered_for(memo, b, text, 4) == "0.40" and len(calls) == 2  # equal, another object
    c = Decimal("0.4")
    assert remembered_for(memo, c, text, 4) == "0.4"  # equal value, other digits: its own answer
    for i in range(4):
        remembered_for(memo, Decimal(i), text, 4)
    assert len(memo) <= 4  # bounded: cleared when full
    assert all(memo[key][0] is not None and id(memo[key][0]) == key for key in memo)


def test_remembered_for_a_pair_of_objects():
    from decimal import Decimal

    from engine.memo import remembered_for_pair
    memo: dict = {}
    calls = []

    def quotient(a, b):
        calls.append((a, b))
        return a / b

    price, rate, other = Decimal("0.52"), Decimal("1.2"), Decimal("1.2")
    assert remembered_for_pair(memo, price, rate, quotient, 4) == remembered_for_pair(memo, price, rate, quotient, 4)
    assert len(calls) == 1
    remembered_for_pair(memo, price, other, quotient, 4)
    remembered_for_pair(memo, rate, price, quotient, 4)  # the order counts
    assert len(calls) == 3
    for i in range(1, 6):
        remembered_for_pair(memo, Decimal(i), rate, quotient, 4)
    assert len(memo) <= 4
