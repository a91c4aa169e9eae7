"""SIGKILL at random points of ``cdrflow ingest`` and ``cdrflow close-period``, then restart:
nothing lost, nothing billed twice.

Each trial kills the real command (a process running ``engine.cli.main``, as ``cdrflow``
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

Kill points are spread over the command's own work: a fork server imports cdrflow once and
forks a child per run that calls the real entry point ``engine.cli.main(args)``; the delay
counts from the fork and is drawn from [0, 1.1 x the duration of an uninterrupted run]. For
close-period a quarter of the killed runs deliver too (``--deliver``: kills land in delivery,
rendering and archiving), a quarter only close, and half are killed 0-5 ms after a random number
of the period's documents has been committed (mid-close: the close commits per party, a window
too short for a purely timed kill to hit often); the run to completion always delivers.
Trials run as chains on one database (kill, kill, then run to completion), so a restart that is
itself killed is covered too; two chains run at a time. The states the kills left behind are
printed (``-s``) as evidence of where they landed.

``CDRFLOW_SIGKILL_TRIALS`` (default 20) kills per command and backend; ``CDRFLOW_SIGKILL_SEED``
(default 20261123) seeds the delays and batch sizes. PostgreSQL runs too when DATABASE_URL is set.
"""

from __future__ import annotations

import json
import os
import queue
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
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

# The process that runs each command: a fork server ("zygote") imports cdrflow's modules once;
# for every run it forks a child that runs the real CLI entry point, ``engine.cli.main(args)``
# (what the ``cdrflow`` script calls), with its stdout/stderr in files. The test SIGKILLs that
# child. Nothing of the command is changed or skipped - only Python's start-up and imports are
# not repeated per run (they are most of a run's cost), and the kill delay counts from the fork,
# so it measures the command's own work. No database connection exists before the fork.
ZYGOTE = r"""
import json, os, sys, traceback
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
os.write(1, b"ready\n")
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            for fd, path in ((1, req["out"]), (2, req["err"])):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            sys.argv = ["cdrflow", *req["args"]]
            code = cli.main(req["args"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code or 0)
    os.write(1, (json.dumps({"pid": pid}) + "\n").encode())
    _, status = os.waitpid(pid, 0)
    os.write(1, (json.dumps({"pid": pid, "code": os.waitstatus_to_exitcode(status)}) + "\n").encode())
"""


# --- running and killing ----------------------------------------------------------------------------


@dataclass
class Run:
    killed: bool
    returncode: int
    seconds: float          # from the fork to the exit (or to the kill)
    stdout: str
    stderr: str


class ForkServer:
    def __init__(self, workdir: Path):
        env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
        env.pop("CDRFLOW_RULES_BACKEND", None)
        self.workdir = workdir
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], cwd=ROOT, env=env, bufsize=0,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._buf = b""
        line = self._line(120)
        assert line == "ready", f"fork server failed to start: {line!r}"

    def _line(self, timeout: float | None) -> str | None:
        """The next line from the server, or None when ``timeout`` passes first."""
        fd = self.proc.stdout.fileno()
        deadline = None if timeout is None else time.perf_counter() + timeout
        while b"\n" not in self._buf:
            wait = None if deadline is None else max(0.0, deadline - time.perf_counter())
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"fork server exited ({self.proc.wait()})")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()

    def run(self, args: list[str], kill_after: float | None = None, timeout: float = 180,
            kill_when: Callable[[], bool] | None = None) -> Run:
        """``kill_after``: SIGKILL after that many seconds; with ``kill_when``, that many seconds
        after ``kill_when()`` (polled every 2 ms) first returns True."""
        tag = uuid.uuid4().hex[:8]
        out, err = self.workdir / f"{tag}.out", self.workdir / f"{tag}.err"
        self.proc.stdin.write((json.dumps({"args": args, "out": str(out), "err": str(err)}) + "\n").encode())
        pid = json.loads(self._line(60))["pid"]
        start = time.perf_counter()
        killed = False
        done = None
        if kill_when is not None:
            while done is None and not kill_when():
                done = self._line(0.002)
        if kill_after is not None and done is None:
            done = self._line(kill_after)
            if done is None:       # still running: kill it
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                except ProcessLookupError:  # it ended (and was reaped) between the wait and the kill
                    pass
        if done is None:
            done = self._line(timeout)
            assert done is not None, f"cdrflow {' '.join(args)} did not finish in {timeout} s"
        seconds = time.perf_counter() - start
        code = json.loads(done)["code"]
        if killed and code != -signal.SIGKILL:  # it exited on its own just before the signal
            assert code == 0, code
            killed = False
        texts = [f.read_text(errors="replace") if f.exists() else "" for f in (out, err)]  # killed before opening
        for f in (out, err):
            f.unlink(missing_ok=True)
        return Run(killed, code, seconds, *texts)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


