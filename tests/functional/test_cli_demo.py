from runcli import cdrflow


def test_demo_prints_counts_per_stream_and_exception_reason():
    result = cdrflow("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for stream in ("adhoc", "subscription", "msp"):
        assert stream in out
    assert "Exceptions by reason:" in out and "UNKNOWN_MSP" in out
    assert "none dropped" in out
