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
