"""A bounded memo for pure, per-configuration answers asked again for every CDR.

Why one helper: several hot lookups (a tariff's version and row per day, a unit price's text)
give the same immutable answer for the same key. A plain dict that is cleared when full keeps
memory bounded without an LRU's bookkeeping; dict get/set are atomic, so under threads a lost
race only computes the same answer twice.
"""

from __future__ import annotations

from typing import Callable, Hashable, MutableMapping, TypeVar

T = TypeVar("T")


def remembered(memo: MutableMapping[Hashable, T], key: Hashable, compute: Callable[[], T], limit: int) -> T:
    """``memo[key]``, computed by ``compute()`` on a miss; ``memo`` is cleared when it holds ``limit``."""
    found = memo.get(key)
    if found is None:
        if len(memo) >= limit:
            memo.clear()
        found = memo[key] = compute()
    return found
