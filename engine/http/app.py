"""The cdrflow HTTP API: ``create_app(settings)`` builds the Flask app (the thin shell).

Production::

    gunicorn 'server:create_app()' -w 4 -b 127.0.0.1:8000

(settings from the environment, see :class:`Settings`); development: ``cdrflow serve``.

At startup the configuration bundle (``rules/``, ``mappings/``) and the reference data are loaded
once, and the database is checked: the app refuses to start (:class:`StartupError`, a message
saying what to do) when the configuration has errors, the reference data is unusable, the
database cannot be reached or its schema is not at the code's migration head.

Per request: authentication (``auth.py``), an ``X-Request-ID`` and ``X-Correlation-ID`` echoed on
the response (generated when the client sent none), one log line (method, path, status,
duration, client, request id) on the ``cdrflow.http`` logger, and errors as JSON envelopes -
never an HTML page or a traceback.

Adding endpoints: write a module with a ``Blueprint`` named ``bp`` (mark public views with
``engine.http.auth.public``; everything else requires a token automatically) and add one line to
:data:`BLUEPRINTS`. A module may define ``OPENAPI_PATHS`` (and ``OPENAPI_SCHEMAS``): they are
merged into ``/openapi.json``, and a test fails for any route the document does not describe.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, Response, g, request
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from engine.http import auth
from engine.http.ocpi import SERVER_ERROR, error_response
from engine.http.runtime import EXTENSION, Runtime, current_client

log = logging.getLogger("cdrflow.http")

# The blueprints of the app, as "module:attribute". One line per module; order does not matter.
BLUEPRINTS: tuple[str, ...] = (
    "engine.http.health:bp",
    "engine.http.openapi:bp",
    "engine.http.cdrs:bp",
    "engine.http.docs:bp",
    "engine.http.reference:reference_bp",
)

DEFAULT_MAX_CONTENT_LENGTH = 16 * 1024 * 1024
DEFAULT_MAX_BATCH = 1000
DEFAULT_AUTH_CACHE_SECONDS = 30.0


class StartupError(RuntimeError):
    """The app cannot serve with this configuration/database; the message says why and what to do."""


def _size(text: str, name: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)[bB]?\s*", text)
    if not match:
        raise StartupError(f"{name}={text!r} is not a size (bytes, or a number with K, M or G)")
    factor = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[match.group(2).lower()]
    return int(match.group(1)) * factor


def _number(text: str, name: str, kind: type) -> Any:
    try:
        return kind(text.strip())
    except ValueError:
        raise StartupError(f"{name}={text!r} is not a {'whole ' if kind is int else ''}number") from None


@dataclass(frozen=True)
class Settings:
    """Everything the app is configured with; :meth:`from_env` reads the environment.

    ============================== ===================================================== =====================
    environment variable           meaning                                               default
    ============================== ===================================================== =====================
    ``DATABASE_URL``               SQLAlchemy URL of the (migrated) database             sqlite:///var/cdrflow.db
    ``CDRFLOW_CONFIG``             config root holding ``rules/`` and ``mappings/``       ``.``
    ``CDRFLOW_REFERENCE``          reference data directory                              <config>/samples/reference
    ``CDRFLOW_MAX_CONTENT_LENGTH`` largest request body (bytes; ``16M`` style allowed)   16 MiB
    ``CDRFLOW_MAX_BATCH``          most CDRs in one ``POST /cdrs``                       1000
    ``CDRFLOW_RULES_BACKEND``      rule evaluator: python or durable                     python
    ``CDRFLOW_AUTH_CACHE_SECONDS`` how long a successful token lookup is cached          30
    ``CDRFLOW_TRUSTED_PROXIES``    reverse proxies in front (X-Forwarded-* trusted)      0
    ============================== ===================================================== =====================

    (``CDRFLOW_WAIT_REASONS`` / ``CDRFLOW_WAIT_HOURS`` are read by ``engine.service.waiting``.)
    """

    database_url: str | None = None
    config_dir: str = "."
    reference_dir: str | None = None
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    max_batch: int = DEFAULT_MAX_BATCH
    rules_backend: str | None = None
    auth_cache_seconds: float = DEFAULT_AUTH_CACHE_SECONDS
    trusted_proxies: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)  # free for other blueprints' settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        values: dict[str, Any] = {
            "database_url": get("DATABASE_URL"),
            "config_dir": get("CDRFLOW_CONFIG") or ".",
            "reference_dir": get("CDRFLOW_REFERENCE"),
            "rules_backend": get("CDRFLOW_RULES_BACKEND"),
        }
        if get("CDRFLOW_MAX_CONTENT_LENGTH"):
            values["max_content_length"] = _size(env["CDRFLOW_MAX_CONTENT_LENGTH"], "CDRFLOW_MAX_CONTENT_LENGTH")
        if get("CDRFLOW_MAX_BATCH"):
            values["max_batch"] = _number(env["CDRFLOW_MAX_BATCH"], "CDRFLOW_MAX_BATCH", int)
        if get("CDRFLOW_AUTH_CACHE_SECONDS"):
            values["auth_cache_seconds"] = _number(env["CDRFLOW_AUTH_CACHE_SECONDS"], "CDRFLOW_AUTH_CACHE_SECONDS",
                                                   float)
        if get("CDRFLOW_TRUSTED_PROXIES"):
            values["trusted_proxies"] = _number(env["CDRFLOW_TRUSTED_PROXIES"], "CDRFLOW_TRUSTED_PROXIES", int)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> "Settings":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def validate(self) -> None:
        if self.max_content_length < 1:
            raise StartupError("CDRFLOW_MAX_CONTENT_LENGTH must be at least 1 byte")
        if self.max_batch < 1:
            raise StartupError("CDRFLOW_MAX_BATCH must be at least 1")
        if self.auth_cache_seconds < 0:
            raise StartupError("CDRFLOW_AUTH_CACHE_SECONDS must not be negative")
        if self.trusted_proxies < 0:
            raise StartupError("CDRFLOW_TRUSTED_PROXIES must not be negative")


# --- startup ------------------------------------------------------------------------------------


def _problem_lines(problems: list[Any], limit: int = 20) -> str:
    errors = [p for p in problems if getattr(p, "is_error", True)]
    lines = [f"  {p.location()}: {p.code} {p.message}" for p in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"  ... and {len(errors) - limit} more")
    return "\n".join(lines)


def load_config(settings: Settings):
    """(bundle, source, classifier) or StartupError."""
    from engine.classify.backends import make_classifier
    from engine.config.bundle import load_bundle
    from engine.reference import InMemorySource, load_reference

    root = Path(settings.config_dir)
    if not (root / "rules").is_dir():
        raise StartupError(f"cdrflow: no rules/ directory under {root.resolve()} "
                           "(set CDRFLOW_CONFIG or --config to the configuration root)")
    bundle, problems = load_bundle(root)
    if bundle is None:
        raise StartupError("cdrflow: the configuration has errors (run `cdrflow lint`); refusing to start:\n"
                           + _problem_lines(problems))
    if settings.reference_dir:
        directory = Path(settings.reference_dir)
        if not directory.is_dir():
            raise StartupError(f"cdrflow: reference directory {directory} does not exist (CDRFLOW_REFERENCE)")
    else:
        directory = root / "samples" / "reference"
    if directory.is_dir():
        source, ref_problems = load_reference(directory)
        if any(p.is_error for p in ref_problems):
            raise StartupError(f"cdrflow: the reference data in {directory} has errors; refusing to start:\n"
                               + _problem_lines(ref_problems))
    else:
        log.warning("no reference data directory (%s): every fact lookup comes back empty", directory)
        source = InMemorySource({})
    try:
        classifier = make_classifier(bundle, settings.rules_backend)
    except (ValueError, ImportError, RuntimeError) as exc:
        raise StartupError(f"cdrflow: {exc}") from None
    return bundle, source, classifier


def open_database(settings: Settings):
    """(engine, session_factory, head revision) for a reachable database at the code's schema head."""
    from engine.store import migrate
    from engine.store.db import database_url, make_engine, make_session_factory, redacted

    url = database_url(settings.database_url)
    try:
        engine = make_engine(url)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise StartupError(f"cdrflow: cannot use database URL {_safe(url, redacted)}: {exc}") from None
    head = migrate.head()
    try:
        revision = migrate.current(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StartupError(f"cdrflow: database {_safe(url, redacted)} is not reachable: {reason}") from None
    if revision != head:
        engine.dispose()
        raise StartupError(f"cdrflow: database {_safe(url, redacted)} is at schema revision {revision or 'none'}, "
                           f"this cdrflow needs {head}: run `cdrflow db upgrade` first; refusing to start")
    return engine, make_session_factory(engine), head


def _waiting_policy():
    """Which decided CDRs wait for their PSP transaction (CDRFLOW_WAIT_REASONS, CDRFLOW_WAIT_HOURS)."""
    from engine.service.waiting import WaitingPolicy

    try:
        return WaitingPolicy.from_env()
    except ValueError as exc:
        raise StartupError(f"cdrflow: {exc}") from None


def _safe(url: str, redacted) -> str:
    try:
        return redacted(url)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without its userinfo
        return re.sub(r"//[^@/]*@", "//***@", url)


# --- the app ------------------------------------------------------------------------------------


def create_app(settings: Settings | None = None) -> Flask:
    """The cdrflow API. ``settings`` default to :meth:`Settings.from_env`. Raises StartupError."""
    settings = settings or Settings.from_env()
    settings.validate()
    _attach_gunicorn_logging()
    bundle, source, classifier = load_config(settings)
    waiting_policy = _waiting_policy()
    engine, session_factory, head = open_database(settings)
    from engine.store.reference import preferred_source

    source = preferred_source(session_factory, source)

    app = Flask("cdrflow", static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_content_length)
    app.url_map.strict_slashes = False
    runtime = Runtime(settings=settings, bundle=bundle, source=source, classifier=classifier, engine=engine,
                      session_factory=session_factory, schema_head=head)
    runtime.authenticator = auth.Authenticator(session_factory, settings.auth_cache_seconds)
    runtime.waiting_policy = waiting_policy
    app.extensions[EXTENSION] = runtime

    app.before_request(_start_request)
    auth.init_app(app)
    app.after_request(_finish_request)
    _register_error_handlers(app)
    for spec in BLUEPRINTS:
        app.register_blueprint(blueprint(spec))
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)  # type: ignore[method-assign]
    # No pooled connection survives startup: with `gunicorn --preload` the workers fork after this,
    # and a connection must never be shared across processes. Each worker connects on first use.
    engine.dispose()
    log.info("cdrflow API ready: config %s, database schema %s, %d blueprints",
             bundle.version, head, len(BLUEPRINTS))
    return app


