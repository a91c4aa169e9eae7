"""SIGKILL at random points of ``cdrflow ingest`` and ``cdrflow close-period``, then restart:
nothing lost, nothing billed twice.

Each trial kills the real command (a subprocess running ``engine.cli.main``, as ``cdrflow``
does) with SIGKILL after a seeded random delay, checks that what it left behind is consistent,
then runs the same command again to completion and checks that the database ends exactly as an
uninterrupted run leaves it:

* every CDR stored exactly once, with exactly one (current) Decision; the same CDRs, states,
  Decisions, rejected inputs, exceptions and waiting CDRs as the uninterrupted run;
* every document claimed once per business key, with one number; the numbers of each range
  gap-free from 1 (or the gaps logged as voided), no number issued without its document, the
  counters right behind the last number; one provider message per document; every billable
  item billed by one document of its own party; after delivery (``--deliver``, the local
  provider) one provider document per number;
* the same documents, numbers and amounts as the uninterrupted run.

Kill points are spread over the command's own work: the subprocess imports the heavy modules
first and says ``ready``; the delay counts from there and is drawn from [0, 1.1 x the duration of
an uninterrupted run]. Trials run as chains on one database (kill, kill, then run to
completion), so a restart that is itself killed is covered too, and two chains run at a time.

``CDRFLOW_SIGKILL_TRIALS`` (default 20) kills per command and backend; ``CDRFLOW_SIGKILL_SEED``
(default 20261123) seeds the delays and batch sizes. PostgreSQL runs too when DATABASE_URL is set.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from dbfixtures import BACKENDS, create_pg_database, drop_pg_database
from engine.store import migrate
from engine.store.db import make_engine

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TRIALS = int(os.environ.get("CDRFLOW_SIGKILL_TRIALS", "20"))
SEED = int(os.environ.get("CDRFLOW_SIGKILL_SEED", "20261123"))
KILLS_PER_CHAIN = 2
PARALLEL_CHAINS = 2
INPUTS = ("samples/cdrs",)
PERIOD, AS_OF = "2026-10", "2026-11-01"

# The subprocess: the real CLI entry point, after the imports (so the kill delay measures the
# command's work, not Python's start-up). Nothing of the command is changed or skipped.
LAUNCHER = r"""
import sys
from engine import cli
import engine.commands._common, engine.commands.ingest, engine.commands.close_period  # noqa: F401
import engine.intake, engine.pipeline, engine.service.ingest, engine.store.priced, engine.store.reference  # noqa
import engine.streams.adhoc, engine.streams.close, engine.streams.msp, engine.streams.subscription  # noqa
import engine.streams.worker, engine.providers, engine.config.bundle, engine.classify.backends  # noqa
import sqlalchemy.dialects.sqlite, sqlalchemy.dialects.postgresql  # noqa
try:
    import psycopg  # noqa