_SERVERS: "queue.SimpleQueue[ForkServer]" = queue.SimpleQueue()
_ALL_SERVERS: list[ForkServer] = []
_SERVERS_LOCK = threading.Lock()


def run_cli(args: list[str], kill_after: float | None = None, kill_when: Callable[[], bool] | None = None) -> Run:
    """Run ``cdrflow <args>`` in a forked child of a (pooled) fork server; SIGKILL it after
    ``kill_after`` seconds unless it finished first."""
    try:
        server = _SERVERS.get_nowait()
    except queue.Empty:
        with _SERVERS_LOCK:
            workdir = Path(tempfile.mkdtemp(prefix="cdrflow-sigkill-"))
            server = ForkServer(workdir)
            _ALL_SERVERS.append(server)
    try:
        return server.run(args, kill_after, kill_when=kill_when)
    finally:
        _SERVERS.put(server)


@pytest.fixture(scope="module", autouse=True)
def _fork_servers() -> Iterator[None]:
    yield
    with _SERVERS_LOCK:
        while True:
            try:
                _SERVERS.get_nowait()
            except queue.Empty:
                break
        for server in _ALL_SERVERS:
            server.close()
            shutil.rmtree(server.workdir, ignore_errors=True)
        _ALL_SERVERS.clear()


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


def claims_counter(url: str, stream: str) -> tuple[Callable[[], int], Callable[[], None]]:
    """A cheap poll of how many documents of ``stream`` are claimed (committed), and its close.
    Plain driver connections: a SQLAlchemy session would BEGIN IMMEDIATE on SQLite (a write lock)."""
    sql = "SELECT count(*) FROM document_claims WHERE stream = '%s'" % stream
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True, timeout=5,
                               isolation_level=None)
    else:
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    return (lambda: conn.execute(sql).fetchone()[0]), conn.close


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
    args: Callable[[str, random.Random, str], list[str]]  # (database url, rng, variant) -> CLI arguments
    template: str | None                                  # database to clone (None: migrated, empty)
    variants: tuple[str, ...] = ("full",)                 # killed runs use any; the final run "full"
    # variant -> (url -> a poll that turns True at a random point of progress); those runs are
    # killed a random jitter after the poll turns True
    triggers: dict[str, Callable[[str, random.Random, "Scenario"], tuple[Callable[[], bool], Callable[[], None]]]] \
        = field(default_factory=dict)
    reference: dict[str, list[tuple]] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.durations["full"]


@dataclass
class Tally:
    kills: int = 0
    by_variant: Counter = field(default_factory=Counter)
    finished_before_kill: int = 0
    chains: int = 0
    reruns: int = 0
    delays: list[float] = field(default_factory=list)
    progress: set[tuple] = field(default_factory=set)  # what the kills left behind (see _progress)


def _progress(snap: dict[str, list[tuple]]) -> tuple:
    """(CDRs, documents claimed, period closed, delivered to the provider, events, archived)."""
    return (len(snap["cdrs"]), len(snap["claims"]), sum(1 for p in snap["periods"] if p[3] == "closed"),
            len(snap["documents"]), len(snap["events"]), len(snap["archive"]))


