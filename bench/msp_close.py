"""MSP period close benchmark: ``close_msp_period`` over 1,000,000 CDRs of one period on PostgreSQL.

    .venv/bin/python bench/msp_close.py [--cdrs N | --quick] [--unsynced] [--keep]

1. **templates** - a fresh PostgreSQL database ``cdrflow_bench_msp_<pid>`` is migrated; a few
   thousand corpus CDRs (bench/corpus.py, seeded) go through the real ``ingest()`` and the real
   ``sync_billable`` (engine/streams/billable.py), so cdrs, decisions, billable_items and
   billable_lines hold rows exactly as the service writes them (built while October was open, so
   each item is already in its own period, as ``cdrflow work`` leaves them before the close).
   The October 2026 ``msp`` ones (5 MSPs: DE*LDX, NL*WZP, DE*FLK, AT*STR, DE*ALT, mixed as the
   corpus mixes them) are the templates; everything else is emptied.
2. **populate** - N copies of the templates, each a new CDR (its own CDR id, session id, primary
   keys; raw and normalised JSON rewritten with the new id), written with ``COPY`` into those
   four tables - the very tables ``close_msp_period`` reads. Secondary indexes and unique
   constraints are dropped during the COPY and rebuilt after with their exact definitions, FK
   triggers are off for the loading sessions (``session_replication_role = replica``; the rows
   are consistent by construction and checked after), then ``VACUUM ANALYZE`` (what autovacuum
   would have done in a database that grew over a month).
   ``--unsynced`` leaves ``billable_items``/``billable_lines`` empty, so the close also runs
   ``sync_billable`` over every Decision (what happens when nothing synced them before the close).
3. **baseline** - a bare ``SELECT ... GROUP BY`` over the same rows (the period's lines by MSP x
   product x power type x category x tariff x price x tax, with sums and counts).
4. **close** - ``engine.streams.msp.close_msp_period(session, bundle, "2026-10", as_of=2026-11-01)``,
   the real function, timed; a per-step breakdown comes from timing wrappers around the functions
   it calls (their files untouched). Then checks: one invoice per MSP, numbers gap-free, every
   item billed once, the sessions of the invoices = the items. (An invoice's session list is a
   ``StoredSessions``: its ``len()`` is the count made in SQL at the close; the rows stay in
   ``billable_items`` and are streamed when the CSV/PDF are rendered, outside this benchmark.)

Target: the close of 1,000,000 CDRs in < 30 s.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import multiprocessing as mp
import os
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PERIOD, AS_OF = "2026-10", date(2026, 11, 1)
TARGET_SECONDS = 30.0
TABLES = ("cdrs", "decisions", "billable_items", "billable_lines")

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from hostinfo import machine, psycopg_url  # noqa: E402


def proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- templates ------------------------------------------------------------------------------------

def make_templates(url: str, n_corpus: int, seed: int) -> dict[str, Any]:
    """Ingest ``n_corpus`` corpus CDRs and sync them; the October msp rows as COPY text, per table."""
    import psycopg

    import corpus
    from engine import intake
    from engine.http.app import Settings, load_config
    from engine.pipeline import Pipeline
    from engine.service.ingest import ingest
    from engine.store.db import make_session_factory
    from engine.store.priced import StorePricing
    from engine.streams.billable import sync_billable

    bundle, source, classifier = load_config(Settings(config_dir=str(REPO)))
    sf = make_session_factory(url)
    lines = [corpus.dumps(c).encode() for c in corpus.generate(n_corpus, seed)]
    pipeline = Pipeline(bundle, source, classifier=classifier, priced=StorePricing(sf))
    ingest(intake.read_items(io.BytesIO(b"\n".join(lines) + b"\n"), "templates.jsonl"), pipeline, sf)
    with sf() as session:
        sync_billable(session, "msp")
        session.commit()
    sf.kw["bind"].dispose()

    # built while October was open: already in their own period (what the worker's sync leaves)
    keep = (f"SELECT id FROM billable_items WHERE stream = 'msp' AND own_period = '{PERIOD}' "
            "AND period_key = own_period")
    out: dict[str, Any] = {}
    with psycopg.connect(psycopg_url(url)) as conn:
        for table, where in (("cdrs", f"id IN (SELECT cdr_pk FROM billable_items WHERE id IN ({keep}))"),
                             ("decisions", f"id IN (SELECT decision_id FROM billable_items WHERE id IN ({keep}))"),
                             ("billable_items", f"id IN ({keep})"),
                             ("billable_lines", f"item_id IN ({keep})")):
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                (table,))]
            buf = io.BytesIO()
            with conn.cursor().copy(f"COPY (SELECT {', '.join(cols)} FROM {table} WHERE {where} ORDER BY id) "
                                    "TO STDOUT") as copy:
                for chunk in copy:
                    buf.write(chunk)
            rows = [r.split("\t") for r in buf.getvalue().decode("utf-8").split("\n") if r]
            out[table] = {"columns": cols, "rows": rows}
        parties = dict(conn.execute(f"SELECT party_ref, count(*) FROM billable_items WHERE id IN ({keep}) "
                                    "GROUP BY party_ref ORDER BY 2 DESC").fetchall())
        names = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                            "AND tablename <> 'alembic_version'").fetchall()]
        conn.execute(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
    out["parties"] = parties
    return out


class Replicator:
    """Copy ``j`` of the templates as COPY text lines (one new CDR per copy)."""

    def __init__(self, templates: dict[str, Any]):
        self.t = templates
        c = {name: {col: i for i, col in enumerate(templates[name]["columns"])} for name in TABLES}
        self.c = c
        items = templates["billable_items"]["rows"]
        self.items = items
        self.by_cdr = {row[c["cdrs"]["id"]]: row for row in templates["cdrs"]["rows"]}
        self.by_decision = {row[c["decisions"]["id"]]: row for row in templates["decisions"]["rows"]}
        lines: dict[str, list[list[str]]] = defaultdict(list)
        for row in templates["billable_lines"]["rows"]:
            lines[row[c["billable_lines"]["item_id"]]].append(row)
        self.lines = lines
        self.lines_per_item = sum(len(v) for v in lines.values()) / max(1, len(items))

    def rows(self, start: int, stop: int, tables: tuple[str, ...]) -> dict[str, list[str]]:
        """Text lines for copies start..stop-1; primary keys are j+1 (lines: numbered after)."""
        c = self.c
        out: dict[str, list[str]] = {t: [] for t in tables}
        ci, di, ii, li = c["cdrs"], c["decisions"], c["billable_items"], c["billable_lines"]
        n_items = len(self.items)
        for j in range(start, stop):
            item = self.items[j % n_items]
            pk = str(j + 1)
            old_id = item[ii["cdr_id"]]
            new_id = f"{old_id}-B{j:07d}"
            session = item[ii["session_id"]]
            new_session = f"{session[:-12]}{j:012d}" if session != "\\N" and len(session) > 12 else session
            if "cdrs" in out:
                row = list(self.by_cdr[item[ii["cdr_pk"]]])
                row[ci["id"]] = pk
                row[ci["cdr_id"]] = new_id
                for col in ("raw_json", "normalised_json"):
                    text = row[ci[col]].replace(f'"{old_id}"', f'"{new_id}"')
                    if session != "\\N":
                        text = text.replace(session, new_session)
                    row[ci[col]] = text
                row[ci["content_hash"]] = hashlib.sha256(row[ci["raw_json"]].encode()).hexdigest()
                out["cdrs"].append("\t".join(row))
            if "decisions" in out:
                row = list(self.by_decision[item[ii["decision_id"]]])
                row[di["id"]] = pk
                row[di["cdr_pk"]] = pk
                out["decisions"].append("\t".join(row))
            if "billable_items" in out:
                row = list(item)
                row[ii["id"]] = pk
                row[ii["cdr_pk"]] = pk
                row[ii["decision_id"]] = pk
                row[ii["cdr_id"]] = new_id
                row[ii["cdr_ref"]] = row[ii["cdr_ref"]].replace(old_id, new_id)
                row[ii["session_id"]] = new_session
                out["billable_items"].append("\t".join(row))
            if "billable_lines" in out:
                for line in self.lines.get(item[ii["id"]], ()):
                    row = list(line)
                    row[li["id"]] = "0"  # numbered by the loader
                    row[li["item_id"]] = pk
                    out["billable_lines"].append("\t".join(row))
        return out


def _load_worker(url: str, templates: dict[str, Any], tables: tuple[str, ...], n: int, chunk: int,
                 queue: Any) -> None:
    """COPY ``tables`` for all n copies in one connection (a separate process)."""
    import psycopg

    rep = Replicator(templates)
    line_id = 0
    t0 = time.perf_counter()
    with psycopg.connect(psycopg_url(url), autocommit=False) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers while loading
        for table in tables:
            cols = templates[table]["columns"]
            with conn.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for start in range(0, n, chunk):
                    rows = rep.rows(start, min(n, start + chunk), (table,))[table]
                    if table == "billable_lines":
                        id_col = cols.index("id")
                        fixed = []
                        for r in rows:
                            line_id += 1
                            parts = r.split("\t")
                            parts[id_col] = str(line_id)
                            fixed.append("\t".join(parts))
                        rows = fixed
                    copy.write(("\n".join(rows) + "\n").encode("utf-8"))
        conn.commit()
    queue.put({"tables": tables, "seconds": time.perf_counter() - t0, "lines": line_id})


def populate(url: str, templates: dict[str, Any], n: int, synced: bool) -> dict[str, Any]:
    import psycopg

    tables = TABLES if synced else TABLES[:2]
    timings: dict[str, float] = {}
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        # drop secondary indexes and unique constraints (rebuilt after the COPY, same definitions)
        rebuild: list[str] = []
        t0 = time.perf_counter()
        for table in TABLES:
            for name, definition in conn.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'u'", (table,)).fetchall():
                conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for name, definition in conn.execute(
                    "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
                    "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", (table,)).fetchall():
                conn.execute(f'DROP INDEX "{name}"')
                rebuild.append(definition)
        # two loaders in parallel: cdrs (the widest rows) | decisions + items + lines
        ctx = mp.get_context("fork")
        queue = ctx.Queue()
        groups = [("cdrs",), tuple(t for t in tables if t != "cdrs")]
        chunk = 5_000
        t1 = time.perf_counter()
        procs = [ctx.Process(target=_load_worker, args=(url, templates, g, n, chunk, queue)) for g in groups]
        for p in procs:
            p.start()
        reports = [queue.get(timeout=3600) for _ in procs]
        for p in procs:
            p.join()
            if p.exitcode != 0:
                raise SystemExit(f"bench: a loader exited {p.exitcode}")
        timings["copy"] = time.perf_counter() - t1
        lines = max(r["lines"] for r in reports)
        t2 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        for ddl in rebuild:
            conn.execute(ddl)
        timings["indexes"] = time.perf_counter() - t2
        for table, count in (("cdrs", n), ("decisions", n), ("billable_items", n if synced else 0),
                             ("billable_lines", lines)):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {max(count, 1)}, {count > 0})")
        t3 = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        timings["vacuum_analyze"] = time.perf_counter() - t3
        # consistency of what was loaded without FK checks
        orphans = conn.execute(
            "SELECT (SELECT count(*) FROM decisions d LEFT JOIN cdrs c ON c.id = d.cdr_pk WHERE c.id IS NULL)"
            " + (SELECT count(*) FROM billable_items i LEFT JOIN decisions d ON d.id = i.decision_id"
            "    WHERE d.id IS NULL)"
            " + (SELECT count(*) FROM billable_lines l LEFT JOIN billable_items i ON i.id = l.item_id"
            "    WHERE i.id IS NULL)").fetchone()[0]
        if orphans:
            raise SystemExit(f"bench: {orphans} rows loaded without their parent row")
        sizes = dict(conn.execute(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname = ANY(%s)", (list(TABLES),)
        ).fetchall())
        timings["setup_drop"] = t1 - t0
    return {"timings": timings, "lines": lines, "sizes": sizes}


# ---- the baseline ---------------------------------------------------------------------------------

BASELINE_SQL = """
SELECT i.party_ref, l.product, l.power_type, l.category, l.tariff_id, l.version, l.unit, l.unit_price,
       l.tax_rate, l.tax_class, l.tax_treatment, sum(l.quantity), sum(l.net), count(DISTINCT i.cdr_id)
