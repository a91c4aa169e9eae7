from engine.commands._originals import SpilledPricing


def test_spilled_entries_read_back_and_memory_stays_bounded():
    priced = SpilledPricing(keep=10)
    for i in range(1000):
        priced[("DE", "VLT", f"CDR-{i}")] = {"total_cost": {"excl_vat": f"{i}.00"}}
    assert len(priced._recent) < 20  # the rest went to disk
    assert priced[("DE", "VLT", "CDR-3")] == {"total_cost": {"excl_vat": "3.00"}}
    assert priced[("DE", "VLT", "CDR-999")]["total_cost"]["excl_vat"] == "999.00"
    assert ("DE", "VLT", "nope") not in priced
    assert len(priced) == 1000
    del priced[("DE", "VLT", "CDR-3")]
    assert ("DE", "VLT", "CDR-3") not in priced
    priced.close()
