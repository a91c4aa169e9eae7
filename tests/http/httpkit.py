"""Helpers for the HTTP tests: samples, settings, counting rows."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from engine.http.app import Settings
from engine.http.ocpi import ocpi_dumps
from engine.http.runtime import EXTENSION
from engine.store.clients import create_client
from engine.store.models import Cdr, DecisionRecord, ExceptionRecord, RejectedInput

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "cdrs"
REFERENCE = ROOT / "samples" / "reference"

ADHOC = "adhoc-de-berlin-ac-001.json"              # -> adhoc, key DE/VLT/VLT-20261003-10008
MSP = "msp-de-flk-hamburg-ac-001.json"             # -> msp
UNKNOWN_MSP = "exception-unknown-msp-ch-swx.json"  # -> exception UNKNOWN_MSP
V211 = "msp-v211-de-ldx-berlin-ac.json"            # OCPI 2.1.1 -> msp
ORIGINAL = "adhoc-de-munich-ac-001.json"           # credited by CREDIT
CREDIT = "adhoc-de-munich-ac-001-credit.json"
NO_PSP = "exception-adhoc-no-psp-transaction.json"  # -> AD_HOC_NO_PSP_TRANSACTION (waits for its PSP payment)


def new_token(app, name: str = "cpms") -> str:
    """A token of a new API client ``name`` (as ``cdrflow token create`` makes it)."""
    with app.extensions[EXTENSION].session_factory() as session:
        token = create_client(session, name)
        session.commit()
    return token


def settings_for(db_url: str, **overrides: Any) -> Settings:
    values = {"database_url": db_url, "config_dir": str(ROOT), "reference_dir": str(REFERENCE)}
    values.update(overrides)
    return Settings(**values)


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"), parse_float=Decimal)


def dumps(value: Any) -> str:
    """JSON with Decimals as numbers (the way a CPMS sends them)."""
    return ocpi_dumps(value)


def key_of(name: str) -> tuple[str, str, str]:
    data = sample(name)
    return data["country_code"], data["party_id"], data["id"]


def counts(app) -> dict[str, int]:
    with app.extensions[EXTENSION].session_factory() as s:
        return {name: s.execute(select(func.count()).select_from(model)).scalar_one()
                for name, model in (("cdrs", Cdr), ("decisions", DecisionRecord), ("exceptions", ExceptionRecord),
                                    ("rejected_inputs", RejectedInput))}


def exceptions(app) -> list[tuple[str, str]]:
    with app.extensions[EXTENSION].session_factory() as s:
        return [(r.reason, r.status) for r in s.execute(select(ExceptionRecord).order_by(ExceptionRecord.id)).scalars()]


def cdr_states(app) -> dict[str, str]:
    with app.extensions[EXTENSION].session_factory() as s:
        return {r.cdr_id: r.state for r in s.execute(select(Cdr)).scalars()}
