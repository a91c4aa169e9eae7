"""A bounded memo for pure, per-configuration answers asked again for every CDR.

Why one helper: several hot lookups (a tariff's version and row per day, a unit price's text)
give the same immutable answer for the same key. A plain dict that is cleared when full keeps
memory bounded without an LRU's bookkeeping; dict get/set are atomic, so under threads a lost
race only computes the same answer twice.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, MutableMapping, TypeVar

T = TypeVar("T")


def remembered(memo: MutableMapping[Hashable, T], key: Hashable, compute: Callable[[], T], limit: int) -> T:
    """``memo[key]``, computed by ``compute()`` on a miss; ``memo`` is cleared when it holds ``limit``."""
    found = memo.get(key)
    if found is None:
        if len(memo) >= limit:
            memo.clear()
        found = memo[key] = compute()
    return found


def remembered_for(memo: MutableMapping[int, tuple[object, T]], value: object, compute: Callable[[object], T],
                   limit: int) -> T:
    """``compute(value)`` remembered for this very object, not for an equal one (its ``id``).

    For answers about the constants of a configuration (a tariff's price, a VAT rate: the same
    objects for every CDR), where hashing the value would cost what the answer costs. The entry
    holds the object, so its id cannot be another object's while the entry lives. Cleared when
    it holds ``limit``; objects made per CDR only pass through.
    """
    found = memo.get(id(value))
    if found is not None and found[0] is value:
        return found[1]
    if len(memo) >= limit:
        memo.clear()
    answer = compute(value)
    memo[id(value)] = (value, answer)
    return answer


def remembered_for_pair(memo: MutableMapping[tuple[int, int], tuple[object, object, T]], first: object,
                        second: object, compute: Callable[[Any, Any], T], limit: int) -> T:
    """``compute(first, second)`` remembered for these very two objects (see ``remembered_for``)."""
    key = (id(first), id(second))
    found = memo.get(key)
    if found is not None and found[0] is first and found[1] is second:
        return found[2]
    if len(memo) >= limit:
        memo.clear()
    answer = compute(first, second)
    memo[key] = (first, second, answer)
    return answer
