import re

from runcli import cdrflow


def test_demo_prints_counts_per_stream_and_exception_reason(tmp_path):
    result = cdrflow("demo", "--output", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for stream in ("adhoc", "subscription", "msp"):
        assert stream in out
    assert "Exceptions by reason:" in out and "UNKNOWN_MSP" in out
    assert "none dropped" in out


def test_demo_issues_documents_per_stream_and_exports_their_files(tmp_path):
    output = tmp_path / "demo"
    result = cdrflow("demo", "--output", str(output))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(
        r"^  (adhoc|subscription|msp|total)\s+(\d+)\s+(\d+)\s+([\d,.]+)\s+([\d,.]+)\s+([\d,.]+)$", out, re.M)}
    # stream: CDRs, documents, net, VAT, gross
    assert rows["adhoc"] == ("25", "25", "386.74", "74.78", "461.52")
    assert rows["subscription"] == ("19", "27", "522.46", "100.59", "623.05")
    assert rows["msp"] == ("23", "6", "276.51", "9.28", "285.79")
    assert rows["total"][:2] == ("67", "58")
    assert "ad hoc: 25 issued at once (1 credit note(s))" in out
    for line in ("subscription 2026-09: closed", "subscription 2026-10: closed", "msp 2026-09: closed",
                 "msp 2026-10: closed"):
        assert line in out
    assert "58 delivered, 24 paid by PSP" in out
    assert "89 of 89 CDRs placed: 67 in a stream (65 billed, 2 waiting in open periods), 22 in the exception " \
           "queue — none dropped." in out
    # the files, where the summary says they are
    documents = output / "documents"
    assert f"in {documents}/" in out
    pdfs = sorted(p.name for p in documents.glob("*.pdf"))
    assert len(pdfs) == 58 and "AH-2026-000001.pdf" in pdfs and "MSP-2026-000006.pdf" in pdfs
    assert (documents / "AH-2026-000001.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in documents.glob("MSP-*.csv")) == [f"MSP-2026-{n:06d}.csv" for n in range(1, 7)]
    assert any(documents.glob("MSP-*.xml"))
    assert len(list((output / "mail").glob("*.eml"))) == 56
    # a fresh database every time: the same numbers again
    again = cdrflow("demo", "--output", str(output))
    assert again.returncode == 0 and "58 delivered" in again.stdout
    assert len(list(documents.glob("*.pdf"))) == 58