FROM billable_lines l JOIN billable_items i ON i.id = l.item_id
WHERE i.stream = 'msp' AND i.own_period = %(period)s
GROUP BY i.party_ref, l.product, l.power_type, l.category, l.tariff_id, l.version, l.unit, l.unit_price,
         l.tax_rate, l.tax_class, l.tax_treatment
"""

BASELINE_ITEMS_SQL = """
SELECT party_ref, power_type, category, count(*), sum(energy_kwh), sum(minutes), sum(net)
FROM billable_items WHERE stream = 'msp' AND own_period = %(period)s GROUP BY party_ref, power_type, category
"""


def baseline(url: str) -> dict[str, Any]:
    import psycopg

    out = {}
    with psycopg.connect(psycopg_url(url)) as conn:
        for name, sql in (("lines", BASELINE_SQL), ("items", BASELINE_ITEMS_SQL)):
            best = None
            for _ in range(2):
                t0 = time.perf_counter()
                rows = conn.execute(sql, {"period": PERIOD}).fetchall()
                dt = time.perf_counter() - t0
                best = dt if best is None else min(best, dt)
            out[name] = {"seconds": best, "groups": len(rows)}
        plan = conn.execute("EXPLAIN " + BASELINE_SQL, {"period": PERIOD}).fetchall()
        out["plan"] = [r[0] for r in plan]
    return out


# ---- the close, with a per-step breakdown -----------------------------------------------------------

class StepTimer:
    """Wraps module attributes with timers (cumulative wall + CPU per name); nested calls are
    counted in their own rows and in their callers'."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, module: Any, name: str, label: str | None = None) -> None:
        original = getattr(module, name, None)
        if original is None:
            return
        label = label or f"{module.__name__.rsplit('.', 1)[-1]}.{name}"

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.wall[label] += time.perf_counter() - t0
                self.calls[label] += 1

        setattr(module, name, timed)
        self._undo.append((module, name, original))

    def restore(self) -> None:
        for module, name, original in reversed(self._undo):
            setattr(module, name, original)


