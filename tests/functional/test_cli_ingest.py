"""``cdrflow db``, ``cdrflow ingest`` and ``cdrflow token`` driven like a user: by subprocess.

Runs on SQLite always and on PostgreSQL when DATABASE_URL is set (each test gets an empty
database of its own). The configuration is the repository's operator, classification rules
and mappings; the input is a copy of samples/cdrs plus files made up here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store import migrate

ROOT = Path(__file__).resolve().parents[2]


def cdrflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    (config / "rules").mkdir(parents=True)
    for name in ("operator.yaml", "classification.yaml"):
        if not (ROOT / "rules" / name).exists():
            pytest.skip(f"rules/{name} is not there yet")
        shutil.copy(ROOT / "rules" / name, config / "rules" / name)
    shutil.copytree(ROOT / "mappings", config / "mappings")
    shutil.copytree(ROOT / "samples" / "reference", tmp_path / "reference")
    shutil.copytree(ROOT / "samples" / "cdrs", tmp_path / "cdrs")
    return tmp_path


def ingest(workspace: Path, url: str, *inputs: str, fmt: str = "json") -> subprocess.CompletedProcess[str]:
    return cdrflow("ingest", "--config", str(workspace / "config"), "--reference", str(workspace / "reference"),
                   "--database-url", url, "--format", fmt, *inputs)


def summary(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_ingest_twice_then_a_conflict_then_a_rejected_file(workspace, empty_db_url):
    url = empty_db_url
    refused = ingest(workspace, url, str(workspace / "cdrs"))
    assert refused.returncode == 2 and "cdrflow db upgrade" in refused.stderr

    up = cdrflow("db", "upgrade", "--database-url", url)
    assert up.returncode == 0, up.stderr
    assert f"upgraded empty -> {migrate.head()} (head)" in up.stdout

    first = summary(ingest(workspace, url, str(workspace / "cdrs")))
    assert first["received"] > 0 and first["new"] == first["received"]
    assert first["duplicate"] == first["conflict"] == first["rejected"] == 0
    assert sum(first["streams"].values()) + sum(first["exceptions"].values()) == first["received"]

    second = summary(ingest(workspace, url, str(workspace / "cdrs")))
    assert second["duplicate"] == second["received"] == first["received"]
    assert second["new"] == 0 and second["streams"] == {} and second["exceptions"] == {}

    original = json.loads((workspace / "cdrs" / "adhoc-de-berlin-ac-001.json").read_text())
    original["total_energy"] = original["total_energy"] + 1
    changed = workspace / "resend"
    changed.mkdir()
    (changed / "same-id-other-content.json").write_text(json.dumps(original))
    third = summary(ingest(workspace, url, str(changed)))
    assert (third["received"], third["conflict"]) == (1, 1)
    assert third["exceptions"] == {"DUPLICATE_ID_CONFLICT": 1}

    broken = workspace / "broken.json"
    broken.write_text('{"country_code": "DE", "party_id": "VLT", "id": ')
    fourth = summary(ingest(workspace, url, str(broken)))
    assert (fourth["received"], fourth["rejected"]) == (1, 1) and fourth["exceptions"] == {"INVALID_CDR": 1}

    text = ingest(workspace, url, str(workspace / "cdrs"), str(changed), str(broken), fmt="text")
    assert text.returncode == 0, text.stderr
    assert f"cdrflow ingest — {first['received'] + 2} received" in text.stdout
    assert f"  duplicates  {first['received'] + 1:>3}" in text.stdout
    assert "  conflicts     1" in text.stdout
    assert "Exceptions opened, by reason:\n  (none)" in text.stdout

    from sqlalchemy import select

    from engine.store.db import make_session_factory
    from engine.store.models import Cdr, ExceptionRecord

    factory = make_session_factory(url)
    try:
        with factory() as session:
            stored = session.execute(select(Cdr).where(Cdr.cdr_id == original["id"])).scalar_one()
            assert json.loads(stored.raw_json)["total_energy"] == original["total_energy"] - 1  # not overwritten
            conflict = session.execute(select(ExceptionRecord).where(
                ExceptionRecord.reason == "DUPLICATE_ID_CONFLICT")).scalar_one()
            assert conflict.cdr_pk == stored.id and conflict.status == "open"
    finally:
        factory.kw["bind"].dispose()


def test_db_current_and_database_url_from_the_environment(empty_db_url):
    before = cdrflow("db", "current", env={"DATABASE_URL": empty_db_url})
    assert before.returncode == 1 and f"empty (head is {migrate.head()}" in before.stdout
    assert cdrflow("db", "upgrade", env={"DATABASE_URL": empty_db_url}).returncode == 0
    after = cdrflow("db", "current", "--database-url", empty_db_url)
    assert after.returncode == 0 and after.stdout.strip().endswith(f"{migrate.head()} (head)")


def test_token_create_list_revoke(empty_db_url):
    url = empty_db_url
    assert cdrflow("db", "upgrade", "--database-url", url).returncode == 0
    created = cdrflow("token", "create", "--client", "cpms", "--database-url", url)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("cdrf_") and "not shown again" in created.stderr
    assert cdrflow("token", "create", "--client", "cpms", "--database-url", url).returncode == 1

    listing = cdrflow("token", "list", "--database-url", url)
    assert listing.returncode == 0 and "cpms" in listing.stdout and "active" in listing.stdout
    assert token not in listing.stdout

    revoked = cdrflow("token", "revoke", "--client", "cpms", "--database-url", url)
    assert revoked.returncode == 0 and "revoked client 'cpms'" in revoked.stdout
    assert "revoked 20" in cdrflow("token", "list", "--database-url", url).stdout
    assert cdrflow("token", "revoke", "--client", "nobody", "--database-url", url).returncode == 1


def test_usage_errors_exit_2(workspace, tmp_path):
    url = f"sqlite:///{tmp_path / 'u.db'}"
    assert cdrflow("ingest", "--config", str(tmp_path / "nowhere"), "--database-url", url, "x.json").returncode == 2
    bad_batch = ingest(workspace, url, str(workspace / "cdrs"), "--batch-size", "0")
    assert bad_batch.returncode == 2
    assert cdrflow("ingest").returncode == 2  # argparse: INPUT is required
    unreachable = cdrflow("db", "upgrade", "--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert unreachable.returncode == 2 and "cdrflow db:" in unreachable.stderr


def test_a_cdr_with_a_lone_surrogate_is_rejected_and_kept_and_the_rest_ingested(workspace, db_url):
    """No database can hold a lone surrogate (it has no UTF-8 form): the CDR is a rejected input
    with the field named, not a crash that stops the batch."""
    good = json.loads((workspace / "cdrs" / "msp-de-ldx-munich-dc-001.json").read_text())
    bad = dict(good, id="VLT-BAD-SURROGATE")
    line = json.dumps(bad).replace('"VLT-BAD-SURROGATE"', '"VLT-BAD-\\ud800"')
    batch = workspace / "batch.jsonl"
    batch.write_text(line + "\n" + json.dumps(good) + "\n")
    result = summary(ingest(workspace, db_url, str(batch)))
    assert (result["received"], result["rejected"], result["new"]) == (2, 1, 1)
    assert result["exceptions"].get("INVALID_CDR") == 1

    from sqlalchemy import select

    from engine.store.db import make_session_factory
    from engine.store.models import RejectedInput

    factory = make_session_factory(db_url)
    try:
        with factory() as session:
            [kept] = session.execute(select(RejectedInput)).scalars().all()
            assert kept.raw_text == line and kept.source.endswith("batch.jsonl:1")
            assert [(r["code"], r["path"]) for r in kept.reasons] == [("json.lone_surrogate", "id")]
    finally:
        factory.kw["bind"].dispose()
