"""Fixtures for the HTTP API tests: an app on each database backend, a client token, samples.

The app is the real one (``create_app``) on the repository's configuration (rules/, mappings/)
and reference data (samples/reference), against the ``db_url`` fixture's migrated, empty
database (SQLite always, PostgreSQL when DATABASE_URL is set).
"""

from __future__ import annotations

from typing import Iterator

import pytest
from flask import Flask

from engine.http import app as app_module
from engine.http.app import Settings, create_app
from engine.http.runtime import EXTENSION
from httpkit import new_token, settings_for


_LOADED: dict[tuple, tuple] = {}


@pytest.fixture(autouse=True)
def _load_config_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing rules/ and the reference YAML takes ~0.5 s; the bundle is immutable and the
    reference source read-only, so the tests share one load per (config, reference, backend)."""
    real = app_module.load_config

    def cached(settings: Settings):
        key = (settings.config_dir, settings.reference_dir, settings.rules_backend)
        if key not in _LOADED:
            _LOADED[key] = real(settings)  # a StartupError is raised, not cached
        return _LOADED[key]

    monkeypatch.setattr(app_module, "load_config", cached)


@pytest.fixture
def make_app(db_url: str) -> Iterator:
    """``make_app(**settings)`` -> a Flask app on ``db_url``; engines disposed at the end."""
    apps: list[Flask] = []

    def make(**overrides) -> Flask:
        app = create_app(settings_for(db_url, **overrides))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions[EXTENSION].engine.dispose()


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def token(app: Flask) -> str:
    return new_token(app)


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}

