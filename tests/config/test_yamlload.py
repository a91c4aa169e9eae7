from decimal import Decimal

from engine.config.yamlload import LocDict, load_yaml, location_of, plain


def load(text):
    data, problems = load_yaml(text, "t.yaml")
    return data, problems


def test_yaml_12_booleans_keep_country_codes_as_strings():
    data, problems = load("a: NO\nb: on\nc: yes\nd: Off\ne: true\nf: FALSE\n")
    assert problems == []
    assert plain(data) == {"a": "NO", "b": "on", "c": "yes", "d": "Off", "e": True, "f": False}


def test_numbers_are_decimal_and_never_float():
    data, _ = load("price: 0.10\nint: 42\nexp: 1e3\nneg: -0.005\n")
    assert data["price"] == Decimal("0.10") and str(data["price"]) == "0.10"
    assert data["int"] == 42 and isinstance(data["int"], int)
    assert isinstance(data["exp"], Decimal)
    assert data["neg"] == Decimal("-0.005")


def test_leading_zero_is_decimal_not_octal_and_dates_stay_strings():
    data, _ = load("mode: 0755\nday: 2024-05-01\nquoted: '0.10'\n")
    assert data["mode"] == 755
    assert data["day"] == "2024-05-01"
    assert data["quoted"] == "0.10"


def test_null_forms():
    data, _ = load("a: ~\nb: null\nc:\n")
    assert plain(data) == {"a": None, "b": None, "c": None}


def test_duplicate_keys_are_errors_with_location():
    data, problems = load("a: 1\nb:\n  x: 1\n  x: 2\n")
    assert [p.code for p in problems] == ["yaml.duplicate_key"]
    assert (problems[0].line, problems[0].col) == (4, 3)
    assert "first defined at line 3" in problems[0].message


def test_syntax_error_has_location_and_no_exception():
    data, problems = load("a: [1, 2\nb: 3\n")
    assert data is None
    assert problems[0].code == "yaml.syntax"
    assert problems[0].line >= 1


def test_non_finite_numbers_rejected():
    data, problems = load("a: .inf\n")
    assert data is None and problems[0].code == "yaml.nonfinite"


def test_every_node_keeps_file_line_col():
    data, _ = load("rules:\n  - id: a\n    when: {path: cdr.x, eq: 1}\n")
    assert isinstance(data, LocDict)
    assert str(location_of(data, ["rules", 0])) == "t.yaml:2:5"
    assert str(location_of(data, ["rules", 0, "when", "eq"])) == "t.yaml:3:29"
    # A path that does not exist resolves to the deepest node that does.
    assert str(location_of(data, ["rules", 0, "nope", "deeper"])) == "t.yaml:2:5"


def test_empty_file_is_a_problem():
    data, problems = load("")
    assert data is None and problems[0].code == "yaml.empty"


def test_merge_keys_refused():
    data, problems = load("base: &b {x: 1}\nother:\n  <<: *b\n")
    assert any(p.code == "yaml.merge_key" for p in problems)
