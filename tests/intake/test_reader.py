"""engine/intake/reader.py: four input shapes, files/directories/stdin, streaming, bad input."""

from __future__ import annotations

import io
import json
import sys
from decimal import Decimal

import pytest

from engine.intake import RawItem, read_items, read_paths

from .conftest import DATA, ENVELOPE, SPEC_CDR, V211_CDR, by_code, load

CDR_TEXT = (DATA / SPEC_CDR).read_bytes()
ONE_LINE = json.dumps(json.loads(CDR_TEXT)).encode()


def read(data: bytes, name: str = "input.json") -> list[RawItem]:
    return list(read_items(io.BytesIO(data), name))


def only_problem(items: list[RawItem]):
    assert len(items) == 1 and items[0].data is None and len(items[0].problems) == 1, items
    return items[0].problems[0]


# -- the four shapes ------------------------------------------------------------------------------

def test_single_pretty_printed_object():
    items = read(CDR_TEXT, "cdr.json")
    assert [i.source for i in items] == ["cdr.json"]
    assert items[0].problems == []
    assert items[0].data == load(SPEC_CDR)


def test_numbers_are_decimal_and_ints_stay_int():
    data = read(CDR_TEXT)[0].data
    assert data["total_energy"] == Decimal("15.342") and type(data["total_energy"]) is Decimal
    assert str(data["total_cost"]["excl_vat"]) == "4.00"  # digits kept exactly
    assert data["tariffs"][0]["elements"][0]["price_components"][0]["step_size"] == 300


def test_single_object_on_one_line_is_named_like_a_file():
    items = read(ONE_LINE + b"\n", "cdr.json")
    assert [i.source for i in items] == ["cdr.json"]


@pytest.mark.parametrize("ending", [b"", b"\n", b"\r\n"])
def test_a_one_line_body_is_one_item_kept_verbatim_with_or_without_a_final_newline(ending):
    # what an HTTP client POSTs: the same item (name, data, raw text) whichever way it ends
    items = read(ONE_LINE + ending, "http:cpms:r1")
    assert [(i.source, i.problems) for i in items] == [("http:cpms:r1", [])]
    assert items[0].data == load(SPEC_CDR)
    assert items[0].raw is not None and items[0].raw.rstrip("\r") == ONE_LINE.decode()


def test_a_one_line_body_arriving_in_small_pieces_is_still_one_line():
    stream = GeneratorStream([ONE_LINE[i:i + 100] for i in range(0, len(ONE_LINE), 100)])
    items = list(read_items(stream, "http:cpms:r1"))
    assert [i.source for i in items] == ["http:cpms:r1"] and items[0].raw == ONE_LINE.decode()


def test_a_one_line_body_longer_than_one_line_max_is_streamed_as_before(monkeypatch):
    import engine.intake.reader as reader

    monkeypatch.setattr(reader, "ONE_LINE_MAX", 64)
    items = read(ONE_LINE, "cdr.json")
    assert [i.source for i in items] == ["cdr.json"] and items[0].data == load(SPEC_CDR)
    assert items[0].raw is None  # streamed value by value: the store keeps canonical JSON


def test_a_malformed_one_line_body_names_line_and_column():
    problem = only_problem(read(ONE_LINE[:-40], "http:cpms:r1"))
    assert problem.code == "json.invalid" and problem.line == 1 and problem.col and problem.col > 1
    assert problem.message.startswith(f"line 1, column {problem.col}: ")


def test_json_array():
    items = read(b"[" + b",\n".join([CDR_TEXT, ONE_LINE, CDR_TEXT]) + b"]", "batch.json")
    assert [i.source for i in items] == ["batch.json[0]", "batch.json[1]", "batch.json[2]"]
    assert all(i.data == load(SPEC_CDR) and not i.problems for i in items)


def test_empty_array_and_empty_input_give_no_items():
    assert read(b"[ ]") == []
    assert read(b"") == []
    assert read(b"  \n\n") == []


def test_json_lines_sources_are_line_numbers_and_blank_lines_are_skipped():
    text = ONE_LINE + b"\n\n" + ONE_LINE + b"\r\n" + ONE_LINE
    items = read(text, "cdrs.jsonl")
    assert [i.source for i in items] == ["cdrs.jsonl:1", "cdrs.jsonl:3", "cdrs.jsonl:4"]
    assert all(i.data == load(SPEC_CDR) for i in items)


