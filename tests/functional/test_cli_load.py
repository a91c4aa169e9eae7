"""``cdrflow load`` (and ``cdrflow work``) driven like a user: by subprocess.

SQLite always, PostgreSQL when DATABASE_URL is set (``db_url``: a migrated, empty database).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

from engine.pipeline import Pipeline
from engine.service.waiting import WaitingPolicy, park, waiting_keys
from engine.store.canonical import parse
from engine.store.cdrs import current_decision, get_cdr, record_decision
from engine.store.db import make_session_factory
from engine.store.models import ExceptionRecord
from engine.store.reference import DbSource
from engine.store.reference_models import Location
from runcli import ROOT, cdrflow

REFERENCE = ROOT / "samples" / "reference"
SAMPLE_COUNTS = {"customers": 12, "locations": 17, "msp_contracts": 7, "psp_transactions": 25, "subscriptions": 12}
NO_PSP = ROOT / "samples" / "cdrs" / "exception-adhoc-no-psp-transaction.json"
NO_PSP_KEY = ("DE", "VLT", "VLT-20261013-10033")


def load(url: str, *paths: str, fmt: str = "text", extra: tuple[str, ...] = ()):
    return cdrflow("load", "--database-url", url, "--format", fmt, *extra, *paths)


def table(stdout: str) -> dict[str, tuple[int, int, int, int]]:
    rows = {}
    for line in stdout.splitlines():
        m = re.match(r"^\s+([a-z_]+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", line)
        if m:
            rows[m.group(1)] = tuple(int(g) for g in m.groups()[1:])
    return rows


def test_load_the_samples_then_again_unchanged(db_url):
    first = load(db_url, str(REFERENCE))
    assert first.returncode == 0, first.stderr
    assert "cdrflow load — 5 files" in first.stdout
    assert table(first.stdout) == {kind: (n, 0, 0, 0) for kind, n in SAMPLE_COUNTS.items()}

    again = load(db_url, str(REFERENCE), fmt="json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["kinds"] == {kind: {"inserted": 0, "updated": 0, "unchanged": n, "rejected": 0}
                               for kind, n in SAMPLE_COUNTS.items()}
    assert report["rejected"] == [] and report["errors"] == [] and report["files"] == 5


def test_a_bad_record_is_rejected_with_file_and_line(db_url, tmp_path: Path):
    bad = tmp_path / "locations.yaml"
    bad.write_text("kind: locations\n"
                   "locations:\n"
                   "  - {id: L1, cost_centre: C1, category: urban, time_zone: Europe/Berlin}\n"
                   "  - {id: L2, cost_centre: C2, category: motorway, time_zone: Europe/Berlin,\n"
                   "     country: germany}\n"
                   "  - {id: L3, cost_centre: C3, category: urban, time_zone: Europe/Berlin}\n", encoding="utf-8")
    result = load(db_url, str(bad))
    assert result.returncode == 1, result.stdout + result.stderr
    assert table(result.stdout)["locations"] == (2, 0, 0, 1)
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert f"{bad}:4: locations[1] (id L2): category: ['unallowed value motorway']" in lines
    assert any(line.startswith(f"{bad}:4: locations[1] (id L2): country:") for line in lines)
    engine_url = make_session_factory(db_url)
    try:
        with engine_url() as s:       # the valid records are stored regardless
            assert s.execute(select(func.count()).select_from(Location)).scalar_one() == 2
    finally:
        engine_url.kw["bind"].dispose()


def test_json_files_and_store_level_rejections(db_url, tmp_path: Path):
    path = tmp_path / "psp.json"
    path.write_text('{"kind": "psp_transactions",\n'
                    ' "transactions": [\n'
                    '  {"id": "pi_a", "authorization_reference": "A-1", "status": "captured", "amount": 12.34,'
                    ' "currency": "eur"},\n'
                    '  {"id": "pi_b", "authorization_reference": "B-1", "status": "captured", "amount": 1.234,'
                    ' "currency": "EUR"}\n'
                    ' ]}\n', encoding="utf-8")
    result = load(db_url, str(path), fmt="json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["kinds"]["psp_transactions"] == {"inserted": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    assert report["rejected"] == [{"file": str(path), "line": 4, "kind": "psp_transactions", "index": 1,
                                   "key": "pi_b", "key_fields": "id",
                                   "reasons": ["amount: more than 2 decimal places"]}]

    path.write_text('{"kind": "psp_transactions", "transactions": [\n  {"id": "pi_a", "amount": 1,', encoding="utf-8")
    broken = load(db_url, str(path))
    assert broken.returncode == 1 and f"{path}:2:" in broken.stdout and "json.invalid" in broken.stdout


def test_a_changed_record_is_updated(db_url, tmp_path: Path):
    path = tmp_path / "loc.yaml"
    path.write_text("kind: locations\nlocations:\n"
                    "  - {id: L1, cost_centre: C1, category: urban, time_zone: Europe/Berlin}\n", encoding="utf-8")
    assert load(db_url, str(path)).returncode == 0
    path.write_text("kind: locations\nlocations:\n"
                    "  - {id: L1, cost_centre: C2, category: urban, time_zone: Europe/Berlin}\n", encoding="utf-8")
    result = load(db_url, str(path))
    assert result.returncode == 0 and table(result.stdout)["locations"] == (0, 1, 0, 0)


def test_files_that_cannot_be_loaded(db_url, tmp_path: Path):
    (tmp_path / "x.yaml").write_text("kind: tariffs\n", encoding="utf-8")
    (tmp_path / "y.yaml").write_text("kind: locations\nlocation: []\n", encoding="utf-8")
    result = load(db_url, str(tmp_path))
    assert result.returncode == 1
    assert "reference.kind" in result.stdout and "reference.records" in result.stdout


def test_usage_errors(db_url, tmp_path: Path):
    missing = load(db_url, str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr
    empty_dir = load(db_url, str(tmp_path))
    assert empty_dir.returncode == 2
    no_args = cdrflow("load")
    assert no_args.returncode == 2


def test_an_unmigrated_database_is_a_usage_error(empty_db_url):
    unmigrated = load(empty_db_url, str(REFERENCE))
    assert unmigrated.returncode == 2 and "cdrflow db upgrade" in unmigrated.stderr


def _park_no_psp_cdr(url: str) -> None:
    """Store the ad-hoc CDR without PSP transaction as the ingest path parks it."""
    from engine.config.bundle import load_bundle

    bundle, _ = load_bundle(ROOT)
    factory = make_session_factory(url)
    try:
        now = datetime(2026, 10, 13, 14, 0, tzinfo=timezone.utc)
        raw = NO_PSP.read_text(encoding="utf-8")
        decision = Pipeline(bundle, DbSource(factory)).decide(parse(raw), source=NO_PSP.name)
        with factory() as s:
            park(s, record_decision(s, raw, decision, normalised=decision.cdr, now=now), now=now,
                 policy=WaitingPolicy())
            s.commit()
            assert waiting_keys(s) == [NO_PSP_KEY]
    finally:
        factory.kw["bind"].dispose()


def test_loading_the_psp_transaction_releases_the_waiting_cdr(db_url, tmp_path: Path):
    for name in ("customers.yaml", "locations.yaml", "msp_contracts.yaml", "subscriptions.yaml"):
        assert load(db_url, str(REFERENCE / name)).returncode == 0
    _park_no_psp_cdr(db_url)
    tx = tmp_path / "late.yaml"
    tx.write_text("kind: psp_transactions\ntransactions:\n"
                  "  - {id: pi_late, authorization_reference: AH-UJEDMM2VTZ5F, status: captured, amount: '8.43',"
                  " currency: EUR}\n", encoding="utf-8")

    skipped = load(db_url, str(tx), extra=("--no-release",))
    assert skipped.returncode == 0 and "Released" not in skipped.stdout

    result = load(db_url, str(tx), extra=("--config", str(ROOT)))
    assert result.returncode == 0, result.stderr
    assert "Released from waiting (1):" in result.stdout and "DE*VLT VLT-20261013-10033" in result.stdout
    factory = make_session_factory(db_url)
    try:
        with factory() as s:
            assert current_decision(s, NO_PSP_KEY).stream == "adhoc"
            assert get_cdr(s, NO_PSP_KEY).state == "classified"
    finally:
        factory.kw["bind"].dispose()


def test_work_once_expires_the_cdrs_past_their_deadline(db_url):
    for name in ("customers.yaml", "locations.yaml", "msp_contracts.yaml", "subscriptions.yaml"):
        assert load(db_url, str(REFERENCE / name)).returncode == 0
    _park_no_psp_cdr(db_url)     # deadline 2026-10-14T13:24:10Z: long past by the wall clock
    result = cdrflow("work", "--once", "--database-url", db_url)
    assert result.returncode == 0, result.stderr
    assert "expired: DE*VLT VLT-20261013-10033 (AD_HOC_NO_PSP_TRANSACTION)" in result.stdout
    assert "1 expired" in result.stdout
    again = cdrflow("work", "--once", "--database-url", db_url)
    assert again.returncode == 0 and "0 expired" in again.stdout
    factory = make_session_factory(db_url)
    try:
        with factory() as s:
            [exception] = s.execute(select(ExceptionRecord)).scalars().all()
            assert exception.reason == "AD_HOC_NO_PSP_TRANSACTION" and exception.status == "open"
            assert exception.detail["waited_until"] == "2026-10-14T13:24:10Z"
            assert get_cdr(s, NO_PSP_KEY).state == "exception"
    finally:
        factory.kw["bind"].dispose()


def test_work_once_releases_a_cdr_whose_transaction_is_stored(db_url, tmp_path: Path):
    for name in ("customers.yaml", "locations.yaml", "msp_contracts.yaml", "subscriptions.yaml"):
        assert load(db_url, str(REFERENCE / name)).returncode == 0
    _park_no_psp_cdr(db_url)
    tx = tmp_path / "late.yaml"
    tx.write_text("kind: psp_transactions\ntransactions:\n"
                  "  - {id: pi_late, authorization_reference: AH-UJEDMM2VTZ5F, status: captured, amount: '8.43',"
                  " currency: EUR}\n", encoding="utf-8")
    assert load(db_url, str(tx), extra=("--no-release",)).returncode == 0
    result = cdrflow("work", "--once", "--database-url", db_url, "--config", str(ROOT))
    assert result.returncode == 0, result.stderr
    assert "released: DE*VLT VLT-20261013-10033" in result.stdout and "1 released, 0 expired" in result.stdout
    factory = make_session_factory(db_url)
    try:
        with factory() as s:
            assert current_decision(s, NO_PSP_KEY).stream == "adhoc"
            # classified, or billed already when the outbox worker (engine.streams.worker) issued it
            assert get_cdr(s, NO_PSP_KEY).state in ("classified", "billed")
            assert s.execute(select(func.count()).select_from(ExceptionRecord)).scalar_one() == 0
    finally:
        factory.kw["bind"].dispose()


def test_work_without_a_configuration_only_expires(db_url, tmp_path: Path):
    result = cdrflow("work", "--once", "--database-url", db_url, "--config", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "0 expired" in result.stdout and "released" not in result.stdout and "no rules/" in result.stderr
