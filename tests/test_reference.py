from decimal import Decimal

from engine.reference import load_reference


def test_loads_and_coerces_records(tmp_path):
    (tmp_path / "psp.yaml").write_text(
        "kind: psp_transactions\ntransactions:\n"
        "  - {id: pi_1, authorization_reference: A1, status: captured, amount: '12.30', currency: eur}\n")
    (tmp_path / "msp.yaml").write_text(
        "kind: msp_contracts\nmsps:\n"
        "  - {party: de*msx, contract_id: K1, name: M, country: de, reseller: true, valid_from: '2026-01-01'}\n")
    source, problems = load_reference(tmp_path)
    assert problems == []
    tx = source.psp_transaction("A1", None)
    assert tx["amount"] == Decimal("12.30") and tx["currency"] == "EUR"
    contract = source.msp_contracts_of("DE*MSX")[0]
    assert contract["party"] == "DE*MSX" and contract["status"] == "active"


def test_bad_records_are_problems_naming_file_record_and_field(tmp_path):
    (tmp_path / "loc.yaml").write_text(
        "kind: locations\nlocations:\n"
        "  - {id: L1, cost_centre: C, category: urban, time_zone: Europe/Berlin}\n"
        "  - {id: L2, cost_centre: C, category: motorway, time_zone: Europe/Berlin}\n")
    source, problems = load_reference(tmp_path)
    assert len(problems) == 1
    p = problems[0]
    assert p.code == "reference.invalid" and p.line == 4 and "category" in p.path
    assert source.location("L1") is not None and source.location("L2") is None


def test_unknown_kind(tmp_path):
    (tmp_path / "x.yaml").write_text("kind: nonsense\n")
    _, problems = load_reference(tmp_path)
    assert problems[0].code == "reference.kind"