def test_json_lines_recognised_without_extension():
    items = read(ONE_LINE + b"\n" + ONE_LINE + b"\n", "-stdin-")
    assert [i.source for i in items] == ["-stdin-:1", "-stdin-:2"]


def test_ocpi_response_envelope_with_a_list():
    items = read((DATA / ENVELOPE).read_bytes(), "cdrs.json")
    assert [i.source for i in items] == ["cdrs.json[0]"]
    assert items[0].data["id"] == "12345" and items[0].data["auth_id"] == "DE8ACC12E46L89"


def test_ocpi_response_envelope_with_a_single_object_and_data_not_first():
    text = b'{"status_code": 1000, "data": ' + CDR_TEXT + b', "timestamp": "2015-06-30T21:59:59Z"}'
    items = read(text, "get.json")
    assert [i.source for i in items] == ["get.json"]
    assert items[0].data == load(SPEC_CDR)


def test_envelope_on_a_json_lines_line():
    line = json.dumps({"data": [json.loads(ONE_LINE)] * 2, "status_code": 1000,
                       "timestamp": "2015-06-30T21:59:59Z"}).encode()
    items = read(line + b"\n" + ONE_LINE + b"\n", "pages.jsonl")
    assert [i.source for i in items] == ["pages.jsonl:1[0]", "pages.jsonl:1[1]", "pages.jsonl:2"]


def test_envelope_with_an_error_status_is_reported():
    items = read(b'{"data": [], "status_code": 2001, "status_message": "Invalid or missing parameters",'
                 b' "timestamp": "2015-06-30T21:59:59Z"}\n')
    problem = only_problem(items)
    assert problem.code == "envelope.status" and "2001" in problem.message and "Invalid" in problem.message


def test_large_envelope_is_streamed(tmp_path):
    cdrs = b",".join([ONE_LINE] * 300)  # ~450 kB: more than one read chunk
    path = tmp_path / "page.json"
    path.write_bytes(b'{\n  "status_code": 1000,\n  "data": [' + cdrs + b'],\n  "timestamp": "2021-03-19T15:35:28Z"\n}')
    items = list(read_paths([str(path)]))
    assert len(items) == 300 and items[-1].source == f"{path}[299]"
    assert all(not i.problems for i in items)


# -- paths, directories, stdin --------------------------------------------------------------------

def test_directories_recursively_sorted_only_json_files(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "2.json").write_bytes(CDR_TEXT)
    (tmp_path / "a" / "x.jsonl").write_bytes(ONE_LINE + b"\n" + ONE_LINE + b"\n")
    (tmp_path / "a" / "y.ndjson").write_bytes(ONE_LINE + b"\n")
    (tmp_path / "1.JSON").write_bytes(CDR_TEXT)
    (tmp_path / "notes.txt").write_text("not a CDR")
    sources = [i.source.replace(str(tmp_path), "") for i in read_paths([str(tmp_path)])]
    assert sources == ["/1.JSON", "/a/x.jsonl:1", "/a/x.jsonl:2", "/a/y.ndjson:1", "/b/2.json"]


def test_stdin_as_dash(monkeypatch):
    fake = io.TextIOWrapper(io.BytesIO(ONE_LINE + b"\n" + ONE_LINE + b"\n"))
    monkeypatch.setattr(sys, "stdin", fake)
    items = list(read_paths(["-"]))
    assert [i.source for i in items] == ["<stdin>:1", "<stdin>:2"]


def test_missing_path_is_a_problem_not_an_exception(tmp_path):
    items = list(read_paths([str(tmp_path / "nope.json"), str(DATA / SPEC_CDR)]))
    assert items[0].problems[0].code == "input.not_found"
    assert items[1].data == load(SPEC_CDR)


def test_paths_in_the_order_given():
    items = list(read_paths([str(DATA / V211_CDR), str(DATA / SPEC_CDR)]))
    assert [i.data["id"] for i in items] == ["12345", "12345"]
    assert "auth_id" in items[0].data and "cdr_token" in items[1].data


# -- streaming in constant memory -----------------------------------------------------------------

