"""The ``priced`` mapping the Pipeline needs for credit CDRs, backed by the store.

A credit CDR reverses its original's price lines exactly, so the pure Pipeline asks
``priced[(country_code, party_id, credit_reference_id)]`` for the original's ``decision.pricing``.
In the service that is the *current* stored Decision of that CDR - if it was priced into a stream
(a CDR in the exception queue or rejected has no usable pricing and reads as absent).

``pending`` holds what this request decided but has not stored yet, so a batch that carries an
original and its credit prices the credit correctly; the store wins for a key it already holds
(the pending one will be recorded as a duplicate or conflict of it).

Writing a key (the Pipeline does, for every CDR it prices) only adds to ``pending``: the store
itself is written by ``record_decision`` alone. Each lookup is one short read in a session of its own (only credit
CDRs look anything up), so deciding never holds the write transaction.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.cdrs import current_decision
from engine.store.models import Cdr, DecisionRecord

Key = tuple[str, str, str]


class StorePricing(MutableMapping):
    """Read-only ``{cdr key: current decision pricing}`` over the store (plus ``pending``)."""

    def __init__(self, session_factory: Callable[[], Session], pending: dict[Key, dict[str, Any]] | None = None):
        self.session_factory = session_factory
        self.pending = pending if pending is not None else {}

    def __getitem__(self, key: Key) -> dict[str, Any]:
        if not isinstance(key, tuple) or len(key) != 3 or not all(isinstance(k, str) for k in key):
            raise KeyError(key)
        with self.session_factory() as session:
            decision = current_decision(session, key)
            session.rollback()
        if decision is not None:
            if decision.stream and decision.pricing is not None:
                return decision.pricing
            raise KeyError(key)
        if key in self.pending:
            return self.pending[key]
        raise KeyError(key)

    def _priced(self):
        return (select(Cdr.country_code, Cdr.party_id, Cdr.cdr_id)
                .join(DecisionRecord, (DecisionRecord.cdr_pk == Cdr.id) & DecisionRecord.is_current)
                .where(DecisionRecord.stream.is_not(None), DecisionRecord.pricing.is_not(None)))

    def _stored_keys(self) -> list[Key]:
        with self.session_factory() as session:
            keys = [tuple(row) for row in session.execute(self._priced().order_by(Cdr.id))]
            session.rollback()
        return keys  # type: ignore[return-value]

    def __iter__(self) -> Iterator[Key]:
        # Rarely wanted (the Pipeline only looks keys up); complete for the Mapping contract.
        stored = self._stored_keys()
        seen = set(stored)
        yield from stored
        for key in self.pending:
            if key not in seen and not self._stored(key):
                yield key

    def _stored(self, key: Key) -> bool:
        with self.session_factory() as session:
            found = session.execute(select(func.count()).select_from(Cdr).where(
                Cdr.country_code == key[0], Cdr.party_id == key[1], Cdr.cdr_id == key[2])).scalar_one()
            session.rollback()
        return bool(found)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __setitem__(self, key: Key, pricing: dict[str, Any]) -> None:
        self.pending[key] = pricing

    def __delitem__(self, key: Key) -> None:
        del self.pending[key]

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True