except ImportError:
    pass
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.exit(cli.main(sys.argv[1:]))
"""


# --- running and killing ----------------------------------------------------------------------------


@dataclass
class Run:
    killed: bool
    returncode: int
    seconds: float          # from "ready" to exit (or to the kill)
    stdout: str
    stderr: str


def run_cli(args: list[str], kill_after: float | None = None, timeout: float = 120) -> Run:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    env.pop("CDRFLOW_RULES_BACKEND", None)
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline()
        if first.strip() != "ready":
            out, err = proc.communicate(timeout=timeout)
            raise AssertionError(f"launcher failed ({proc.returncode}): {first}{out}\n{err}")
        start = time.perf_counter()
        killed = False
        if kill_after is not None:
            deadline = start + kill_after
            while time.perf_counter() < deadline and proc.poll() is None:
                time.sleep(min(0.005, max(0.0, deadline - time.perf_counter())))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
        out, err = proc.communicate(timeout=timeout)
        seconds = time.perf_counter() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if killed:
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, err)
    return Run(killed, proc.returncode, seconds, out, err)


# --- databases ----------------------------------------------------------------------------------------


class Backend:
    """Fresh databases cloned from templates: SQLite files are copied, PostgreSQL databases are
    created ``TEMPLATE <template>``."""

    def __init__(self, kind: str, workdir: Path, server: str | None):
        self.kind, self.workdir, self.server = kind, workdir, server
        self.created: list[str] = []
        self._lock = threading.Lock()
        self._empty: str | None = None

    def new(self, template: str | None = None) -> str:
        """A database cloned from ``template``; from a migrated empty one when None."""
        with self._lock:
            if template is None:
                if self._empty is None:
                    self._empty = self._create(None)
                template = self._empty
            return self._create(template)

    def _create(self, template: str | None) -> str:
        name = f"cdrflow_kill_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        if self.kind == "sqlite":
            path = self.workdir / f"{name}.db"
            if template:
                src = Path(template.removeprefix("sqlite:///"))
                for suffix in ("", "-wal", "-shm"):
                    if Path(f"{src}{suffix}").exists():
                        shutil.copyfile(f"{src}{suffix}", f"{path}{suffix}")
            url = f"sqlite:///{path}"
            if not template:
                migrate.upgrade(url)
            return url
        from sqlalchemy.engine import make_url

        admin = make_engine(self.server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                tail = f' TEMPLATE "{make_url(template).database}"' if template else ""
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"{tail}')
        finally:
            admin.dispose()
        url = make_url(self.server).set(database=name).render_as_string(hide_password=False)
        self.created.append(url)
        if not template:
            migrate.upgrade(url)
        return url

    def drop_all(self) -> None:
        for url in self.created:
            drop_pg_database(self.server, url)
        self.created.clear()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    server = request.getfixturevalue("pg_server_url") if request.param == "postgres" else None
    b = Backend(request.param, tmp_path_factory.mktemp(f"sigkill-{request.param}"), server)
    try:
        yield b
    finally:
        if b.kind == "postgres":
            b.drop_all()


# --- what the database holds, and what must always hold --------------------------------------------------

SNAPSHOT_SQL = {
    "cdrs": "SELECT country_code, party_id, cdr_id, content_hash, state FROM cdrs",
    "decisions_per_cdr": "SELECT c.cdr_id, count(d.id), sum(CASE WHEN d.is_current THEN 1 ELSE 0 END) "
                         "FROM cdrs c LEFT JOIN decisions d ON d.cdr_pk = c.id GROUP BY c.id, c.cdr_id",
    "decisions": "SELECT c.cdr_id, d.stream, d.rule_id, d.exception_reason, d.config_version "
                 "FROM cdrs c JOIN decisions d ON d.cdr_pk = c.id AND d.is_current",
    "rejected_inputs": "SELECT content_hash FROM rejected_inputs",
    "exceptions": "SELECT e.reason, e.status, COALESCE(c.cdr_id, ''), COALESCE(r.content_hash, ''), "
                  "substr(COALESCE(e.dedup_key, ''), 1, 9) = 'decision:' FROM exceptions e "
                  "LEFT JOIN cdrs c ON c.id = e.cdr_pk LEFT JOIN rejected_inputs r ON r.id = e.rejected_input_id",
    "waiting": "SELECT c.cdr_id, w.reason, w.status FROM waiting_cdrs w JOIN cdrs c ON c.id = w.cdr_pk",
    "claims": "SELECT business_key, COALESCE(number, ''), stream, doc_type, period_key, party_ref, net, vat, gross "
              "FROM document_claims",
    "numbers": "SELECT number, action, stream, year, value FROM number_log",
    "ranges": "SELECT stream, year, prefix, next_value FROM number_ranges",
    "outbox": "SELECT kind, idempotency_key, status FROM outbox",
    "items": "SELECT c.cdr_id, i.stream, i.party_ref, COALESCE(i.period_key, ''), COALESCE(i.document_number, ''), "
             "i.late FROM billable_items i JOIN cdrs c ON c.id = i.cdr_pk",
    "periods": "SELECT stream, period_key, party_ref, status FROM billing_periods",
    "documents": "SELECT number, stream, doc_type, status, net_amount, gross_amount FROM billing_documents",
    "document_lines": "SELECT d.number, count(l.id) FROM billing_documents d "
                      "LEFT JOIN billing_document_lines l ON l.document_id = d.id GROUP BY d.number",
    "events": "SELECT provider, event_id, type FROM provider_events",
    "archive": "SELECT number, range_key, seq FROM archive_entries",
}


def snapshot(url: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {name: sorted((tuple(str(v) for v in row) for row in conn.exec_driver_sql(sql)))
                    for name, sql in SNAPSHOT_SQL.items()}
    finally:
        engine.dispose()


def check_consistent(snap: dict[str, list[tuple]], where: str) -> None:
    """What must hold after any kill, at any point."""
    # every CDR once, with exactly one Decision, which is current (ingest never replaces one)
    keys = Counter(row[:3] for row in snap["cdrs"])
    assert all(n == 1 for n in keys.values()), f"{where}: a CDR stored twice: {keys.most_common(3)}"
    bad = [r for r in snap["decisions_per_cdr"] if r[1:] != ("1", "1")]
    assert not bad, f"{where}: CDRs without exactly one current Decision: {bad[:5]}"
    # the exception queue holds nothing twice
    dup = [k for k, n in Counter(snap["exceptions"]).items() if n > 1 and k[2:4] != ("", "")]
    assert not dup, f"{where}: exceptions opened twice: {dup[:5]}"
    assert len({r[0] for r in snap["waiting"]}) == len(snap["waiting"]), f"{where}: a CDR parked twice"
    # documents: one claim per business key, one number each, numbers unique
    claims = snap["claims"]
    numbers = [c[1] for c in claims]
    assert all(numbers), f"{where}: a claim without a number: {[c for c in claims if not c[1]][:3]}"
    assert len(set(numbers)) == len(numbers), f"{where}: a number on two documents"
    assert len({c[0] for c in claims}) == len(claims), f"{where}: a business key claimed twice"
    # numbers: nothing issued without its document; per range gap-free from 1 or gaps voided; the
    # counter right behind the last number
    issued = [r for r in snap["numbers"] if r[1] == "issued"]
    voided = {(r[2], r[3], int(r[4])) for r in snap["numbers"] if r[1] == "voided"}
    assert sorted(r[0] for r in issued) == sorted(numbers), f"{where}: issued numbers != documents' numbers"
    by_range: dict[tuple[str, str], list[int]] = defaultdict(list)
    for number, _, stream, year, value in issued:
        by_range[(stream, year)].append(int(value))
    for (stream, year), values in by_range.items():
        values.sort()
        assert len(values) == len(set(values)), f"{where}: {stream}/{year}: a value issued twice"
        gaps = [v for v in range(1, values[-1] + 1) if v not in set(values) and (stream, year, v) not in voided]
        assert not gaps, f"{where}: {stream}/{year}: numbers missing and not voided: {gaps[:5]}"
    counters = {(r[0], r[1]): int(r[3]) for r in snap["ranges"]}
    for rng, values in by_range.items():
        assert counters.get(rng) == values[-1] + 1, f"{where}: counter of {rng} is {counters.get(rng)}, " \
                                                    f"last number {values[-1]}"
    # one provider message per document (and none for a document that does not exist)
    issue_keys = sorted(r[1] for r in snap["outbox"] if r[0] == "provider.issue")
    assert issue_keys == sorted(f"issue:{c[0]}" for c in claims), f"{where}: outbox != claims"
    # every billed item is on one document of its own period and party
    by_number = {c[1]: c for c in claims}
    parties: dict[str, set[str]] = defaultdict(set)
    for cdr_id, stream, party, period, number, _late in snap["items"]:
        if number:
            assert number in by_number, f"{where}: item {cdr_id} billed by unknown number {number}"
            claim = by_number[number]
            assert claim[4] == period and claim[5] == party, f"{where}: item {cdr_id} on {number} of {claim[5]}"
            if stream == "msp":
                parties[party].add(number)
    assert all(len(n) == 1 for n in parties.values()), f"{where}: an MSP's items on several invoices"
    # provider side: one document per number, each a claimed one
    docs = [d[0] for d in snap["documents"]]
    assert len(docs) == len(set(docs)) and set(docs) <= set(numbers), f"{where}: provider documents"
    archived = [a[0] for a in snap["archive"]]
    assert len(archived) == len(set(archived)) and set(archived) <= set(docs), f"{where}: archive entries"


def expire_leases(url: str) -> int:
    """What five minutes of waiting does to the outbox leases a killed worker held (the lease
    is how a dead worker's messages come back); the count."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            return conn.exec_driver_sql(
                "UPDATE outbox SET locked_by = NULL, locked_until = NULL "
                "WHERE locked_until IS NOT NULL AND status IN ('pending', 'failed')").rowcount
    finally:
        engine.dispose()


