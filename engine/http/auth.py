"""Every endpoint needs ``Authorization: Token <token>`` - except the ones marked :func:`public`.

The token is one created by ``cdrflow token create`` and is checked with
``engine.store.clients.authenticate``. Accepted spellings of the header value:

* ``Token cdrf_...``              the token as printed (what OCPI 2.1.1 / 2.2 parties send)
* ``Token Y2RyZl8uLi4=``          the token Base64-encoded (OCPI 2.2.1 "encoded token"; a trailing
                                  newline from ``echo ... | base64`` is tolerated)
* ``Bearer cdrf_...``             for generic HTTP tools

A successful lookup is cached for ``Settings.auth_cache_seconds`` (keyed by the token's SHA-256,
never the token), so a burst of requests costs one query; a revoked token therefore stops working
at the latest that many seconds later. Failures are never cached. Anything else gets
``401`` with an OCPI envelope (status_code 2000) and ``WWW-Authenticate: Token``.

Authentication runs before every request; requests that matched no route (404/405) skip it so
that they get their own clear error.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from typing import Callable, TypeVar

from flask import Flask, Response, current_app, g, request

from engine.http.ocpi import CLIENT_ERROR, error_response
from engine.http.runtime import Client, runtime
from engine.store.clients import TOKEN_PREFIX, authenticate, token_hash

F = TypeVar("F", bound=Callable)

SCHEMES = ("token", "bearer")
_MAX_CACHED = 4096
_PUBLIC_ATTR = "_cdrflow_public"


def public(view: F) -> F:
    """Mark a view as reachable without a token (``/healthz``, ``/openapi.json``)."""
    setattr(view, _PUBLIC_ATTR, True)
    return view


class Authenticator:
    """Token -> Client with a short positive cache; thread-safe."""

    def __init__(self, session_factory: Callable, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.session_factory = session_factory
        self.ttl = max(0.0, float(ttl_seconds))
        self.clock = clock
        self._cache: dict[str, tuple[Client, float]] = {}
        self._lock = threading.Lock()

    def client_for(self, token: str) -> Client | None:
        digest = token_hash(token)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and hit[1] > now:
                return hit[0]
        with self.session_factory() as session:
            row = authenticate(session, token)
            client = Client(id=row.id, name=row.name) if row is not None else None
            session.rollback()
        if client is not None and self.ttl > 0:
            with self._lock:
                if len(self._cache) >= _MAX_CACHED:
                    self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
                    if len(self._cache) >= _MAX_CACHED:
                        self._cache.clear()
                self._cache[digest] = (client, now + self.ttl)
        return client

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


def candidate_tokens(header: str | None) -> tuple[list[str], str | None]:
    """The tokens an Authorization header may carry, or ([], why not)."""
    if not header or not header.strip():
        return [], "missing Authorization header (expected 'Authorization: Token <token>')"
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() not in SCHEMES or not value:
        return [], "malformed Authorization header (expected 'Authorization: Token <token>')"
    candidates = []
    if value.startswith(TOKEN_PREFIX):
        candidates.append(value)
    decoded = _base64_text(value)
    if decoded and decoded.startswith(TOKEN_PREFIX) and decoded not in candidates:
        candidates.append(decoded)
    return candidates, None


def _base64_text(value: str) -> str | None:
    """``value`` Base64-decoded (standard or URL-safe alphabet) if that gives a cdrflow token."""
    if len(value) > 1024:
        return None
    padded = (value + "=" * (-len(value) % 4)).encode("ascii", "replace")
    decoders = (lambda b: base64.b64decode(b, validate=True), base64.urlsafe_b64decode)
    for decode in decoders:
        try:
            text = decode(padded).decode("utf-8").strip()
        except (binascii.Error, ValueError, UnicodeError):
            continue
        if text.startswith(TOKEN_PREFIX):
            return text
    return None


def _unauthorized(message: str) -> Response:
    return error_response(401, message, CLIENT_ERROR, headers={"WWW-Authenticate": 'Token realm="cdrflow"'})


def check_request() -> Response | None:
    """``before_request``: sets ``g.cdrflow_client`` or answers 401."""
    if request.routing_exception is not None or request.method == "OPTIONS":
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, _PUBLIC_ATTR, False):
        return None
    candidates, problem = candidate_tokens(request.headers.get("Authorization"))
    if problem:
        return _unauthorized(problem)
    authenticator: Authenticator = runtime().authenticator
    for token in candidates:
        client = authenticator.client_for(token)
        if client is not None:
            g.cdrflow_client = client
            return None
    return _unauthorized("unknown or revoked token")


def init_app(app: Flask) -> None:
    app.before_request(check_request)
