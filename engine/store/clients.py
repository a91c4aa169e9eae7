"""API clients and their bearer tokens.

A token is 256 random bits, shown once when the client is created; the database keeps only its
SHA-256. A fast hash is enough here (unlike passwords) because the token is random and long, so
there is nothing to brute-force. ``authenticate`` looks the hash up and compares it again in
constant time, and a revoked client never authenticates.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.store._sql import utcnow
from engine.store.models import ApiClient

TOKEN_PREFIX = "cdrf_"


class ClientError(ValueError):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_client(session: Session, name: str, *, now: datetime | None = None) -> str:
    """Create client ``name`` and return its token - the only time the token is ever visible."""
    name = name.strip()
    if not name:
        raise ClientError("a client needs a name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(name=name, token_hash=token_hash(token), created_at=now or utcnow(), revoked_at=None)
    try:
        with session.begin_nested():
            session.add(client)
    except IntegrityError:
        raise ClientError(f"a client named {name!r} exists already") from None
    return token


def authenticate(session: Session, token: str) -> ApiClient | None:
    """The active client holding ``token``, or None."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    digest = token_hash(token)
    client = session.execute(select(ApiClient).where(ApiClient.token_hash == digest)).scalar_one_or_none()
    if client is None or not hmac.compare_digest(client.token_hash, digest) or client.revoked_at is not None:
        return None
    return client


def list_clients(session: Session) -> list[ApiClient]:
    return list(session.execute(select(ApiClient).order_by(ApiClient.name)).scalars())


def revoke_client(session: Session, name: str, *, now: datetime | None = None) -> bool:
    """Revoke ``name``'s token; False if it was revoked already. ClientError if unknown."""
    client = session.execute(select(ApiClient).where(ApiClient.name == name)).scalar_one_or_none()
    if client is None:
        raise ClientError(f"no client named {name!r}")
    if client.revoked_at is not None:
        return False
    client.revoked_at = now or utcnow()
    session.flush()
    return True