class GeneratorStream(io.RawIOBase):
    """A byte stream produced on demand, recording how much has been pulled."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.pending = b""
        self.pulled = 0
        self.exhausted = False

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                self.exhausted = True
                return 0
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        self.pulled += n
        return n


@pytest.mark.parametrize("shape", ["array", "lines", "envelope"])
def test_reader_is_lazy(shape):
    count = 20_000  # ~30 MB if it were all read at once

    def chunks():
        if shape == "array":
            yield b"["
        elif shape == "envelope":
            yield b'{"status_code": 1000, "data": ['
        for i in range(count):
            sep = b"\n" if shape == "lines" else (b"," if i < count - 1 else b"")
            yield ONE_LINE + sep
        if shape == "array":
            yield b"]"
        elif shape == "envelope":
            yield b'], "timestamp": "2021-03-19T15:35:28Z"}'

    stream = GeneratorStream(chunks())
    items = read_items(stream, "big.json")
    first = next(items)
    assert first.data["id"] == "12345"
    assert not stream.exhausted
    assert stream.pulled < 1_000_000  # only the first chunks were read
    assert sum(1 for _ in items) == count - 1
    assert stream.exhausted


# -- bad input: one clear problem per item, never a traceback -------------------------------------

def test_not_json_at_all_names_line_and_column():
    problem = only_problem(read(b"\n\n   id;start;end\n1;2;3\n", "export.csv"))
    assert problem.code == "json.invalid"
    assert (problem.line, problem.col) == (3, 4)
    assert "line 3, column 4" in problem.message


def test_binary_garbage():
    problem = only_problem(read(b"\x89PNG\r\n\x1a\n\x00\x00", "photo.json"))
    assert problem.code == "json.invalid"


def test_invalid_utf8():
    problem = only_problem(read(b'{"id": "\xff\xfe"}', "latin1.json"))
    assert problem.code == "json.invalid" and "UTF-8" in problem.message


def test_utf8_bom_is_accepted():
    items = read(b"\xef\xbb\xbf" + CDR_TEXT)
    assert items[0].data == load(SPEC_CDR)


def test_malformed_json_line_does_not_stop_the_rest():
    text = ONE_LINE + b'\n{"id": "12346", oops}\n' + ONE_LINE + b"\n"
    items = read(text, "cdrs.jsonl")
    assert [i.source for i in items] == ["cdrs.jsonl:1", "cdrs.jsonl:2", "cdrs.jsonl:3"]
    assert items[0].data and items[2].data
    assert items[1].data is None
    problem = items[1].problems[0]
    assert problem.code == "json.invalid" and problem.line == 2 and problem.col == 17


def test_malformed_array_element_stops_with_position():
    text = b"[\n" + ONE_LINE + b",\n" + ONE_LINE[:-20] + b"]"
    items = read(text, "batch.json")
    assert items[0].data is not None and items[0].source == "batch.json[0]"
    assert items[1].source == "batch.json[1]" and items[1].data is None
    assert items[1].problems[0].code == "json.invalid" and items[1].problems[0].line == 3


def test_missing_comma_between_elements():
    items = read(b"[" + ONE_LINE + b" " + ONE_LINE + b"]", "batch.json")
    assert items[0].data is not None
    assert items[1].problems[0].code == "json.invalid" and "','" in items[1].problems[0].message


def test_truncated_file():
    items = read(b"[" + ONE_LINE + b"," + ONE_LINE[:100], "cut.json")
    assert items[0].data is not None
    assert items[1].problems[0].code == "json.invalid"


def test_trailing_garbage_after_array():
    items = read(b"[" + ONE_LINE + b"] trailing", "batch.json")
    assert items[0].data is not None
    assert items[1].problems[0].code == "json.invalid" and items[1].source == "batch.json"


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_rejected_with_the_field_named(constant):
    text = ONE_LINE.replace(b'"total_energy": 15.342', b'"total_energy": ' + constant)
    assert text != ONE_LINE
    for items in (read(text + b"\n" + ONE_LINE + b"\n", "x.jsonl"), read(b"[" + text + b"," + ONE_LINE + b"]")):
        assert items[0].data is None
        problem = items[0].problems[0]
        assert problem.code == "json.nan" and problem.path == "total_energy"
        assert constant.decode() in problem.message
        assert items[1].data is not None  # the next CDR is still read


def test_deeply_nested_junk_is_a_problem_not_a_recursion_error():
    deep = b"[" * 100_000 + b"]" * 100_000
    for text, name in ((deep, "deep.json"), (b"[" + deep + b"," + ONE_LINE + b"]", "deep2.json"),
                       (b'{"a": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001, "deep3.json")):
        items = read(text, name)
        assert items[0].data is None
        assert items[0].problems[0].code == "json.too_deep"
    items = read(deep + b"\n" + ONE_LINE + b"\n", "deep.jsonl")
    assert items[0].problems[0].code == "json.too_deep"
    assert items[1].data is not None


def test_ten_megabyte_string_is_read():
    big = "x" * 10_000_000
    text = ONE_LINE.replace(b'"remark_placeholder"', b"")
    obj = json.loads(text)
    obj["remark"] = big
    items = read(b"[" + json.dumps(obj).encode() + b"," + ONE_LINE + b"]")
    assert items[0].data["remark"] == big
    assert items[1].data is not None


def test_huge_integer_is_a_problem():
    items = read(b'[{"total_energy": ' + b"9" * 5000 + b"}, " + ONE_LINE + b"]")
    assert items[0].problems[0].code == "json.invalid"


def test_scalar_top_level_is_not_json_we_accept():
    assert only_problem(read(b'"just a string"')).code == "json.invalid"
    assert only_problem(read(b"42")).code == "json.invalid"


def test_problem_locations_render():
    problem = by_code(read(b"{oops}", "bad.json")[0].problems, "json.invalid")
    assert problem.location().startswith("bad.json:1:")


def test_long_single_line_envelope_is_streamed():
    line = b'{"data": [' + b",".join([ONE_LINE] * 200) + b'], "status_code": 1000, "timestamp": "2021-03-19T15:35:28Z"}'
    stream = GeneratorStream([line[i:i + 4096] for i in range(0, len(line), 4096)])
    items = read_items(stream, "api-dump.json")
    first = next(items)
    assert first.source == "api-dump.json[0]" and not stream.exhausted
    assert len(list(items)) == 199


def test_envelope_without_data():
    assert read(b'{"status_code": 1000, "timestamp": "2021-03-19T15:35:28Z"}') == []
    problem = only_problem(read(b'{\n "status_code": 3001,\n "status_message": "Unable to use the client\'s API",\n'
                                b' "timestamp": "2021-03-19T15:35:28Z"\n}'))
    assert problem.code == "envelope.status" and "3001" in problem.message


def test_text_stream_is_read_too():
    items = list(read_items(io.StringIO(ONE_LINE.decode()), "text.json"))
    assert items[0].data == load(SPEC_CDR)


@pytest.mark.parametrize("escape", [rb"\ud800", rb"\uDFFF", rb"\udc00"])
def test_a_lone_surrogate_is_rejected_with_the_field_named(escape):
    """No text encoding can hold a lone surrogate: such a CDR could not be stored, printed or
    sent on, so it is rejected like NaN - in every shape, the next CDR still read."""
    text = ONE_LINE.replace(b'"id": "', b'"id": "S' + escape, 1)
    assert text != ONE_LINE
    pretty = json.dumps(json.loads(text), indent=2).encode()
    for items in (read(text + b"\n" + ONE_LINE + b"\n", "x.jsonl"), read(b"[" + text + b"," + ONE_LINE + b"]"),
                  read(pretty + b"\n")):
        assert items[0].data is None
        [problem] = items[0].problems
        assert problem.code == "json.lone_surrogate" and problem.path == "id"
        assert escape.decode().lower() in problem.message.lower()
        problem.message.encode("utf-8")     # the message itself is printable
        assert all(item.data is not None for item in items[1:])


def test_a_lone_surrogate_in_a_field_name_is_rejected_too():
    text = ONE_LINE.replace(b'"id"', b'"i\\udc00d"', 1)
    [item] = read(text + b"\n", "x.jsonl")
    [problem] = item.problems
    assert problem.code == "json.lone_surrogate" and "field name" in problem.message
    problem.path.encode("utf-8")


def test_a_surrogate_pair_and_an_escaped_backslash_are_not_lone_surrogates():
    pair = ONE_LINE.replace(b'"id": "', b'"id": "\\ud83d\\ude00', 1)
    backslash = ONE_LINE.replace(b'"id": "', b'"id": "\\\\ud800', 1)  # the text \ud800
    for text in (pair, backslash):
        for items in (read(text + b"\n", "x.jsonl"), read(b"[" + text + b"]")):
            assert items[0].problems == [] and items[0].data is not None
    assert read(pair + b"\n", "x.jsonl")[0].data["id"].startswith("\U0001F600")
    assert read(backslash + b"\n", "x.jsonl")[0].data["id"].startswith("\\ud800")
