"""``cdrflow work [--once]``: the background worker.

Each round it

1. releases the ad-hoc CDRs still waiting although their PSP transaction is stored
   (``engine.service.waiting.sweep``; needs the configuration under ``--config`` to decide them
   again - without a ``rules/`` directory there this step is skipped, with a note);
2. expires the ad-hoc CDRs whose wait for a PSP transaction is over (``engine.service.waiting.
   expire``): their exception AD_HOC_NO_PSP_TRANSACTION is opened;
3. builds the billable items of the period streams (subscription, msp) for the Decisions made
   since (``engine.streams.billable.sync_billable``, committed batches): a period close then
   finds its items built, each already in its own period while that is open;
4. runs one round of the outbox worker, when ``engine.streams.worker`` provides one
   (``run_once(session_factory, bundle=...) -> int``, the number of messages delivered; it
   issues the pending ad-hoc documents, delivers the outbox and handles provider events).

then sleeps ``--interval`` seconds (``--once``: one round and exit). Any number of workers may
run at once: rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and SQLite
serialises writers. SIGTERM / SIGINT finish the current round and exit 0; a round that fails
is reported on stderr and the next one runs after the pause (``--once``: exit 1).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from typing import Any, Callable

from engine.commands._common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, add_config_option
from engine.commands.db import add_database_option, open_session_factory

log = logging.getLogger("cdrflow.work")

DEFAULT_INTERVAL = 30.0
DEFAULT_BATCH = 500


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("work", help="run the background worker (expire waiting CDRs, build billable items, "
                                    "deliver the outbox)",
                       description="Expire ad-hoc CDRs whose wait for the PSP transaction is over, build the "
                                   "billable items of the subscription and MSP streams and deliver outbox "
                                   "messages, in a loop (or once).")
    add_database_option(p)
    add_config_option(p)
    p.add_argument("--once", action="store_true", help="one round, then exit")
    p.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, metavar="SECONDS",
                   help=f"pause between rounds (default: {DEFAULT_INTERVAL:g})")
    p.add_argument("--batch", type=int, default=DEFAULT_BATCH, metavar="N",
                   help=f"most CDRs expired per transaction (default: {DEFAULT_BATCH})")
    p.set_defaults(func=run)


def outbox_step() -> Callable[[Any], Any] | None:
    """The outbox worker's ``run_once(session_factory)``, if ``engine.streams.worker`` has one."""
    try:
        module = importlib.import_module("engine.streams.worker")
    except ModuleNotFoundError as exc:
        if exc.name in ("engine.streams.worker", "engine.streams"):
            return None
        raise
    step = getattr(module, "run_once", None)
    return step if callable(step) else None


def expire_due(session_factory: Any, *, batch: int = DEFAULT_BATCH, now: Any = None) -> list[tuple[str, str, str]]:
    """Expire every CDR due now, ``batch`` per transaction; the keys expired."""
    from engine.service.waiting import expire

    expired: list[tuple[str, str, str]] = []
    while True:
        with session_factory() as session:
            keys = expire(session, now, limit=batch)
            session.commit()
        expired += keys
        if len(keys) < batch:
            return expired


def sweep_stored(session_factory: Any, bundle: Any, policy: Any = None) -> list[tuple[str, str, str]]:
    """Release the waiting CDRs whose PSP transaction is stored already; the keys released."""
    from engine.pipeline import Pipeline
    from engine.service.waiting import sweep
    from engine.store.reference import DbSource

    with session_factory() as session:
        keys = sweep(session, Pipeline(bundle, DbSource(session)), policy=policy)
        session.commit()
    return keys


class ItemSync:
    """Builds the billable items of every period stream, round after round.

    The first round looks at every current Decision (an anti-join, about a second per million
    Decisions on PostgreSQL); later rounds only at those made since the previous round, less a
    margin of ``MARGIN`` Decisions for transactions that were still open then. A Decision that
    commits even further behind is built by the period close itself, which always looks at all."""

    MARGIN = 10_000

    def __init__(self) -> None:
        self.since: int | None = None

    def __call__(self, session_factory: Any) -> int:
        from engine.streams.billable import PERIOD_STREAMS, last_decision, sync_billable

        with session_factory() as session:
            mark = last_decision(session)
            built = sum(sync_billable(session, stream, commit=True, since=self.since) for stream in PERIOD_STREAMS)
            session.commit()
        self.since = max(0, mark - self.MARGIN)
        return built


def one_round(session_factory: Any, *, bundle: Any = None, policy: Any = None, batch: int = DEFAULT_BATCH,
              out=sys.stdout, items: ItemSync | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if bundle is not None:
        released = sweep_stored(session_factory, bundle, policy)
        for country, party, cdr_id in released:
            print(f"released: {country}*{party} {cdr_id} (its PSP transaction is stored)", file=out, flush=True)
        result["released"] = len(released)
    expired = expire_due(session_factory, batch=batch)
    for country, party, cdr_id in expired:
        print(f"expired: {country}*{party} {cdr_id} (AD_HOC_NO_PSP_TRANSACTION)", file=out, flush=True)
    result["expired"] = len(expired)
    result["synced"] = (items or ItemSync())(session_factory)
    step = outbox_step()
    if step is not None:
        result["outbox"] = step(session_factory, bundle=bundle) if bundle is not None else step(session_factory)
    return result


def summary(result: dict[str, Any]) -> str:
    parts = []
    if "released" in result:
        parts.append(f"{result['released']} released")
    parts.append(f"{result['expired']} expired")
    if "synced" in result:
        parts.append(f"{result['synced']} billable items built")
    if "outbox" in result:
        parts.append(f"{result['outbox']} outbox messages delivered")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    if args.interval < 0 or args.batch < 1:
        print("cdrflow work: --interval must not be negative and --batch must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    from pathlib import Path

    from engine.commands._common import load_config
    from engine.service.waiting import WaitingPolicy

    try:
        policy = WaitingPolicy.from_env()
    except ValueError as exc:
        print(f"cdrflow work: {exc}", file=sys.stderr)
        return EXIT_USAGE
    bundle = None
    if (Path(args.config) / "rules").is_dir():
        bundle = load_config(args.config)
        if bundle is None:
            return EXIT_USAGE
    else:
        print(f"cdrflow work: note: no rules/ under {Path(args.config).resolve()} (--config): CDRs waiting although "
              "their PSP transaction is stored are not released by this worker", file=sys.stderr)
    session_factory = open_session_factory(args.database_url)
    if session_factory is None:
        return EXIT_USAGE
    stop = threading.Event()
    previous = {}
    if not args.once and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    items = ItemSync()
    try:
        while True:
            try:
                result = one_round(session_factory, bundle=bundle, policy=policy, batch=args.batch, items=items)
            except Exception as exc:  # noqa: BLE001 - one failed round must not end the worker
                print(f"cdrflow work: the round failed: {type(exc).__name__}: "
                      f"{str(getattr(exc, 'orig', None) or exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                      file=sys.stderr, flush=True)
                if args.once:
                    return EXIT_FINDINGS
                log.exception("cdrflow work: round failed")
            else:
                if args.once:
                    print("cdrflow work: " + summary(result))
                    return EXIT_OK
            if stop.wait(args.interval):
                return EXIT_OK
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        session_factory.kw["bind"].dispose()
