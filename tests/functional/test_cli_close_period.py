"""``cdrflow close-period``: closes a period once, says so when it is closed, checks its arguments."""

from __future__ import annotations

import json

import pytest

from runcli import cdrflow


@pytest.fixture
def ingested(db_url):
    result = cdrflow("ingest", "--database-url", db_url, "samples/cdrs")
    assert result.returncode == 0, result.stderr
    return db_url


def test_close_msp_period_then_again(ingested):
    args = ("close-period", "--stream", "msp", "--period", "2026-10", "--as-of", "2026-11-01",
            "--database-url", ingested)
    first = cdrflow(*args)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "cdrflow close-period — msp 2026-10 (as of 2026-11-01)" in out
    assert "documents issued: 5" in out and "sessions assigned: 21 (0 late)" in out
    for number in (f"MSP-2026-{n:06d}" for n in range(1, 6)):
        assert number in out
    assert "Ladexpress Mobility GmbH" in out
    assert "total: net 270.95  VAT 9.28  gross 280.23" in out
    assert "period 2026-10 is closed" in out
    again = cdrflow(*args)
    assert again.returncode == 0, again.stderr
    assert "already closed: nothing to do" in again.stdout and "MSP-2026" not in again.stdout


def test_the_worker_builds_the_items_and_the_close_bills_the_same(ingested):
    import re

    work = cdrflow("work", "--once", "--database-url", ingested)
    assert work.returncode == 0, work.stderr
    built = re.search(r"(\d+) billable items built", work.stdout)
    assert built and int(built.group(1)) > 21, work.stdout   # the MSP and subscription sessions of all periods
    again = cdrflow("work", "--once", "--database-url", ingested)
    assert again.returncode == 0 and "0 billable items built" in again.stdout, again.stdout
    first = cdrflow("close-period", "--stream", "msp", "--period", "2026-10", "--as-of", "2026-11-01",
                    "--database-url", ingested)
    assert first.returncode == 0, first.stderr
    assert "documents issued: 5" in first.stdout and "sessions assigned: 21 (0 late)" in first.stdout
    assert "total: net 270.95  VAT 9.28  gross 280.23" in first.stdout


def test_close_subscription_cycle_as_json_and_deliver(ingested):
    result = cdrflow("close-period", "--stream", "subscription", "--period", "2026-10", "--as-of", "2026-11-01",
                     "--database-url", ingested, "--format", "json", "--deliver")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["outcome"] == "closed" and data["status_before"] == "open"
    # --deliver sends the whole outbox: these 16 plus the 25 ad-hoc invoices issued at ingest.
    assert len(data["documents"]) == 16 and data["delivered"]["provider.issue"] == 16 + 25
    parts = {(d["party"], d["part"]) for d in data["documents"]}
    assert ("C-10007", "base_fee") in parts and ("C-10007", "consumption") in parts
    assert data["totals"] == {"net": "357.22", "vat": "68.73", "gross": "425.95"}


def test_usage_errors(ingested):
    early = cdrflow("close-period", "--stream", "msp", "--period", "2026-10", "--as-of", "2026-10-31",
                    "--database-url", ingested)
    assert early.returncode == 2 and "2026-11-01 or later" in early.stderr
    bad = cdrflow("close-period", "--stream", "msp", "--period", "10/2026", "--database-url", ingested)
    assert bad.returncode == 2 and "YYYY-MM" in bad.stderr
    adhoc = cdrflow("close-period", "--stream", "adhoc", "--period", "2026-10", "--database-url", ingested)
    assert adhoc.returncode == 2