def blueprint(spec: str):
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr or "bp")


def blueprint_modules() -> list[Any]:
    return [importlib.import_module(spec.partition(":")[0]) for spec in BLUEPRINTS]


def _attach_gunicorn_logging() -> None:
    """Under gunicorn the root logger has no handler: log through gunicorn's error log."""
    if log.handlers or logging.getLogger().handlers:
        return
    gunicorn_log = logging.getLogger("gunicorn.error")
    if gunicorn_log.handlers:
        log.handlers = list(gunicorn_log.handlers)
        log.setLevel(logging.INFO)
        log.propagate = False


# --- per request ----------------------------------------------------------------------------------

_ID_OK = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def _header_id(name: str) -> str | None:
    value = (request.headers.get(name) or "").strip()
    return value if _ID_OK.fullmatch(value) else None


def _start_request() -> None:
    g.cdrflow_started = time.perf_counter()
    g.request_id = _header_id("X-Request-ID") or str(uuid.uuid4())
    g.correlation_id = _header_id("X-Correlation-ID") or g.request_id


def _finish_request(response: Response) -> Response:
    request_id = g.get("request_id") or str(uuid.uuid4())
    response.headers["X-Request-ID"] = request_id
    response.headers["X-Correlation-ID"] = g.get("correlation_id") or request_id
    started = g.get("cdrflow_started")
    duration_ms = (time.perf_counter() - started) * 1000 if started else 0.0
    client = current_client()
    log.info("%s %s %d %.1fms client=%s request_id=%s", request.method, request.full_path.rstrip("?"),
             response.status_code, duration_ms, client.name if client else "-", request_id)
    return response


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = _http_message(exc, status)
        headers = {}
        if status == 405 and exc.get_response().headers.get("Allow"):
            headers["Allow"] = exc.get_response().headers["Allow"]
        return error_response(status, message, headers=headers)

    @app.errorhandler(DBAPIError)
    def _db_error(exc: DBAPIError) -> Response:
        log.error("database error (request_id=%s): %s", g.get("request_id"),
                  str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        if exc.connection_invalidated or _is_unavailable(exc):
            return error_response(503, f"the database is unavailable; retry later (request id {g.get('request_id')})",
                                  SERVER_ERROR, headers={"Retry-After": "5"})
        return error_response(500, f"internal error storing the request; nothing was stored "
                                   f"(request id {g.get('request_id')})", SERVER_ERROR)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error (request_id=%s)", g.get("request_id"))
        return error_response(500, f"internal server error (request id {g.get('request_id')})", SERVER_ERROR)


def _is_unavailable(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError)


def _http_message(exc: HTTPException, status: int) -> str:
    if status == 404 and request.routing_exception is not None:
        return f"no such endpoint: {request.method} {request.path} (see /openapi.json)"
    if status == 405:
        return f"method {request.method} is not allowed on {request.path}"
    if status == 413:
        limit = request.max_content_length
        return (f"request body too large: the limit is {limit} bytes (CDRFLOW_MAX_CONTENT_LENGTH); "
                "split the batch" if limit else "request body too large")
    return exc.description or exc.name
