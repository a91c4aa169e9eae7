"""``cdrflow close-period --stream subscription|msp --period YYYY-MM``: close a billing period.

Issues the period's documents - per customer a base-fee and a consumption invoice
(subscription), per MSP one consolidated invoice (msp) - and hands them to the billing provider
through the outbox (``cdrflow work`` or ``--deliver`` delivers them). Idempotent: a closed period
is not closed again ("already closed", exit 0). Resumable: a close that stopped half-way
continues where it stopped. Two closes at once on PostgreSQL: one closes, the other exits with
"being closed by another process" (exit 1), or waits with ``--wait``.

The subscription stream needs to know every customer with a subscription (a base fee is due
without any session): from ``--reference DIR`` when given, else from the reference data in the
database (``cdrflow load``), else from ``<config>/samples/reference``.

Exit codes: 0 closed (now or before), 1 being closed elsewhere or incomplete (a document could
not be made: see the exception queue), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any

from engine.commands._common import (
    EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, add_config_option, add_reference_option, load_config, load_source,
)
from engine.commands.db import add_database_option, open_session_factory


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("close-period", help="close a subscription or MSP billing period (idempotent, resumable)",
                       description="Close a billing period: issue its documents once and hand them to the "
                                   "billing provider through the outbox.")
    p.add_argument("--stream", required=True, choices=("subscription", "msp"), help="the stream to close")
    p.add_argument("--period", required=True, metavar="YYYY-MM", help="the period (calendar month)")
    p.add_argument("--as-of", metavar="DATE", default=None,
                   help="issue date of the documents, after the period's end (default: today)")
    p.add_argument("--wait", action="store_true",
                   help="wait for a concurrent close of the same period instead of exiting")
    p.add_argument("--deliver", action="store_true",
                   help="then deliver the outbox to the provider (default: leave it to `cdrflow work`)")
    p.add_argument("--provider", default="local", help="billing provider for --deliver (default: local)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="summary format (default: text)")
    add_config_option(p)
    add_reference_option(p)
    add_database_option(p)
    p.set_defaults(func=run)


def _reference_source(args: argparse.Namespace, session_factory: Any) -> Any:
    """Who has a subscription: ``--reference DIR`` (YAML) when given; else the reference data in
    the database (``cdrflow load``) when there is any; else the sample YAML under --config."""
    if not args.reference:
        try:
            from engine.store.reference import DbSource
        except ImportError:
            DbSource = None
        if DbSource is not None:
            stored = DbSource(session_factory)
            if not stored.is_empty():
                return stored
    return load_source(args)


def _as_of(text: str | None) -> date:
    if not text:
        return date.today()
    return date.fromisoformat(text)


def run(args: argparse.Namespace) -> int:
    from engine.streams.close import close_period
    from engine.streams.periods import PeriodError, period_bounds

    try:
        period_bounds(args.period)
        as_of = _as_of(args.as_of)
    except (PeriodError, ValueError) as exc:
        print(f"cdrflow close-period: {exc}", file=sys.stderr)
        return EXIT_USAGE
    bundle = load_config(args.config)
    if bundle is None:
        return EXIT_USAGE
    session_factory = open_session_factory(args.database_url)
    if session_factory is None:
        return EXIT_USAGE
    source = None
    if args.stream == "subscription":
        source = _reference_source(args, session_factory)
        if source is None:
            session_factory.kw["bind"].dispose()
            return EXIT_USAGE
    try:
        try:
            result = close_period(session_factory, bundle, args.stream, args.period, as_of=as_of, source=source,
                                  wait=args.wait)
        except PeriodError as exc:
            print(f"cdrflow close-period: {exc}", file=sys.stderr)
            return EXIT_USAGE
        delivery = None
        if args.deliver:
            from engine.providers import get_provider
            from engine.streams.worker import run_outbox

            delivery = run_outbox(session_factory, get_provider(args.provider), worker_id="close-period",
                                  default_sender=bundle.operator.get("email"))
    finally:
        session_factory.kw["bind"].dispose()
    if args.format == "json":
        print(json.dumps(to_json(result, as_of, delivery), ensure_ascii=False))
    else:
        print(render(result, as_of, delivery))
    return EXIT_OK if result.outcome in ("closed", "already_closed") else EXIT_FINDINGS


def to_json(result: Any, as_of: date, delivery: Any = None) -> dict[str, Any]:
    from engine.streams.documents import document_vat

    net, vat, gross = result.totals
    out = {
        "stream": result.stream, "period": result.period_key, "as_of": as_of.isoformat(), "outcome": result.outcome,
        "status_before": result.status_before, "sessions_assigned": result.assigned, "late_sessions": result.late,
        "already_issued": result.already_issued, "waiting_earlier": result.waiting_earlier, "notes": result.notes,
        "documents": [{"number": d.number, "party": d.metadata.get("customer_ref"), "buyer": d.buyer.name,
                       "part": d.metadata.get("part"), "form": d.form, "net": str(d.net),
                       "vat": str(document_vat(d)), "gross": str(d.gross), "sessions": len(d.sessions)}
                      for d in result.documents],
        "totals": {"net": str(net), "vat": str(vat), "gross": str(gross)},
        "failures": [{"business_key": f.business_key, "party": f.party, "problems": f.problems}
                     for f in result.failures],
    }
    if delivery is not None:
        out["delivered"] = dict(delivery.delivered)
    return out


def render(result: Any, as_of: date, delivery: Any = None) -> str:
    from engine.streams.documents import document_vat

    head = f"cdrflow close-period — {result.stream} {result.period_key} (as of {as_of.isoformat()})"
    if result.outcome == "already_closed":
        return f"{head}\n  already closed: nothing to do, no document issued."
    if result.outcome == "being_closed":
        return f"{head}\n  being closed by another process: nothing done here (use --wait to wait for it)."
    lines = [head]
    if result.status_before == "closing":
        lines.append("  resumed an interrupted close")
    lines.append(f"  sessions assigned: {result.assigned} ({result.late} late)")
    for period, n in sorted(result.waiting_earlier.items()):
        lines.append(f"  note: {n} session(s) of {period} still wait for that period to be closed")
    for note in result.notes:
        lines.append(f"  note: {note}")
    lines.append(f"  documents issued: {len(result.documents)}"
                 + (f" ({result.already_issued} issued before)" if result.already_issued else ""))
    for doc in result.documents:
        part = doc.metadata.get("part")
        label = f"{doc.metadata.get('customer_ref')}" + (f" {part}" if part else "")
        lines.append(f"    {doc.number:<18}{label:<26}{doc.buyer.name[:28]:<30}net {doc.net:>10}  "
                     f"VAT {document_vat(doc):>8}  gross {doc.gross:>10}")
    net, vat, gross = result.totals
    lines.append(f"  total: net {net}  VAT {vat}  gross {gross}")
    for failure in result.failures:
        first = failure.problems[0] if failure.problems else {}
        lines.append(f"  NOT ISSUED {failure.business_key}: {first.get('code')} {first.get('message')}")
    if result.outcome == "incomplete":
        lines.append("  the period stays 'closing': fix the cause and run close-period again")
    else:
        lines.append(f"  period {result.period_key} is closed")
    if delivery is not None:
        lines.append(f"  delivered: {sum(delivery.delivered.values())} outbox message(s)"
                     + (f", {len(delivery.errors)} failed" if delivery.errors else ""))
    return "\n".join(lines)