# --- the trials ------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    args: Callable[[str, random.Random], list[str]]   # (database url, rng) -> CLI arguments
    template: str | None                               # database to clone (None: migrated, empty)
    reference: dict[str, list[tuple]] = field(default_factory=dict)
    duration: float = 0.0


@dataclass
class Tally:
    kills: int = 0
    finished_before_kill: int = 0
    chains: int = 0
    reruns: int = 0
    delays: list[float] = field(default_factory=list)
    progress: set[tuple[int, int, int]] = field(default_factory=set)  # (CDRs, documents, delivered) left by kills


def run_chain(backend: Backend, scenario: Scenario, rng: random.Random, tally: Tally) -> None:
    url = backend.new(scenario.template)
    for k in range(KILLS_PER_CHAIN):
        delay = rng.uniform(0.0, 1.1 * scenario.duration)
        tally.delays.append(delay)
        run = run_cli(scenario.args(url, rng), kill_after=delay)
        where = f"{scenario.name} on {backend.kind}, kill {k + 1} after {delay:.2f} s"
        if run.killed:
            tally.kills += 1
        else:
            tally.finished_before_kill += 1
            assert run.returncode == 0, f"{where}: exit {run.returncode}\n{run.stderr[-2000:]}"
        snap = snapshot(url)
        check_consistent(snap, where)
        if run.killed:
            tally.progress.add((len(snap["cdrs"]), len(snap["claims"]), len(snap["documents"])))
        expire_leases(url)
    final = run_cli(scenario.args(url, rng))
    tally.reruns += 1
    where = f"{scenario.name} on {backend.kind}, run to completion"
    assert final.returncode == 0, f"{where}: exit {final.returncode}\n{final.stderr[-2000:]}"
    snap = snapshot(url)
    check_consistent(snap, where)
    for name, rows in scenario.reference.items():
        assert snap[name] == rows, f"{where}: {name} differs from the uninterrupted run: " \
                                   f"missing {sorted(set(rows) - set(snap[name]))[:3]}, " \
                                   f"extra {sorted(set(snap[name]) - set(rows))[:3]}"
    tally.chains += 1


