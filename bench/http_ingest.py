"""HTTP ingest benchmark: cdrflow under gunicorn + PostgreSQL on loopback, next to its baselines.

    .venv/bin/python bench/http_ingest.py [--quick] [--seconds 20] [--worker-class gthread|sync]
                                          [--workers 2] [--threads 4] [--sweep] [--profile]

What it does, all in one run (every loop bounded in count *and* time):

1. creates a fresh PostgreSQL database ``cdrflow_bench_http_<pid>``, migrates it
   (``engine.store.migrate.upgrade``), loads the sample reference data with the real
   ``cdrflow load`` (the service then reads its facts from the database, as in production) and
   creates an API token (``engine.store.clients.create_client``);
2. takes distinct CDRs from bench/corpus.py (seeded; the cached ``bench/out/cdrs-N-SEED.jsonl``
   of bench/run.py is reused) - every request carries CDRs never sent before, so every phase
   measures the ``new`` path (decide + store), never the cheap duplicate path;
3. starts ``gunicorn 'server:create_app()'`` as a subprocess (the production entry point) and,
   for the framework ceiling, ``gunicorn 'http_ingest:trivial_app()'`` with the same settings -
   a Flask app whose POST /cdrs only parses the JSON body and answers 200;
4. drives each with a load generator in separate processes (``--clients`` processes x
   ``--conns`` threads, one keep-alive ``http.client`` connection each, closed loop):
   (a) single-CDR ``POST /cdrs``: CDR/s and p50/p95/p99 latency (target >= 1,000 CDR/s, p99 < 50 ms)
   (b) batched ``POST /cdrs`` (``--batch`` CDRs per JSON array): CDR/s (target >= 10,000 CDR/s)
5. in-process baselines without HTTP on the same database: ``engine.service.ingest.ingest()``
   (what ``cdrflow ingest`` runs) and ``Pipeline.decide_item`` alone (the pure pipeline, no store);
6. the database's floor: the stored CDRs and Decisions COPYed into scratch tables with the same
   indexes (``storage_floor``) - PostgreSQL's own CPU per CDR for what must be stored, by the
   cheapest way there is - and the ceiling it leaves with the pure pipeline on the same cores.

Why a Python load generator and not wrk: each request must carry a *different* CDR (a repeated
body is a duplicate and takes the cheap path), the latency of every request is kept for exact
percentiles, and every response status is checked; that is a few lines here and awkward in wrk's
Lua. Its cost is measured instead of guessed: the client processes' CPU time is printed (a few
per cent of the server's), and it runs against the framework ceiling too, so the ratios are fair.

CPU accounting: the machine is shared (other engineers run test suites), so besides wall-clock
throughput each phase reports the CPU time the server side used per CDR - gunicorn workers plus
the PostgreSQL backends of the benchmark database, read from /proc - and the machine's total busy
share during the phase. ``capacity`` = 2 cores / server CPU per CDR is the throughput the server
would reach with both cores to itself (an upper bound: it ignores the client and contention).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import itertools
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
VENV_BIN = Path(sys.executable).parent
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

TARGET_SINGLE_RATE = 1_000     # CDR/s, single-CDR POSTs
TARGET_SINGLE_P99_MS = 50.0
TARGET_BATCH_RATE = 10_000     # CDR/s, batched POSTs

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from hostinfo import machine, psycopg_url  # noqa: E402


# ---- the framework ceiling: gunicorn 'http_ingest:trivial_app()' --------------------------------

def trivial_app():
    """POST /cdrs parses the JSON body and answers 200; GET /healthz for the readiness probe."""
    from flask import Flask, Response, request

    app = Flask("trivial")

    @app.post("/cdrs")
    def cdrs() -> Response:
        data = json.loads(request.get_data())
        n = len(data) if isinstance(data, list) else 1
        return Response('{"received":%d}\n' % n, status=200, mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}\n', status=200, mimetype="application/json")

    return app


# ---- machine and /proc ------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            out += [int(x) for x in text]
    except OSError:
        pass
    return out


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return total - idle, total


# ---- the database -----------------------------------------------------------------------------------

class Database:
    """A fresh, migrated PostgreSQL database with the sample reference data and a token."""

    def __init__(self, server: str, name: str):
        from sqlalchemy.engine import make_url

        from engine.store.db import make_engine

        self.server = server
        self.name = name
        self.admin = make_engine(server, isolation_level="AUTOCOMMIT")
        self.url = make_url(server).set(database=name).render_as_string(hide_password=False)

    def create(self) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()

    def backend_pids(self) -> list[int]:
        with self.admin.connect() as conn:
            rows = conn.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,)).all()
        return [r[0] for r in rows]

    def count(self, sql: str) -> int:
        from engine.store.db import make_engine

        eng = make_engine(self.url)
        try:
            with eng.connect() as conn:
                return int(conn.exec_driver_sql(sql).scalar_one())
        finally:
            eng.dispose()


def setup_database(db: Database, reference: str) -> str:
    """Migrate, load the reference data (``cdrflow load``), create a token; the token."""
    from engine.store import migrate
    from engine.store.clients import create_client
    from engine.store.db import make_session_factory

    db.create()
    migrate.upgrade(db.url)
    if reference == "db":
        cmd = [str(VENV_BIN / "cdrflow"), "load", "--database-url", db.url, "--no-release",
               str(REPO / "samples" / "reference")]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise SystemExit(f"bench: cdrflow load failed ({done.returncode}): {done.stderr or done.stdout}")
    sf = make_session_factory(db.url)
    with sf() as session:
        token = create_client(session, "bench")
        session.commit()
    sf.kw["bind"].dispose()
    return token


# ---- the corpus -------------------------------------------------------------------------------------

def corpus_lines(n: int, seed: int) -> list[bytes]:
    import corpus

    path = corpus.write_corpus(OUT / f"cdrs-{n}-{seed}.jsonl", n, seed)
    return path.read_bytes().splitlines()


class Slices:
    """Disjoint slices of the corpus: no CDR is ever sent twice in one run."""

    def __init__(self, lines: list[bytes]):
        self.lines = lines
        self.pos = 0

    def take(self, n: int) -> list[bytes]:
        if self.pos + n > len(self.lines):
            raise SystemExit(f"bench: corpus exhausted ({len(self.lines):,} CDRs); use a larger --corpus")
        out = self.lines[self.pos:self.pos + n]
        self.pos += n
        return out


# ---- gunicorn -----------------------------------------------------------------------------------------

@dataclass
class ServerConfig:
    worker_class: str = "gthread"
    workers: int = 2
    threads: int = 4

    def label(self) -> str:
        if self.worker_class == "gthread":
            return f"gthread -w {self.workers} --threads {self.threads}"
        return f"{self.worker_class} -w {self.workers}"

    def args(self) -> list[str]:
        out = ["-w", str(self.workers), "-k", self.worker_class]
        if self.worker_class == "gthread":
            out += ["--threads", str(self.threads)]
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    def __init__(self, app: str, config: ServerConfig, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        cmd = [str(VENV_BIN / "gunicorn"), app, *config.args(), "-b", f"127.0.0.1:{self.port}",
               "--chdir", str(REPO), "--pythonpath", f"{REPO},{BENCH}", "--timeout", "120", "--keep-alive", "30",
               "--backlog", "2048", "--error-logfile", str(log_path), "--log-level", "info"]
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.command = " ".join(cmd[1:3] + config.args())

    def wait_ready(self, timeout: float = 90.0, workers: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"bench: gunicorn exited {self.proc.returncode}; see {self.log_path}:\n"
                                 + self.log_path.read_text()[-2000:])
            if len(children(self.proc.pid)) >= workers:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                    conn.request("GET", "/healthz")
                    status = conn.getresponse().status
                    conn.close()
                    if status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.2)
        raise SystemExit(f"bench: gunicorn not ready after {timeout:.0f} s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


# ---- the load generator (separate processes) --------------------------------------------------------

def _client_thread(port: int, headers: dict[str, str], bodies: list[bytes], counts: list[int], start_at: float,
                   deadline: float, out: dict[str, Any]) -> None:
    lat = array("d")
    sent_at = array("d")
    ncdrs = array("l")
    statuses: dict[int, int] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while time.time() < start_at:
        time.sleep(0.0005)
    errors = []
    for body, n in zip(bodies, counts):
        t0 = time.perf_counter()
        if time.time() >= deadline:
            break
        try:
            conn.request("POST", "/cdrs", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            status = -1
        t1 = time.perf_counter()
        statuses[status] = statuses.get(status, 0) + 1
        lat.append(t1 - t0)
        sent_at.append(time.time())
        ncdrs.append(n if 200 <= status < 300 else 0)
    conn.close()
    out.update(lat=lat.tobytes(), done_at=sent_at.tobytes(), ncdrs=ncdrs.tobytes(), statuses=statuses,
               errors=errors[:5])


def _client_process(port: int, headers: dict[str, str], work: list[list[tuple[bytes, int]]], start_at: float,
                    deadline: float, queue: Any) -> None:
    results = [dict() for _ in work]
    threads = [threading.Thread(target=_client_thread,
                                args=(port, headers, [b for b, _ in w], [n for _, n in w], start_at, deadline, r))
               for w, r in zip(work, results)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    usage = os.times()
    queue.put({"threads": results, "cpu": usage.user + usage.system})


@dataclass
class LoadResult:
    name: str
    requests: int
    cdrs: int
    wall: float
    latencies: list[float]
    statuses: dict[int, int]
    errors: list[str]
    client_cpu: float
    server_cpu: float = 0.0      # gunicorn workers
    db_cpu: float = 0.0          # postgres backends of the benchmark database
    busy_share: float = 0.0      # the machine's busy share during the phase (all processes)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.cdrs / self.wall if self.wall else 0.0

    @property
    def req_rate(self) -> float:
        return self.requests / self.wall if self.wall else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        k = min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))
        return xs[k] * 1000

    @property
    def cpu_per_cdr_ms(self) -> float:
        return (self.server_cpu + self.db_cpu) / self.cdrs * 1000 if self.cdrs else float("nan")

    @property
    def capacity(self) -> float:
        """CDR/s with 2 cores for the server side alone (gunicorn + PostgreSQL)."""
        per = (self.server_cpu + self.db_cpu) / self.cdrs if self.cdrs else 0
        return (os.cpu_count() or 2) / per if per else float("nan")


def run_load(name: str, port: int, token: str | None, bodies: list[tuple[bytes, int]], *, clients: int, conns: int,
             seconds: float, content_type: str = "application/json",
             measure: Callable[[], dict[str, float]] | None = None) -> LoadResult:
    """Drive ``bodies`` (body, CDRs in it) at the server from ``clients`` processes x ``conns``
    threads, closed loop, until the bodies run out or ``seconds`` pass."""
    headers = {"Content-Type": content_type, "Connection": "keep-alive"}
    if token:
        headers["Authorization"] = f"Token {token}"
    total = clients * conns
    per_thread: list[list[tuple[bytes, int]]] = [bodies[i::total] for i in range(total)]
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 0.5 + 0.05 * clients
    deadline = start_at + seconds
    procs = [ctx.Process(target=_client_process,
                         args=(port, headers, per_thread[c * conns:(c + 1) * conns], start_at, deadline, queue))
             for c in range(clients)]
    for p in procs:
        p.start()
    while time.time() < start_at - 0.01:
        time.sleep(0.001)
    before = measure() if measure else {}
    busy0 = machine_busy()
    reports = [queue.get(timeout=seconds + 180) for _ in procs]
    busy1 = machine_busy()
    after = measure() if measure else {}
    for p in procs:
        p.join(timeout=30)
    lat: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    cdrs = requests = 0
    last_done = start_at
    for rep in reports:
        for t in rep["threads"]:
            lat += array("d", t["lat"]).tolist()
            n = array("l", t["ncdrs"])
            cdrs += sum(n)
            requests += len(n)
            done = array("d", t["done_at"])
            if len(done):
                last_done = max(last_done, done[-1])
            for k, v in t["statuses"].items():
                statuses[k] = statuses.get(k, 0) + v
            errors += t["errors"]
    result = LoadResult(name, requests, cdrs, last_done - start_at, lat, statuses, errors,
                        client_cpu=sum(r["cpu"] for r in reports))
    if before:
        result.server_cpu = after["server"] - before["server"]
        result.db_cpu = after["db"] - before["db"]
    busy = busy1[0] - busy0[0]
    total_j = busy1[1] - busy0[1]
    result.busy_share = busy / total_j if total_j else 0.0
    return result


def cpu_meter(server: Gunicorn, db: Database | None) -> Callable[[], dict[str, float]]:
    def measure() -> dict[str, float]:
        workers = server.worker_pids()
        db_pids = db.backend_pids() if db is not None else []
        return {"server": sum(proc_cpu(p) for p in workers), "db": sum(proc_cpu(p) for p in db_pids)}
    return measure


def single_bodies(lines: list[bytes]) -> list[tuple[bytes, int]]:
    return [(line, 1) for line in lines]


def batch_bodies(lines: list[bytes], size: int) -> list[tuple[bytes, int]]:
    out = []
    for i in range(0, len(lines) - size + 1, size):
        chunk = lines[i:i + size]
        out.append((b"[" + b",".join(chunk) + b"]", len(chunk)))
    return out


def print_load(r: LoadResult, single: bool) -> None:
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()))
    print(f"  {r.name:<44} {r.rate:>8,.0f} CDR/s  {r.req_rate:>7,.0f} req/s  "
          f"p50 {r.pct(50):6.1f}  p95 {r.pct(95):6.1f}  p99 {r.pct(99):6.1f} ms  "
          f"({r.requests:,} req, {r.cdrs:,} CDRs, {r.wall:.1f} s; HTTP {codes})", flush=True)
    if r.server_cpu or r.db_cpu:
        print(f"  {'':<44} server CPU {r.server_cpu:.1f} s + postgres {r.db_cpu:.1f} s = "
              f"{r.cpu_per_cdr_ms:.2f} ms/CDR -> capacity {r.capacity:,.0f} CDR/s on {os.cpu_count()} cores; "
              f"client CPU {r.client_cpu:.1f} s; machine busy {r.busy_share:.0%}", flush=True)
    else:
        print(f"  {'':<44} client CPU {r.client_cpu:.1f} s; machine busy {r.busy_share:.0%}", flush=True)
    for e in r.errors[:3]:
        print(f"    error: {e}")


# ---- in-process baselines ---------------------------------------------------------------------------

def in_process(db: Database, lines: list[bytes], seconds: float, profile: bool = False) -> dict[str, Any]:
    """``ingest()`` (decide + store, batches of 500) and ``Pipeline.decide_item`` alone, in this process."""
    import gc

    from engine import intake
    from engine.http.app import Settings, load_config
    from engine.pipeline import Pipeline
    from engine.service.ingest import ingest
    from engine.store.db import make_session_factory
    from engine.store.priced import StorePricing
    from engine.store.reference import preferred_source

    bundle, yaml_source, classifier = load_config(Settings(config_dir=str(REPO)))
    sf = make_session_factory(db.url)
    source = preferred_source(sf, yaml_source)
    out: dict[str, Any] = {"source": type(source).__name__}
    half = len(lines) // 2
    decide_lines, ingest_lines = lines[:half], lines[half:]

    def bounded(items, deadline, counter):
        for item in items:
            if time.perf_counter() >= deadline:
                return
            counter[0] += 1
            yield item

    # decide only: a session per reference lookup (DbSource without sharing), as the HTTP API and
    # ingest() do (batches of 500 in one session, their PSP transactions and customers read once
    # per batch: DbSource.sharing(session, cdrs)), and with the reference data in memory (YAML)
    blob = b"\n".join(decide_lines) + b"\n"
    variants = [("decide", source, False), ("decide_shared", source, True), ("decide_yaml", yaml_source, False)]
    for key, src, shared in variants:
        if key == "decide_shared" and not hasattr(src, "sharing"):
            continue
        pipeline = Pipeline(bundle, src, classifier=classifier, priced=StorePricing(sf))
        counter = [0]
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        items = bounded(intake.read_items(io.BytesIO(blob), "bench.jsonl"), w0 + seconds / 3, counter)
        while True:
            batch = list(itertools.islice(items, 500))
            if not batch:
                break
            with (src.sharing(None, [i.data for i in batch], own_parties=pipeline.own_parties) if shared
                  else contextlib.nullcontext()):
                for item in batch:
                    pipeline.decide_item(item)
        out[key] = {"n": counter[0], "wall": time.perf_counter() - w0, "cpu": time.process_time() - c0}

    # ingest(): decide + record, committed every 500
    pipeline = Pipeline(bundle, source, classifier=classifier, priced=StorePricing(sf))
    blob = b"\n".join(ingest_lines) + b"\n"
    counter = [0]
    # the ingest's own connection is in the pool after the first batch: measure its backend then
    db_before = {p: proc_cpu(p) for p in db.backend_pids()}
    gc.collect()
    prof = None
    if profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    w0, c0 = time.perf_counter(), time.process_time()
    busy0 = machine_busy()
    summary = ingest(bounded(intake.read_items(io.BytesIO(blob), "bench.jsonl"), w0 + seconds, counter),
                     pipeline, sf, batch_size=500)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    busy1 = machine_busy()
    if prof is not None:
        prof.disable()
    db_after = {p: proc_cpu(p) for p in db.backend_pids()}
    db_cpu = sum(v - db_before.get(p, 0.0) for p, v in db_after.items())
    out["ingest"] = {"n": summary.received, "new": summary.new, "wall": wall, "cpu": cpu, "db_cpu": db_cpu,
                     "busy": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])}
    if prof is not None:
        import pstats
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
        out["profile"] = buf.getvalue()
    sf.kw["bind"].dispose()
    return out


# ---- the database's floor -------------------------------------------------------------------------------

def storage_floor(db: Database, rounds: int = 2) -> dict[str, Any]:
    """PostgreSQL's own CPU per CDR for what ingest must store, by the cheapest way there is: the
    stored ``cdrs`` and ``decisions`` rows (raw JSON, normalised JSONB, the Decision's JSONB)
    written out and COPYed back into scratch tables with the same defaults and indexes, in one
    transaction (best of ``rounds``). No SQL to plan, no driver, no Python: what is left is the
    JSONB parsing, the heap and index writes and the WAL - a floor no ingest path can go below."""
    import psycopg

    best = None
    with psycopg.connect(psycopg_url(db.url), autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM cdrs").fetchone()[0]
        data = {}
        for table in ("cdrs", "decisions"):
            with conn.cursor().copy(f"COPY {table} TO STDOUT") as copy:
                data[table] = b"".join(bytes(chunk) for chunk in copy)
            conn.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)")
        try:
            for _ in range(rounds):
                conn.execute("TRUNCATE floor_cdrs, floor_decisions")
                c0, w0 = proc_cpu(conn.info.backend_pid), time.perf_counter()
                with conn.transaction():
                    for table in ("cdrs", "decisions"):
                        with conn.cursor().copy(f"COPY floor_{table} FROM STDIN") as copy:
                            copy.write(data[table])
                cpu, wall = proc_cpu(conn.info.backend_pid) - c0, time.perf_counter() - w0
                if best is None or cpu < best["cpu"]:
                    best = {"n": n, "cpu": cpu, "wall": wall, "bytes": sum(len(v) for v in data.values())}
        finally:
            conn.execute("DROP TABLE IF EXISTS floor_cdrs, floor_decisions")
    return best or {"n": 0, "cpu": 0.0, "wall": 0.0, "bytes": 0}


# ---- profiling a gunicorn worker ------------------------------------------------------------------------

PROFILE_CONF = '''
import cProfile, os, pstats
_prof = {}
def post_worker_init(worker):
    p = cProfile.Profile(); p.enable(); _prof["p"] = p
def worker_exit(server, worker):
    p = _prof.get("p")
    if p is not None:
        p.disable(); p.dump_stats(os.path.join(%r, "worker-%%d.prof" %% os.getpid()))
'''


# ---- the run -------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 s phases and smaller slices")
    ap.add_argument("--seconds", type=float, default=None, help="longest a load phase runs (default 20; quick 5)")
    ap.add_argument("--worker-class", default="sync", choices=("gthread", "sync"),
                    help="gunicorn worker class (default sync: see --sweep; all are CPU-bound alike)")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    ap.add_argument("--clients", type=int, default=2, help="load generator processes")
    ap.add_argument("--conns", type=int, default=4, help="keep-alive connections (threads) per client process")
    ap.add_argument("--batch", type=int, default=500, help="CDRs per batched POST")
    ap.add_argument("--batch-conns", type=int, default=2, help="connections per client process for batches")
    ap.add_argument("--corpus", type=int, default=None,
                    help="corpus size (default 100,000, the cached run.py corpus; 160,000 with --sweep)")
    ap.add_argument("--seed", type=int, default=20261001)
    ap.add_argument("--reference", choices=("db", "yaml"), default="db",
                    help="reference data from the database (cdrflow load; production) or the YAML files")
    ap.add_argument("--sweep", action="store_true", help="first compare worker configurations on single POSTs")
    ap.add_argument("--profile", action="store_true", help="cProfile the gunicorn workers and the in-process ingest")
    ap.add_argument("--server", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER,
                    help="PostgreSQL server URL (a database is created and dropped on it)")
    ap.add_argument("--keep", action="store_true", help="keep the database (dropped by default)")
    ap.add_argument("--json", type=Path, default=OUT / "http_ingest.json")
    args = ap.parse_args(argv)
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    started = time.perf_counter()

    info = machine()
    print(f"cdrflow HTTP ingest bench  {info['date']}  nproc={info['nproc']}  {info['cpu']}  "
          f"Python {info['python']}  load {info['load']}")
    print(f"command: python bench/http_ingest.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    lines = corpus_lines(args.corpus or (160_000 if args.sweep else 100_000), args.seed)
    print(f"corpus: {len(lines):,} CDRs from bench/corpus.py (seed {args.seed}), "
          f"{sum(map(len, lines[:1000])) / 1000:,.0f} bytes/CDR")
    slices = Slices(lines)
    # how many CDRs a phase may use at most (the time bound usually ends it first)
    cap_single = 8_000 if args.quick else 20_000
    cap_batch = 20_000 if args.quick else 40_000
    cap_inproc = 4_000 if args.quick else 5_000
    cap_sweep = 6_000

    db = Database(args.server, f"cdrflow_bench_http_{os.getpid()}")
    token = setup_database(db, args.reference)
    print(f"database: {db.name} migrated; reference data: "
          f"{'loaded with cdrflow load' if args.reference == 'db' else 'YAML (samples/reference)'}; token created")
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"cdrflow-bench-http-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DATABASE_URL=db.url, CDRFLOW_CONFIG=str(REPO), PYTHONPATH=f"{REPO}:{BENCH}")
    env.pop("CDRFLOW_REFERENCE", None)
    if args.reference == "yaml":
        env["CDRFLOW_REFERENCE"] = str(REPO / "samples" / "reference")
    config = ServerConfig(args.worker_class, args.workers, args.threads)
    results: dict[str, Any] = {"machine": info, "config": config.label(), "seconds": seconds, "phases": {}}
    phases: dict[str, LoadResult] = {}

    def serve(app: str, cfg: ServerConfig, tag: str, profile: bool = False) -> Gunicorn:
        e = dict(env)
        if profile:
            conf = tmp / "profile_conf.py"
            conf.write_text(PROFILE_CONF % str(tmp))
            e["GUNICORN_CMD_ARGS"] = f"-c {conf}"
        server = Gunicorn(app, cfg, e, tmp / f"gunicorn-{tag}.log")
        server.wait_ready(workers=cfg.workers)
        return server

    def warm(server: Gunicorn, tok: str | None, n: int) -> None:
        run_load("warm-up", server.port, tok, single_bodies(slices.take(n)), clients=1, conns=args.conns,
                 seconds=10)

    try:
        if args.sweep:
            print(f"\nsweep: single-CDR POST /cdrs, {min(seconds, 8):.0f} s each, "
                  f"{args.clients}x{args.conns} connections")
            sweep = [ServerConfig("sync", 2), ServerConfig("sync", 3), ServerConfig("sync", 4),
                     ServerConfig("gthread", 2, 2), ServerConfig("gthread", 2, 4), ServerConfig("gthread", 3, 4),
                     ServerConfig("gthread", 4, 2)]
            results["sweep"] = {}
            for cfg in sweep:
                server = serve("server:create_app()", cfg, "sweep")
                try:
                    warm(server, token, 200)
                    r = run_load(f"cdrflow single, {cfg.label()}", server.port, token,
                                 single_bodies(slices.take(cap_sweep)), clients=args.clients, conns=args.conns,
                                 seconds=min(seconds, 8), measure=cpu_meter(server, db))
                finally:
                    server.stop()
                print_load(r, True)
                results["sweep"][cfg.label()] = {"rate": r.rate, "p50": r.pct(50), "p95": r.pct(95),
                                                 "p99": r.pct(99), "cpu_ms_per_cdr": r.cpu_per_cdr_ms}

        print(f"\ngunicorn {config.label()}; load: {args.clients} client processes x {args.conns} keep-alive "
              f"connections (single), x {args.batch_conns} (batches of {args.batch}); phases <= {seconds:.0f} s")

        # -- framework ceiling
        print("\n1. framework ceiling: trivial Flask app (parse JSON, 200) under the same gunicorn settings")
        server = serve("http_ingest:trivial_app()", config, "trivial")
        try:
            warm(server, None, 200)
            # the trivial app stores nothing: its bodies may repeat
            r = run_load("trivial single POST", server.port, None, single_bodies(slices.lines[:cap_single]) * 5,
                         clients=args.clients, conns=args.conns, seconds=seconds, measure=cpu_meter(server, None))
            print_load(r, True)
            phases["trivial_single"] = r
            r = run_load(f"trivial batch POST ({args.batch}/req)", server.port, None,
                         batch_bodies(slices.lines[:cap_batch], args.batch) * 10, clients=args.clients,
                         conns=args.batch_conns, seconds=seconds, measure=cpu_meter(server, None))
            print_load(r, False)
            phases["trivial_batch"] = r
        finally:
            server.stop()

        # -- cdrflow
        print("\n2. cdrflow: gunicorn 'server:create_app()' + PostgreSQL (every CDR new: decide + store)")
        server = serve("server:create_app()", config, "cdrflow", profile=args.profile)
        try:
            warm(server, token, 400)
            meter = cpu_meter(server, db)
            r = run_load("(a) cdrflow single POST /cdrs", server.port, token, single_bodies(slices.take(cap_single)),
                         clients=args.clients, conns=args.conns, seconds=seconds, measure=meter)
            print_load(r, True)
            phases["cdrflow_single"] = r
            r = run_load(f"(b) cdrflow batch POST /cdrs ({args.batch}/req)", server.port, token,
                         batch_bodies(slices.take(cap_batch), args.batch), clients=args.clients,
                         conns=args.batch_conns, seconds=seconds, measure=meter)
            print_load(r, False)
            phases["cdrflow_batch"] = r
        finally:
            server.stop()
        stored = db.count("SELECT count(*) FROM cdrs")
        sent = sum(phases[k].cdrs for k in ("cdrflow_single", "cdrflow_batch"))
        print(f"  stored CDRs: {stored:,} (accepted in the measured phases: {sent:,}, plus the warm-up)")
        if args.profile:
            import pstats
            profs = sorted(tmp.glob("worker-*.prof"))
            if profs:
                st = pstats.Stats(*[str(p) for p in profs])
                buf = io.StringIO()
                st.stream = buf
                st.sort_stats("cumulative").print_stats(45)
                text = buf.getvalue()
                print("\nprofile of the gunicorn workers (cumulative, both phases):")
                print(text[text.find("   ncalls"):])
                results["worker_profile"] = text

        # -- in-process baselines
        print(f"\n3. in-process baselines on the same database (no HTTP; one process, <= {seconds:.0f} s each)")
        ip = in_process(db, slices.take(cap_inproc * 2), seconds, profile=args.profile)
        d, g = ip["decide"], ip["ingest"]
        labels = {"decide": f"facts from {ip['source']}, a session per lookup",
                  "decide_shared": f"facts from {ip['source']}, batches of 500: one session, PSP + customers "
                                   "read once per batch (DbSource.sharing, as the API and ingest())",
                  "decide_yaml": "facts from the YAML reference in memory"}
        for key, label in labels.items():
            v = ip.get(key)
            if v:
                print(f"  {'Pipeline.decide_item (pure, no store)':<44} {v['n'] / v['wall']:>8,.0f} CDR/s wall  "
                      f"{v['n'] / v['cpu']:>8,.0f} CDR/s cpu  {v['cpu'] / v['n'] * 1000:.2f} ms/CDR  "
                      f"({v['n']:,} CDRs; {label})")
        print(f"  {'ingest() (decide + store, batches of 500)':<44} {g['n'] / g['wall']:>8,.0f} CDR/s wall  "
              f"{g['n'] / g['cpu']:>8,.0f} CDR/s cpu  ({g['n']:,} CDRs, {g['new']:,} new; "
              f"postgres {g['db_cpu']:.1f} s = {(g['cpu'] + g['db_cpu']) / g['n'] * 1000:.2f} ms/CDR with the "
              f"client; machine busy {g['busy']:.0%})")
        floor = storage_floor(db)
        floor_ms = floor["cpu"] / max(1, floor["n"]) * 1000
        shared = ip.get("decide_shared") or d
        pipe_ms = shared["cpu"] / max(1, shared["n"]) * 1000
        ceiling = (os.cpu_count() or 2) * 1000 / (floor_ms + pipe_ms) if floor_ms + pipe_ms else 0.0
        print(f"  {'PostgreSQL floor: COPY of the stored rows':<44} {floor_ms:.3f} ms/CDR backend CPU "
              f"({floor['n']:,} CDRs + Decisions, {floor['bytes'] / max(1, floor['n']):,.0f} bytes each); with the "
              f"pipeline's {pipe_ms:.2f} ms: at most {ceiling:,.0f} CDR/s on {os.cpu_count()} cores, "
              "before any HTTP, driver or client")
        results["storage_floor"] = dict(floor, ms_per_cdr=floor_ms, ceiling_cdr_per_s=ceiling)
        if args.profile and ip.get("profile"):
            text = ip["profile"]
            print("\nprofile of in-process ingest() (tottime):")
            print(text[text.find("   ncalls"):])
    finally:
        if not args.keep:
            db.drop()
        shutil.rmtree(tmp, ignore_errors=True)

    # -- summary
    ts, tb = phases["trivial_single"], phases["trivial_batch"]
    cs, cb = phases["cdrflow_single"], phases["cdrflow_batch"]
    g_rate = g["n"] / g["wall"]

    def verdict(ok: bool) -> str:
        return "MET" if ok else "MISSED"

    print(f"\nsummary (gunicorn {config.label()}, PostgreSQL on loopback, {os.cpu_count()} cores shared with the "
          f"load generator and the machine's other load)")
    print("| phase | CDR/s | p50 ms | p95 ms | p99 ms | server+pg CPU ms/CDR | capacity CDR/s (2 cores) "
          "| vs framework ceiling | vs in-process ingest() | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    print(f"| trivial Flask, single POST | {ts.rate:,.0f} | {ts.pct(50):.1f} | {ts.pct(95):.1f} | {ts.pct(99):.1f} "
          f"| {ts.server_cpu / max(1, ts.cdrs) * 1000:.2f} | - | 1 | - | - |")
    print(f"| (a) cdrflow, single POST | {cs.rate:,.0f} | {cs.pct(50):.1f} | {cs.pct(95):.1f} | {cs.pct(99):.1f} "
          f"| {cs.cpu_per_cdr_ms:.2f} | {cs.capacity:,.0f} | {cs.rate / ts.rate:.3f} | {cs.rate / g_rate:.2f} "
          f"| {verdict(cs.rate >= TARGET_SINGLE_RATE)} (>= {TARGET_SINGLE_RATE:,}/s), "
          f"{verdict(cs.pct(99) < TARGET_SINGLE_P99_MS)} (p99 < {TARGET_SINGLE_P99_MS:.0f} ms) |")
    print(f"| trivial Flask, batch of {args.batch} | {tb.rate:,.0f} | {tb.pct(50):.1f} | {tb.pct(95):.1f} "
          f"| {tb.pct(99):.1f} | {tb.server_cpu / max(1, tb.cdrs) * 1000:.3f} | - | 1 | - | - |")
    print(f"| (b) cdrflow, batch of {args.batch} | {cb.rate:,.0f} | {cb.pct(50):.1f} | {cb.pct(95):.1f} "
          f"| {cb.pct(99):.1f} | {cb.cpu_per_cdr_ms:.2f} | {cb.capacity:,.0f} | {cb.rate / tb.rate:.3f} "
          f"| {cb.rate / g_rate:.2f} | {verdict(cb.rate >= TARGET_BATCH_RATE)} (>= {TARGET_BATCH_RATE:,}/s) |")
    print(f"| in-process ingest() (no HTTP) | {g_rate:,.0f} | - | - | - "
          f"| {(g['cpu'] + g['db_cpu']) / g['n'] * 1000:.2f} | - | - | 1 | - |")
    for key, what in (("decide", "reference from the DB"), ("decide_shared", "reference from the DB, batches of 500"),
                      ("decide_yaml", "reference in memory")):
        v = ip.get(key)
        if v:
            rate = v["n"] / v["wall"]
            print(f"| in-process Pipeline.decide_item, no store ({what}) | {rate:,.0f} | - | - | - "
                  f"| {v['cpu'] / v['n'] * 1000:.2f} | {(os.cpu_count() or 2) * v['n'] / v['cpu']:,.0f} | - "
                  f"| {rate / g_rate:.2f} | - |")
    fl = results.get("storage_floor")
    if fl:
        print(f"| PostgreSQL floor (COPY of the stored CDRs + Decisions) + pure pipeline, no HTTP | "
              f"{fl['ceiling_cdr_per_s']:,.0f} (ceiling) | - | - | - | {fl['ms_per_cdr']:.3f} (database only) | "
              f"{fl['ceiling_cdr_per_s']:,.0f} | - | - | - |")
    total = time.perf_counter() - started
    print(f"total run time {total:,.0f} s")

    def as_json(r: LoadResult) -> dict[str, Any]:
        return {"cdr_per_s": r.rate, "req_per_s": r.req_rate, "requests": r.requests, "cdrs": r.cdrs, "wall": r.wall,
                "p50_ms": r.pct(50), "p95_ms": r.pct(95), "p99_ms": r.pct(99), "statuses": r.statuses,
                "server_cpu_s": r.server_cpu, "db_cpu_s": r.db_cpu, "client_cpu_s": r.client_cpu,
                "cpu_ms_per_cdr": r.cpu_per_cdr_ms, "capacity": r.capacity, "busy_share": r.busy_share}

    results["phases"] = {k: as_json(v) for k, v in phases.items()}
    results["in_process"] = {k: v for k, v in ip.items() if k != "profile"}
    results["run_seconds"] = total
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"figures written to {args.json.relative_to(REPO) if args.json.is_relative_to(REPO) else args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
