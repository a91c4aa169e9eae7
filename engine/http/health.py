"""``GET /healthz`` (no token): is the database reachable and at the schema head, which config runs.

200 ``{"status": "ok", ...}`` when both hold; 503 ``{"status": "unavailable", ...}`` otherwise,
for load balancers and orchestrators. The database URL and error details are logged, never shown.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from engine.http.auth import public
from engine.http.ocpi import json_response, timestamp
from engine.http.runtime import runtime

log = logging.getLogger("cdrflow.http")

bp = Blueprint("health", __name__)


def _revision(connection) -> str | None:
    """The Alembic revision (read directly: MigrationContext would log on every probe)."""
    try:
        with connection.begin_nested():
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None  # no alembic_version table: never migrated


@bp.get("/healthz")
@public
def healthz() -> Response:
    rt = runtime()
    database = {"backend": rt.engine.dialect.name, "reachable": False, "schema": None, "schema_head": rt.schema_head}
    try:
        with rt.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            database["reachable"] = True
            database["schema"] = _revision(connection)
    except SQLAlchemyError as exc:
        log.error("healthz: database unreachable: %s", str(getattr(exc, "orig", None) or exc).strip()[:300])
    ok = database["reachable"] and database["schema"] == rt.schema_head
    body = {
        "status": "ok" if ok else "unavailable",
        "database": database,
        "config_version": rt.bundle.version,
        "timestamp": timestamp(),
    }
    if not ok:
        body["message"] = ("the database is not reachable" if not database["reachable"] else
                           "the database schema is not at this cdrflow's revision: run `cdrflow db upgrade`")
    return json_response(body, 200 if ok else 503)
