"""The billing provider interface and its status events.

A provider receives finished ``BillingDocument``s (numbered, priced, with their session lists)
from the outbox worker and answers asynchronously with status events, the way Lago or Stripe
send webhooks:

* ``issued``          the document exists at the provider (payload: number, provider_ref, ...)
* ``paid``            a payment settled it (ad hoc: at once, the PSP capture)
* ``payment_failed``  a payment attempt failed
* ``voided``          the document was voided

Events are stored in ``provider_events`` under (provider, event id); a repeated delivery of the
same event id is ignored (``record_event`` returns False), which is what makes webhook retries
and out-of-order duplicates harmless. Processing them is ``engine.streams.events``.

Methods take the worker's ``session``: the embedded provider writes into the store in the same
transaction that marks the outbox message sent; a remote provider uses it only to look up what
it sent before (one-off invoices at Lago take no idempotency key) and sends ``idempotency_key``
wherever the API accepts one.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from engine.documents.model import BillingDocument
from engine.jsonable import to_jsonable
from engine.store._sql import insert_ignore, utcnow
from engine.store.models import ProviderEvent

ISSUED, PAID, PAYMENT_FAILED, VOIDED = "issued", "paid", "payment_failed", "voided"
EVENT_TYPES = (ISSUED, PAID, PAYMENT_FAILED, VOIDED)


class ProviderError(RuntimeError):
    """A provider call failed; the outbox retries it (with backoff) unless ``permanent``."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class ProviderResult:
    provider_ref: str | None
    created: bool = True                 # False: the provider already had it (a retried call)
    events: tuple[str, ...] = field(default=())  # ids of the events this call emitted


class BillingProvider(abc.ABC):
    """What the worker calls. Implementations must be idempotent per ``idempotency_key``."""

    name: str = "abstract"

    @abc.abstractmethod
    def issue(self, session: Session, document: BillingDocument, *, idempotency_key: str,
              now: datetime | None = None) -> ProviderResult:
        """Create (finalise) the document at the provider; emits ``issued`` (and ``paid`` when the
        document carries a captured payment)."""

    @abc.abstractmethod
    def void(self, session: Session, number: str, *, reason: str, idempotency_key: str,
             now: datetime | None = None) -> ProviderResult:
        """Void an issued document; emits ``voided``."""

    @abc.abstractmethod
    def record_payment(self, session: Session, number: str, *, amount: Decimal, currency: str, external_id: str,
                       succeeded: bool = True, now: datetime | None = None) -> ProviderResult:
        """Record a payment attempt for a document; emits ``paid`` or ``payment_failed``."""


def record_event(session: Session, provider: str, event_id: str, event_type: str, payload: dict[str, Any], *,
                 now: datetime | None = None) -> bool:
    """Store one status event unless (provider, event_id) is stored already; True if new."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown provider event type {event_type!r}")
    new_id = insert_ignore(session, ProviderEvent, {
        "provider": provider, "event_id": event_id, "type": event_type, "payload": to_jsonable(payload),
        "received_at": now or utcnow(), "processed_at": None,
    }, ["provider", "event_id"])
    return new_id is not None
