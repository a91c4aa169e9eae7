"""What the app loads once at startup and every request shares (read-only after startup).

Blueprints reach it through :func:`runtime` (``current_app.extensions["cdrflow"]``); the client
that authenticated the request is :func:`current_client` (set by ``auth.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from flask import current_app, g

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from engine.config.bundle import Bundle
    from engine.http.app import Settings
    from engine.pipeline import Pipeline

EXTENSION = "cdrflow"


@dataclass(frozen=True)
class Client:
    """The API client a request authenticated as (plain values, safe to cache across sessions)."""

    id: int
    name: str


@dataclass
class Runtime:
    settings: "Settings"
    bundle: "Bundle"
    source: Any                      # the FactSource (reference data)
    classifier: Any
    engine: "Engine"
    session_factory: Callable[[], "Session"]
    schema_head: str | None
    authenticator: Any = None        # auth.Authenticator
    waiting_policy: Any = None       # engine.service.waiting.WaitingPolicy (None: from the environment)

    def pipeline(self, priced: Mapping[Any, Any] | None = None) -> "Pipeline":
        """A Pipeline for one request (cheap: the bundle, reference and classifier are shared)."""
        from engine.pipeline import Pipeline

        return Pipeline(self.bundle, self.source, classifier=self.classifier, priced=priced)


def runtime() -> Runtime:
    return current_app.extensions[EXTENSION]


def current_client() -> Client | None:
    return g.get("cdrflow_client")
