"""Compare the Decisions of two configuration versions over one corpus (terraform-style plan).

Pure: it receives pairs of Decisions and reports what moved - stream transitions, rule changes
within the same stream, and amount changes - grouped so a reviewer reads a summary, not a dump.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from engine.decision import Decision

EXAMPLES = 5


def amount_of(decision: Decision) -> str | None:
    total = (decision.pricing or {}).get("total_cost") or {}
    value = total.get("incl_vat") if total.get("incl_vat") is not None else total.get("excl_vat")
    return None if value is None else str(value)


@dataclass
class Group:
    kind: str  # "stream" | "rule" | "amount"
    before: str
    after: str
    cdr_ids: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "from": self.before, "to": self.after,
                "count": len(self.cdr_ids), "examples": self.examples}


@dataclass
class Plan:
    total: int = 0
    groups: dict[tuple[str, str, str], Group] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return len({cid for g in self.groups.values() for cid in g.cdr_ids})

    def add(self, kind: str, before: str, after: str, cdr_id: str, example: dict[str, Any]) -> None:
        group = self.groups.setdefault((kind, before, after), Group(kind, before, after))
        group.cdr_ids.append(cdr_id)
        if len(group.examples) < EXAMPLES:
            group.examples.append(example)

    def count(self, kind: str) -> int:
        return sum(len(g.cdr_ids) for g in self.groups.values() if g.kind == kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "groups": [g.to_json() for g in self.ordered()],
            "summary": {"cdrs": self.total, "changed": self.changed, "stream_changes": self.count("stream"),
                        "rule_changes": self.count("rule"), "amount_changes": self.count("amount")},
        }

    def ordered(self) -> list[Group]:
        order = {"stream": 0, "rule": 1, "amount": 2}
        return sorted(self.groups.values(), key=lambda g: (order[g.kind], -len(g.cdr_ids), g.before, g.after))


def compare(pairs: Iterable[tuple[Decision, Decision]]) -> Plan:
    plan = Plan()
    for before, after in pairs:
        plan.total += 1
        cdr_id = after.cdr_id or before.cdr_id or after.source or "?"
        if before.outcome != after.outcome:
            plan.add("stream", before.outcome, after.outcome, cdr_id,
                     {"cdr_id": cdr_id, "rule_before": before.rule, "rule_after": after.rule})
            continue
        rule_before = before.rule["id"] if before.rule else None
        rule_after = after.rule["id"] if after.rule else None
        if rule_before != rule_after:
            plan.add("rule", f"{after.outcome} via {rule_before}", f"{after.outcome} via {rule_after}", cdr_id,
                     {"cdr_id": cdr_id, "rule_before": before.rule, "rule_after": after.rule})
        a, b = amount_of(before), amount_of(after)
        if a != b:
            plan.add("amount", after.outcome, after.outcome, cdr_id,
                     {"cdr_id": cdr_id, "amount_before": a, "amount_after": b})
    return plan