def run_trials(backend: Backend, scenario: Scenario, seed: int, trials: int) -> Tally:
    # the uninterrupted run: the expected end state, and how long the command works
    url = backend.new(scenario.template)
    durations = []
    ref = run_cli(scenario.args(url, random.Random(seed)))
    assert ref.returncode == 0, ref.stderr[-2000:]
    durations.append(ref.seconds)
    scenario.reference = snapshot(url)
    check_consistent(scenario.reference, f"{scenario.name}: uninterrupted run")
    scenario.duration = max(durations)
    chains = max(1, -(-trials // KILLS_PER_CHAIN))
    tally = Tally()
    rngs = [random.Random(seed * 1000 + i) for i in range(chains)]
    with ThreadPoolExecutor(PARALLEL_CHAINS) as pool:
        for future in [pool.submit(run_chain, backend, scenario, r, tally) for r in rngs]:
            future.result()
    return tally


def _report(scenario: Scenario, backend: Backend, tally: Tally) -> None:
    print(f"\n{scenario.name} on {backend.kind}: uninterrupted {scenario.duration:.2f} s; {tally.chains} chains, "
          f"{tally.kills} kills (delays {min(tally.delays):.2f}..{max(tally.delays):.2f} s), "
          f"{tally.finished_before_kill} runs finished before their kill, {tally.reruns} runs to completion; "
          f"{len(tally.progress)} different states left behind (CDRs, documents, delivered): "
          f"{sorted(tally.progress)}")


def test_sigkill_during_ingest(backend: Backend) -> None:
    def args(url: str, rng: random.Random) -> list[str]:
        # small, varying batches: many commits, so kills land between and inside them
        return ["ingest", "--database-url", url, "--batch-size", str(rng.choice((1, 2, 3, 5, 8))), *INPUTS]

    scenario = Scenario("cdrflow ingest", args, template=None)
    tally = run_trials(backend, scenario, SEED, TRIALS)
    _report(scenario, backend, tally)
    assert len(scenario.reference["cdrs"]) > 50
    assert scenario.reference["claims"], "the sample corpus issues ad-hoc documents at ingest"
    assert tally.kills >= TRIALS // 2, f"only {tally.kills} of {TRIALS} runs were killed mid-way"


@pytest.fixture(scope="module")
def ingested(backend: Backend) -> str:
    """A database holding the sample corpus (the template of every close-period trial)."""
    url = backend.new()
    done = run_cli(["ingest", "--database-url", url, *INPUTS])
    assert done.returncode == 0, done.stderr[-2000:]
    return url


@pytest.mark.parametrize("stream", ["msp", "subscription"])
def test_sigkill_during_close_period(backend: Backend, ingested: str, stream: str) -> None:
    def args(url: str, rng: random.Random) -> list[str]:
        return ["close-period", "--stream", stream, "--period", PERIOD, "--as-of", AS_OF, "--deliver",
                "--database-url", url]

    scenario = Scenario(f"cdrflow close-period --stream {stream} --deliver", args, template=ingested)
    # TRIALS kills of close-period in all, half per stream
    tally = run_trials(backend, scenario, SEED + (1 if stream == "msp" else 2), max(1, TRIALS // 2))
    _report(scenario, backend, tally)
    claims = [c for c in scenario.reference["claims"] if c[2] == stream]
    assert claims and all(c[4] == PERIOD for c in claims)
    assert len(scenario.reference["documents"]) == len(scenario.reference["claims"])
    assert ("msp" if stream == "msp" else "subscription", PERIOD, "*", "closed") in scenario.reference["periods"]
    assert tally.kills >= TRIALS // 4, f"only {tally.kills} of {TRIALS // 2} runs were killed mid-way"
