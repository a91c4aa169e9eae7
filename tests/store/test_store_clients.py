"""API clients: the token is shown once, only its hash is stored, revoked tokens fail."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from engine.store.clients import ClientError, authenticate, create_client, list_clients, revoke_client
from engine.store.models import ApiClient


def test_token_is_returned_once_and_only_its_hash_stored(session):
    token = create_client(session, "cpms")
    session.commit()
    stored = session.execute(select(ApiClient)).scalar_one()
    assert token.startswith("cdrf_") and len(token) > 40
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (stored.token_hash, stored.name)


def test_authenticate(session):
    token = create_client(session, "cpms")
    other = create_client(session, "erp")
    session.commit()
    assert authenticate(session, token).name == "cpms"
    assert authenticate(session, other).name == "erp"
    assert authenticate(session, token + "x") is None
    assert authenticate(session, "") is None
    assert authenticate(session, "Bearer " + token) is None


def test_revoked_clients_do_not_authenticate(session):
    token = create_client(session, "cpms")
    assert revoke_client(session, "cpms") is True
    assert revoke_client(session, "cpms") is False
    session.commit()
    assert authenticate(session, token) is None
    with pytest.raises(ClientError):
        revoke_client(session, "nobody")


def test_names_are_unique(session):
    create_client(session, "cpms")
    with pytest.raises(ClientError, match="exists"):
        create_client(session, "cpms")
    create_client(session, "erp")  # the session is still usable
    session.commit()
    assert [c.name for c in list_clients(session)] == ["cpms", "erp"]
