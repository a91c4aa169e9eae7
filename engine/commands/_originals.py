"""The ``priced`` mapping of a dry-run or plan: every CDR's pricing, kept so that a credit CDR
later in the input can reverse its original's lines exactly - in constant memory.

Holding every pricing in a dict grows by ~4.5 KB per CDR (2 GB for a 1 GB input). Recent
entries stay in a small dict; older ones are spilled to SQLite's private temporary on-disk
database (filename ``""``: deleted when closed), which reads them back for the rare credit CDR.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import MutableMapping
from typing import Any, Iterator

Key = tuple[str, str, str]


class SpilledPricing(MutableMapping):
    def __init__(self, keep: int = 2000):
        self.keep = keep
        self._recent: dict[Key, dict[str, Any]] = {}
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE priced (k TEXT PRIMARY KEY, pricing TEXT NOT NULL)")

    @staticmethod
    def _k(key: Key) -> str:
        return "\x1f".join(key)

    def __setitem__(self, key: Key, pricing: dict[str, Any]) -> None:
        self._recent[key] = pricing
        if len(self._recent) >= 2 * self.keep:
            self._spill()

    def _spill(self) -> None:
        old = list(self._recent.items())[: len(self._recent) - self.keep]
        self._db.executemany("INSERT OR REPLACE INTO priced VALUES (?, ?)",
                             [(self._k(k), json.dumps(v)) for k, v in old])
        for key, _ in old:
            del self._recent[key]

    def __getitem__(self, key: Key) -> dict[str, Any]:
        if key in self._recent:
            return self._recent[key]
        row = self._db.execute("SELECT pricing FROM priced WHERE k = ?", (self._k(key),)).fetchone()
        if row is None:
            raise KeyError(key)
        return json.loads(row[0])

    def __delitem__(self, key: Key) -> None:
        if self._recent.pop(key, None) is None:
            if self._db.execute("DELETE FROM priced WHERE k = ?", (self._k(key),)).rowcount == 0:
                raise KeyError(key)

    def __iter__(self) -> Iterator[Key]:
        for (k,) in self._db.execute("SELECT k FROM priced"):
            key = tuple(k.split("\x1f"))
            if key not in self._recent:
                yield key  # type: ignore[misc]
        yield from list(self._recent)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def close(self) -> None:
        self._db.close()