def instrument() -> StepTimer:
    from engine.streams import documents, msp, periods

    timer = StepTimer()
    for name in ("prepare", "count_late", "issue_period_documents", "finish", "build_msp_document", "period_groups",
                 "period_overview", "_latest_decision", "carrier_lines", "msp_period", "build_price",
                 "cost_centre_splits", "centre_nets", "issue", "mark_billed", "parties_in", "is_claimed"):
        timer.wrap(msp, name, f"msp: {name}")
    for name in ("sync_billable", "assign_period", "count_assigned", "waiting_earlier", "ensure_period"):
        timer.wrap(periods, name, f"prepare: {name}")
    for name in ("next_number", "enqueue"):
        timer.wrap(documents, name, f"issue: {name}")
    # the document JSON (inside issue; the session list is not part of it: StoredSessions)
    from engine.documents import model
    timer.wrap(model.BillingDocument, "to_json", "issue: BillingDocument.to_json")
    return timer


def run_close(url: str, profile: bool) -> dict[str, Any]:
    from engine.http.app import Settings, load_config
    from engine.store.db import make_session_factory
    from engine.streams.msp import close_msp_period

    bundle, _, _ = load_config(Settings(config_dir=str(REPO)))
    sf = make_session_factory(url)
    engine = sf.kw["bind"]
    with engine.connect() as conn:  # the session's backend, for its CPU time
        conn.exec_driver_sql("SELECT 1")
    timer = instrument()
    prof = None
    with sf() as session:
        backend = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        session.commit()
        db0 = proc_cpu(backend)
        if profile:
            import cProfile
            prof = cProfile.Profile()
            prof.enable()
        w0, c0 = time.perf_counter(), time.process_time()
        result = close_msp_period(session, bundle, PERIOD, as_of=AS_OF)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if prof is not None:
            prof.disable()
        db_cpu = proc_cpu(backend) - db0
    timer.restore()
    out = {"wall": wall, "cpu": cpu, "db_cpu": db_cpu, "outcome": result.outcome, "assigned": result.assigned,
           "documents": [{"number": d.number, "party": d.metadata.get("msp_ref"), "sessions": len(d.sessions),
                          "net": str(d.net), "gross": str(d.gross)} for d in result.documents],
           "failures": [f.business_key for f in result.failures],
           "steps": {k: {"wall": v, "calls": timer.calls[k]} for k, v in timer.wall.items()}}
    if prof is not None:
        import pstats
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(30)
        out["profile"] = buf.getvalue()
    # checks
    with engine.connect() as conn:
        q = conn.exec_driver_sql
        out["checks"] = {
            "items": q("SELECT count(*) FROM billable_items WHERE stream = 'msp'").scalar_one(),
            "billed": q(f"SELECT count(*) FROM billable_items WHERE period_key = '{PERIOD}' "
                        "AND document_number IS NOT NULL").scalar_one(),
            "claims": q(f"SELECT count(*) FROM document_claims WHERE period_key = '{PERIOD}'").scalar_one(),
            "numbers": [r[0] for r in q("SELECT number FROM number_log WHERE stream = 'msp' ORDER BY value")],
            "outbox": q("SELECT count(*) FROM outbox").scalar_one(),
            "document_json_mb": q(f"SELECT coalesce(sum(octet_length(document::text)), 0) / 1e6 FROM document_claims "
                                  f"WHERE period_key = '{PERIOD}'").scalar_one(),
            "status": q(f"SELECT status FROM billing_periods WHERE stream = 'msp' AND period_key = '{PERIOD}'"
                        ).scalar_one(),
        }
    engine.dispose()
    return out


