"""Small builders shared by the store tests."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from engine.decision import Decision


def raw_cdr(cdr_id: str, *, energy: str = "12.5", party: tuple[str, str] = ("DE", "VLT"), pretty: bool = False) -> str:
    """A CDR as text, as a CPMS would send it (amounts as JSON numbers)."""
    body = (f'{{"country_code": "{party[0]}", "party_id": "{party[1]}", "id": {json.dumps(cdr_id)}, '
            f'"start_date_time": "2026-10-01T10:00:00Z", "total_energy": {energy}, '
            f'"total_cost": {{"excl_vat": 4.40, "incl_vat": 5.24}}}}')
    return json.dumps(json.loads(body), indent=2) if pretty else body


def make_decision(cdr_id: str = "CDR-1", stream: str | None = "adhoc", *, key: Any = "auto",
                  exception: dict[str, Any] | None = None, errors: list[dict[str, Any]] | None = None,
                  config_version: str = "cfg000000001", source: str = "test.json") -> Decision:
    return Decision(
        cdr_id=cdr_id, config_version=config_version,
        key=("DE", "VLT", cdr_id) if key == "auto" else key,
        source=source, ocpi_version="2.2.1", stream=stream,
        rule={"id": "adhoc-app-payment", "file": "rules/classification.yaml", "line": 12} if stream or exception else None,
        facts={"psp": {"amount": Decimal("12.34"), "captured": True}, "customer": None},
        billing={"line_item": {"amount": Decimal("4.40")}, "billing_period": "2026-10"} if stream else {},
        pricing={"total_cost": {"excl_vat": Decimal("4.40")}} if stream else None,
        errors=errors or [], warnings=[{"path": "total_energy", "code": "w", "message": "rounded", "severity": "warning"}],
        exception=exception,
    )
