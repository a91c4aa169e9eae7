"""Shared builders for the rates/tax tests: a bundle made of inline YAML, and CDRs/facts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest

from engine.config.bundle import read_document
from engine.rates.config import build_msp_tariffs, build_plans, build_tariffs
from engine.tax.config import build_tax_rules

REPO = Path(__file__).resolve().parents[2]
BUILDERS = {"tax_rules": build_tax_rules, "tariffs": build_tariffs, "tariff_plans": build_plans,
            "msp_tariffs": build_msp_tariffs}


def load_docs(tmp_path: Path, files: dict[str, str]):
    docs, problems = {}, []
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        doc, found = read_document(path, name)
        problems += found
        if doc is not None:
            docs.setdefault(doc.kind, []).append(doc)
    return docs, problems


def make_bundle(tmp_path: Path, files: dict[str, str]):
    """A bundle-like object (``extensions`` only) from YAML texts; returns (bundle, problems)."""
    docs, problems = load_docs(tmp_path, files)
    ext = {}
    for kind, builder in BUILDERS.items():
        built, found = builder(docs.get(kind, []))
        ext[kind] = built
        problems += found
    return SimpleNamespace(extensions=MappingProxyType(ext)), problems


def repo_bundle():
    """The bundle-like object of the repository's own rules/*.yaml price and tax files."""
    ext, problems = {}, []
    for kind, builder in BUILDERS.items():
        path = REPO / "rules" / f"{kind}.yaml"
        doc, found = read_document(path, f"rules/{kind}.yaml")
        problems += found
        built, found = builder([doc] if doc else [])
        ext[kind] = built
        problems += found
    return SimpleNamespace(extensions=MappingProxyType(ext)), problems


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def make_cdr(cdr_id: str = "CDR-1", *, start: str = "2026-03-10T10:00:00Z", energy: str = "20",
             hours: str = "1", parking: str = "0", power_type: str = "AC_3_PHASE", country: str = "DEU",
             tariff_id: str | None = None, tariffs: list[dict] | None = None, currency: str = "EUR",
             credit: bool = False, credit_reference_id: str | None = None,
             total_cost: dict[str, str] | None = None) -> dict[str, Any]:
    """A normalised 2.2.1 CDR: one charging period (charging), then parking if any."""
    begin = utc(start)
    charge_h = Decimal(hours) - Decimal(parking)
    end = begin + timedelta(seconds=float(Decimal(hours) * 3600))
    periods = [{"start_date_time": begin,
                "dimensions": [{"type": "ENERGY", "volume": Decimal(energy)},
                               {"type": "TIME", "volume": charge_h}]}]
    if Decimal(parking):
        periods.append({"start_date_time": begin + timedelta(seconds=float(charge_h * 3600)),
                        "dimensions": [{"type": "PARKING_TIME", "volume": Decimal(parking)}]})
    if tariff_id:
        for p in periods:
            p["tariff_id"] = tariff_id
    cdr = {
        "country_code": "DE", "party_id": "VLT", "id": cdr_id,
        "start_date_time": begin, "end_date_time": end, "session_id": f"S-{cdr_id}",
        "cdr_token": {"country_code": "DE", "party_id": "VLT", "uid": "U1", "type": "AD_HOC_USER",
                      "contract_id": "DE-VLT-C00001"},
        "auth_method": "COMMAND",
        "cdr_location": {"id": "LOC-1", "address": "Street 1", "city": "Berlin", "country": country,
                         "coordinates": {"latitude": "52.52000", "longitude": "13.40500"},
                         "evse_uid": "E1", "evse_id": "DE*VLT*E1", "connector_id": "1",
                         "connector_standard": "IEC_62196_T2", "connector_format": "SOCKET",
                         "connector_power_type": power_type},
        "currency": currency, "charging_periods": periods,
        "total_energy": Decimal(energy), "total_time": Decimal(hours),
        "total_parking_time": Decimal(parking), "last_updated": end,
    }
    if total_cost is not None:  # omitted by default: no comparison with a CPMS total
        cdr["total_cost"] = {k: Decimal(v) for k, v in total_cost.items()}
    if tariffs is not None:
        cdr["tariffs"] = tariffs
    if credit:
        cdr["credit"] = True
        cdr["credit_reference_id"] = credit_reference_id
    return cdr


def make_facts(session_date: str = "2026-03-10", *, country: str = "DE", category: str = "urban",
               time_zone: str = "Europe/Berlin", psp_amount: str | None = None, plan_id: str | None = None,
               msp: dict | None = None, customer: dict | None = None) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "token": {"issuer": "DE*VLT", "own": msp is None},
        "customer": customer, "subscription": None, "msp": msp, "psp": None,
        "location": {"id": "LOC-1", "name": "Test", "cost_centre": "CC-1", "category": category,
                     "time_zone": time_zone, "country": country},
        "session_date": session_date,
    }
    if psp_amount is not None:
        facts["psp"] = {"id": "pi_1", "status": "captured", "amount": Decimal(psp_amount), "currency": "EUR",
                        "captured": True}
    if plan_id is not None:
        facts["subscription"] = {"id": "S-1", "customer_id": "C-1", "plan_id": plan_id, "status": "active",
                                 "valid_from": "2026-01-01", "valid_to": None, "active": True}
    return facts


MSX = {"party": "DE*MSX", "contract_id": "MSX-2026", "name": "Mobilix GmbH", "country": "DE",
       "vat_id": "DE136695976", "reseller": True, "status": "active", "tariff_id": "msx-2026", "active": True}


# Fixtures live here, not in a conftest.py: several test directories import ``conftest`` by name,
# and another module of that name would shadow theirs. Test modules import what they use.

@pytest.fixture(scope="session")
def repo():
    """The repository's own price and tax configuration (must build without errors)."""
    bundle, problems = repo_bundle()
    assert [p for p in problems if p.is_error] == [], problems
    return bundle


@pytest.fixture
def bundle_from(tmp_path):
    """bundle_from({"rules/x.yaml": text, ...}) -> (bundle, problems); the repo's tax rules are added."""
    def build(files, *, with_tax=True):
        files = dict(files)
        if with_tax and not any("tax_rules" in text for text in files.values()):
            files["rules/tax_rules.yaml"] = (REPO / "rules" / "tax_rules.yaml").read_text()
        return make_bundle(tmp_path, files)
    return build