# ---- the run -----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cdrs", type=int, default=None, help="CDRs in the period (default 1,000,000; --quick 50,000)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--templates", type=int, default=6_000, help="corpus CDRs ingested for the templates")
    ap.add_argument("--seed", type=int, default=20261001)
    ap.add_argument("--unsynced", action="store_true",
                    help="load only cdrs + decisions: the close also runs sync_billable over all of them")
    ap.add_argument("--profile", action="store_true", help="cProfile the close (slows it down)")
    ap.add_argument("--server", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER)
    ap.add_argument("--keep", action="store_true", help="keep the database")
    ap.add_argument("--populate-only", action="store_true", help="stop after populating (with --keep: to investigate)")
    ap.add_argument("--json", type=Path, default=OUT / "msp_close.json")
    args = ap.parse_args(argv)
    n = args.cdrs or (50_000 if args.quick else 1_000_000)
    started = time.perf_counter()
    info = machine()
    print(f"cdrflow MSP close bench  {info['date']}  nproc={info['nproc']}  {info['cpu']}  Python {info['python']}  "
          f"load {info['load']}")
    print(f"command: python bench/msp_close.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())

    from sqlalchemy.engine import make_url

    from engine.store import migrate
    from engine.store.db import make_engine

    name = f"cdrflow_bench_msp_{os.getpid()}"
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    admin = make_engine(args.server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    results: dict[str, Any] = {"machine": info, "cdrs": n, "synced": not args.unsynced}
    try:
        migrate.upgrade(url)
        t0 = time.perf_counter()
        templates = make_templates(url, args.templates, args.seed)
        n_t = len(templates["billable_items"]["rows"])
        share = ", ".join(f"{p} {c / n_t:.0%}" for p, c in templates["parties"].items())
        print(f"templates: {n_t:,} October msp CDRs of {args.templates:,} corpus CDRs (real ingest() + "
              f"sync_billable), {len(templates['billable_lines']['rows']) / n_t:.1f} lines each; MSPs: {share} "
              f"({time.perf_counter() - t0:.1f} s)")
        t0 = time.perf_counter()
        pop = populate(url, templates, n, synced=not args.unsynced)
        sizes = ", ".join(f"{k} {v / 2**30:.2f} GB" for k, v in sorted(pop["sizes"].items()))
        tm = pop["timings"]
        print(f"populated {n:,} CDRs + decisions" + ("" if args.unsynced else f" + items + {pop['lines']:,} lines")
              + f" in {time.perf_counter() - t0:.0f} s (COPY {tm['copy']:.0f} s, indexes {tm['indexes']:.0f} s, "
              f"VACUUM ANALYZE {tm['vacuum_analyze']:.0f} s); {sizes}")
        results["populate"] = pop

        if args.populate_only:
            print(f"database {name} populated" + (" (kept)" if args.keep else ""))
            return 0
        if not args.unsynced:
            print("\nbaseline: bare SELECT ... GROUP BY over the same rows (best of 2)")
            base = baseline(url)
            print(f"  lines by MSP x product x power x category x tariff x price x tax: "
                  f"{base['lines']['seconds']:.2f} s ({base['lines']['groups']} groups)")
            print(f"  items by MSP x power x category (counts, kWh, minutes, net):      "
                  f"{base['items']['seconds']:.2f} s ({base['items']['groups']} groups)")
            results["baseline"] = base

        print(f"\nclose: close_msp_period(session, bundle, {PERIOD!r}, as_of={AS_OF})")
        close = run_close(url, args.profile)
        results["close"] = close
        ck = close["checks"]
        print(f"  outcome {close['outcome']}: {len(close['documents'])} invoices, {close['assigned']:,} sessions "
              f"assigned, in {close['wall']:.1f} s wall ({close['cpu']:.1f} s CPU in Python, "
              f"{close['db_cpu']:.1f} s in its PostgreSQL backend)")
        for d in close["documents"]:
            print(f"    {d['number']}  {d['party']:<8} {d['sessions']:>9,} sessions  net {d['net']:>14}  "
                  f"gross {d['gross']:>14}")
        print("  where the time goes (wall, cumulative; nested steps are inside their callers):")
        for k, v in sorted(close["steps"].items(), key=lambda kv: -kv[1]["wall"]):
            if v["wall"] >= 0.05 * close["wall"] or v["wall"] > 0.5:
                print(f"    {k:<44} {v['wall']:8.2f} s  {v['wall'] / close['wall']:5.0%}  ({v['calls']:,} calls)")
        sessions = sum(d["sessions"] for d in close["documents"])
        expected = [f"MSP-2026-{i:06d}" for i in range(1, len(close["documents"]) + 1)]
        ok = (close["outcome"] == "closed" and ck["billed"] == n and ck["items"] == n and sessions == n
              and ck["claims"] == len(close["documents"]) == len(templates["parties"]) and ck["numbers"] == expected
              and ck["status"] == "closed")
        print(f"  checks: {ck['billed']:,} of {ck['items']:,} items billed, {sessions:,} sessions on the invoices, "
              f"{ck['claims']} claims, numbers {ck['numbers'][0] if ck['numbers'] else '-'}.."
              f"{ck['numbers'][-1] if ck['numbers'] else '-'} gap-free: {ck['numbers'] == expected}, "
              f"{ck['outbox']} outbox messages, period {ck['status']} -> {'OK' if ok else 'FAILED'}; the invoices' JSON "
              f"in document_claims: {float(ck['document_json_mb']):,.0f} MB")
        if close.get("profile"):
            text = close["profile"]
            print("\nprofile of the close (tottime):")
            print(text[text.find("   ncalls"):])

        print("\nsummary")
        print("| what | CDRs | seconds | CDR/s | vs baseline | target |")
        print("|---|---:|---:|---:|---:|---|")
        if not args.unsynced:
            b = base["lines"]["seconds"]
            print(f"| bare SELECT ... GROUP BY (lines) | {n:,} | {b:.2f} | {n / b:,.0f} | 1 | - |")
            print(f"| bare SELECT ... GROUP BY (items) | {n:,} | {base['items']['seconds']:.2f} | "
                  f"{n / base['items']['seconds']:,.0f} | - | - |")
        verdict = "MET" if close["wall"] < TARGET_SECONDS * n / 1_000_000 else "MISSED"
        vs = f"{close['wall'] / base['lines']['seconds']:.0f}x" if not args.unsynced else "-"
        print(f"| close_msp_period{' (incl. sync_billable)' if args.unsynced else ''} | {n:,} | {close['wall']:.1f} | "
              f"{n / close['wall']:,.0f} | {vs} | {verdict} (< {TARGET_SECONDS * n / 1_000_000:.1f} s"
              f"{'' if n == 1_000_000 else ' scaled to this size'}) |")
        results["ok"] = ok
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    total = time.perf_counter() - started
    print(f"total run time {total:,.0f} s")
    results["run_seconds"] = total
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0 if results.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
