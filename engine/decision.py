"""The Decision: everything the core concluded about one CDR, and why.

It is the single output of the pure pipeline. The live service stores it, ``dry-run`` prints it,
``test`` compares it with expectations and ``plan`` diffs two of them. Its JSON shape is a
public contract (README, "dry-run").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.jsonable import to_jsonable


@dataclass
class Decision:
    cdr_id: str | None
    config_version: str
    key: tuple[str, str, str] | None = None
    source: str | None = None
    ocpi_version: str | None = None
    stream: str | None = None
    rule: dict[str, Any] | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    billing: dict[str, Any] = field(default_factory=dict)
    pricing: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    exception: dict[str, Any] | None = None
    # The normalised CDR the decision was made on: kept for the shell (storage, documents), never
    # serialised - the raw CDR is stored separately and this is derivable from it.
    cdr: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def outcome(self) -> str:
        """``stream`` or ``exception:REASON`` - what plan and the summaries group by."""
        if self.stream:
            return self.stream
        return f"exception:{self.exception['reason']}" if self.exception else "unknown"

    def to_json(self) -> dict[str, Any]:
        return to_jsonable({
            "cdr_id": self.cdr_id,
            "key": list(self.key) if self.key else None,
            "source": self.source,
            "ocpi_version": self.ocpi_version,
            "stream": self.stream,
            "rule": self.rule,
            "facts": self.facts,
            "billing": self.billing,
            "pricing": self.pricing,
            "errors": self.errors,
            "warnings": self.warnings,
            "exception": self.exception,
            "config_version": self.config_version,
        })