def run_chain(backend: Backend, scenario: Scenario, rng: random.Random, tally: Tally) -> None:
    url = backend.new(scenario.template)
    for k in range(KILLS_PER_CHAIN):
        variant = rng.choice(scenario.variants)
        if variant in scenario.triggers:
            poll, stop = scenario.triggers[variant](url, rng, scenario)
            delay = rng.uniform(0.0, 0.005)
            try:
                run = run_cli(scenario.args(url, rng, variant), kill_after=delay, kill_when=poll)
            finally:
                stop()
        else:
            delay = rng.uniform(0.0, 1.1 * scenario.durations[variant])
            tally.delays.append(delay)
            run = run_cli(scenario.args(url, rng, variant), kill_after=delay)
        where = f"{scenario.name} on {backend.kind}, kill {k + 1} ({variant}) after {delay:.2f} s"
        if run.killed:
            tally.kills += 1
            tally.by_variant[variant] += 1
        else:
            tally.finished_before_kill += 1
            assert run.returncode == 0, f"{where}: exit {run.returncode}\n{run.stderr[-2000:]}"
        snap = snapshot(url)
        check_consistent(snap, where)
        if run.killed:
            tally.progress.add(_progress(snap))
        expire_leases(url)
    final = run_cli(scenario.args(url, rng, "full"))
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
    ref = run_cli(scenario.args(url, random.Random(seed), "full"))
    assert ref.returncode == 0, ref.stderr[-2000:]
    scenario.durations["full"] = ref.seconds
    scenario.reference = snapshot(url)
    check_consistent(scenario.reference, f"{scenario.name}: uninterrupted run")
    for variant in scenario.variants:  # how long the other variants work, uninterrupted
        if variant not in scenario.durations and variant not in scenario.triggers:
            run = run_cli(scenario.args(backend.new(scenario.template), random.Random(seed), variant))
            assert run.returncode == 0, run.stderr[-2000:]
            scenario.durations[variant] = run.seconds
    chains = max(1, -(-trials // KILLS_PER_CHAIN))
    tally = Tally()
    rngs = [random.Random(seed * 1000 + i) for i in range(chains)]
    with ThreadPoolExecutor(PARALLEL_CHAINS) as pool:
        for future in [pool.submit(run_chain, backend, scenario, r, tally) for r in rngs]:
            future.result()
    return tally


def _report(scenario: Scenario, backend: Backend, tally: Tally) -> None:
    took = ", ".join(f"{v} {d:.2f} s" for v, d in scenario.durations.items())
    print(f"\n{scenario.name} on {backend.kind}: uninterrupted {took}; {tally.chains} chains, "
          f"{tally.kills} kills (delays {min(tally.delays):.2f}..{max(tally.delays):.2f} s), "
          f"{tally.finished_before_kill} runs finished before their kill, {tally.reruns} runs to completion; "
          f"kills by variant {dict(tally.by_variant)}; "
          f"{len(tally.progress)} different states left behind (CDRs, documents, periods closed, delivered, "
          f"events, archived): "
          f"{sorted(tally.progress)}")


def test_sigkill_during_ingest(backend: Backend) -> None:
    def args(url: str, rng: random.Random, variant: str) -> list[str]:
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
    def args(url: str, rng: random.Random, variant: str) -> list[str]:
        deliver = ["--deliver"] if variant == "full" else []
        return ["close-period", "--stream", stream, "--period", PERIOD, "--as-of", AS_OF, *deliver,
                "--database-url", url]

    def after_claims(url: str, rng: random.Random, scenario: Scenario):
        # kill a few ms after the k-th document of the period is committed (k random): the close
        # commits per party, a window too short for a purely timed kill to hit often
        documents = sum(1 for c in scenario.reference["claims"] if c[2] == stream)
        k = rng.randrange(0, max(1, documents))
        count, stop = claims_counter(url, stream)
        return (lambda: count() >= k), stop

    # killed runs: a quarter deliver too (kills land mostly in delivery and archiving), a quarter
    # only close, half are killed 0-5 ms after a random number of the period's documents is
    # committed (mid-close); the run to completion always delivers
    scenario = Scenario(f"cdrflow close-period --stream {stream} --deliver", args, template=ingested,
                        variants=("full", "close only", "mid-close", "mid-close"),
                        triggers={"mid-close": after_claims})
    # TRIALS kills of close-period in all, half per stream
    tally = run_trials(backend, scenario, SEED + (1 if stream == "msp" else 2), max(1, TRIALS // 2))
    _report(scenario, backend, tally)
    claims = [c for c in scenario.reference["claims"] if c[2] == stream]
    assert claims and all(c[4] == PERIOD for c in claims)
    assert len(scenario.reference["documents"]) == len(scenario.reference["claims"])
    assert ("msp" if stream == "msp" else "subscription", PERIOD, "*", "closed") in scenario.reference["periods"]
    assert tally.kills >= TRIALS // 4, f"only {tally.kills} of {TRIALS // 2} runs were killed mid-way"
