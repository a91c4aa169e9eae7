"""Shared builders for the billing-stream, provider, mail and CLI tests: the sample bundle and
reference data, CDR variants of the samples, and ingesting them into a test database."""

from __future__ import annotations

import copy
import json
import zlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from engine.config.yamlload import load_yaml, plain
from engine.intake.reader import RawItem
from engine.reference import SCHEMAS, InMemorySource, validate_records

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "cdrs"
REFERENCE = ROOT / "samples" / "reference"


@lru_cache(maxsize=1)
def bundle():
    from engine.config.bundle import load_bundle

    loaded, problems = load_bundle(ROOT)
    assert loaded is not None, problems
    return loaded


@lru_cache(maxsize=1)
def _reference_records() -> dict[str, list[dict[str, Any]]]:
    records: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(REFERENCE.glob("*.yaml")):
        data, _ = load_yaml(path.read_text(encoding="utf-8"), str(path))
        kind = data["kind"]
        key, _ = SCHEMAS[kind]
        records.setdefault(kind, []).extend(plain(r) for r in data[key])
    return records


def source(**extra: Iterable[dict[str, Any]]) -> InMemorySource:
    """The sample reference data as a FactSource, plus ``extra`` records per kind (validated)."""
    records: dict[str, list[dict[str, Any]]] = {}
    for kind, raw in _reference_records().items():
        raw = copy.deepcopy(raw) + [dict(r) for r in extra.get(kind, ())]
        good, problems = validate_records(kind, raw, f"<{kind}>")
        assert not problems, problems
        records[kind] = good
    return InMemorySource(records)


def sample(name: str) -> dict[str, Any]:
    """A sample CDR (parsed JSON, numbers as Decimal)."""
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"), parse_float=Decimal)


def _shift(value: str, delta: timedelta) -> str:
    when = datetime.fromisoformat(value.replace("Z", "+00:00")) + delta
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def variant(name: str, new_id: str, *, days: int = 0, location: str | None = None, **fields: Any) -> dict[str, Any]:
    """A copy of a sample CDR with a new id (and session id), moved by ``days``, optionally at
    another location; ``fields`` replace top-level fields."""
    cdr = sample(name)
    cdr["id"] = new_id
    if cdr.get("session_id"):
        cdr["session_id"] = f"{cdr['session_id'][:-8]}{zlib.crc32(new_id.encode()) % 10**8:08d}"
    if days:
        delta = timedelta(days=days)
        for key in ("start_date_time", "end_date_time", "stop_date_time", "last_updated"):
            if cdr.get(key):
                cdr[key] = _shift(cdr[key], delta)
        for period in cdr.get("charging_periods") or ():
            period["start_date_time"] = _shift(period["start_date_time"], delta)
    if location:
        cdr["cdr_location"]["id"] = location
    cdr.update(fields)
    return cdr


def pipeline(src: InMemorySource | None = None):
    from engine.pipeline import Pipeline

    return Pipeline(bundle(), src or source(), priced={})


def ingest_cdrs(session_factory, cdrs: Iterable[dict[str, Any]], src: InMemorySource | None = None,
                pipe: Any = None):
    """Decide and store CDRs (parsed JSON) like ``cdrflow ingest``."""
    from engine.service.ingest import ingest

    items = [RawItem(source=f"test:{c.get('id')}", data=c) for c in cdrs]
    return ingest(items, pipe or pipeline(src), session_factory)


def ingest_samples(session_factory, src: InMemorySource | None = None, names: Iterable[str] | None = None):
    """The sample corpus (or some files of it), in the order of the directory listing."""
    from engine import intake

    pipe = pipeline(src)
    paths = [str(SAMPLES / n) for n in names] if names is not None else [str(SAMPLES)]
    from engine.service.ingest import ingest

    return ingest(intake.read_paths(paths), pipe, session_factory)


def deliver(session_factory, **kwargs: Any):
    """Run the outbox worker with the local provider (no mailer unless given)."""
    from engine.providers.local import LocalProvider
    from engine.streams.worker import run_outbox

    kwargs.setdefault("mailer", _NullMailer())
    return run_outbox(session_factory, LocalProvider(), worker_id=kwargs.pop("worker_id", "test"), **kwargs)


class _NullMailer:
    """Accepts every e-mail and keeps it (for tests that do not look at e-mails)."""

    sender = "billing@voltaro.example"

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)


class ListMailer(_NullMailer):
    pass
