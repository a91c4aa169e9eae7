"""A JSON Lines CDR read straight into its typed, validated form; the explaining path stays the judge.

For a 2.2.1 CDR line the usual route costs three passes over the data: the reader parses the
text into dicts (msgspec, untyped), ``accept`` hands them to jsonschema_rs (which spends most of
its time converting Python objects to Rust) and ``typedcopy.typed_cdr`` copies them once more
to turn numbers into Decimal and DateTimes into datetimes. Here the text is decoded once, by
msgspec, into Structs generated at import from schemas/cdr.schema.json (:func:`_model`):
types, enums, required and unknown fields, lengths, ``minItems`` and the integer ``minimum``
are checked while parsing, in C. What the Structs cannot say is checked afterwards, and anything
doubtful makes :func:`accept_line` return None: ``accept`` then takes the usual route on the
parsed JSON (:meth:`CdrLine.value`), so the result is always the usual one.

Why a CDR :func:`accept_line` accepts gets exactly what ``accept`` gives its parsed JSON:

* **The text is canonical.** The decoded Structs, encoded again by msgspec, must give back the
  line byte for byte. That proves the keys were in the Structs' field order (the schema's
  order: so the dicts ``msgspec.to_builtins`` makes have the keys in input order, as the
  parsed JSON has; the normalised CDR is stored and may be copied whole into billing objects,
  so key order is kept, not argued away), that no key came twice, that no number was a
  string (msgspec's Decimal also takes "1.10"), that every number is spelled as its Decimal
  prints (``1e2`` is not; ``-0`` is not), that integers were integer literals, and that every
  DateTime was ``YYYY-MM-DDTHH:MM:SS`` plus an offset or none (msgspec writes ``Z`` for UTC).
  Everything else (whitespace, escapes msgspec would not write, ``+00:00``, fractions) fails
  the comparison and goes the usual way.
* **The schema accepts it.** The Structs mirror every keyword the schema uses
  (:data:`_KEYWORDS`; an unknown keyword disables this path). Patterns are checked here:
  ``^[ -~]*$`` as "ASCII and printable" (the same set: space to tilde), the code patterns with
  ``str`` predicates on ASCII text, the rest with the schema's own regex as a full match
  (``$`` in Python would also allow a final newline; jsonschema_rs's does not - fullmatch is the
  stricter of the two). DateTimes must be UTC, whole seconds and years 1000-2999: the only
  text msgspec writes for them that the DateTime pattern, ``maxLength`` 25 and the date-time
  format all accept. ``minimum`` on numbers is compared here. So jsonschema_rs says valid.
* **The typed values are typed_cdr's.** A number literal becomes ``Decimal(text)`` either way
  (typed_cdr: an int literal ``Decimal(int)``, which is the same Decimal); the integer fields
  ``Decimal(int)``; a ``...Z`` DateTime the datetime ``fromisoformat`` gives (UTC, the same
  ``timezone.utc``); codes upper-cased; every dict and list new. typed_cdr raises Unusual for
  none of these inputs (only JSON ints and finite Decimals, strings ending in Z).

The ``tariffs`` array (a quarter of a CDR's text, the same few arrays in thousands of CDRs) is
kept as raw JSON by the CDR Struct and typed on its own by the same rules; the typed array is
remembered by its exact text (bounded) and every CDR gets a fresh copy of its lists and dicts.
``cdr_location`` likewise: a charge point's CDRs all carry the same location (56 in 10,000
corpus CDRs), so its round trip, patterns and typing are done once per location text.

Lines this path cannot judge - a 2.1.1 CDR, an invalid one, another shape - fail the Struct
decode in C at the first wrong field, cheaply, and are parsed as before. tests/intake/
test_cdrline.py mutates every field of a full CDR many ways, serialises it to a line and compares
this path with the usual one.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from engine.intake import checks
from engine.memo import remembered

_SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "cdr.schema.json"
# What the Struct generator understands; a schema using anything else gets no fast path.
_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "$ref", "enum", "format",
                       "items", "maxLength", "minLength", "minimum", "minItems", "pattern", "description",
                       "title", "$schema", "$id", "$defs"})
_UTC = timezone.utc
_INT_DIGITS = sys.get_int_max_str_digits()  # 0: no limit
_DIGIT_RUN = re.compile("[0-9]{%d}" % (_INT_DIGITS + 1)) if _INT_DIGITS else None

_CISTRING = "^[ -~]*$"
# Fields of the CDR that repeat across CDRs (a charge point's location, the tariffs): kept as
# raw JSON by the CDR Struct, typed on their own and remembered by their text.
_RAW_FIELDS = ("tariffs", "cdr_location")
_COUNTRY_CODE, _PARTY_ID, _CURRENCY = "^[A-Za-z]{2}$", "^[A-Za-z0-9]{3}$", "^[A-Z]{3}$"
_TIME_PATTERN = "^([0-1][0-9]|2[0-3]):[0-5][0-9]$"
_DATE_PATTERN = "^([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
# Every pattern and number minimum of the schema, by object and field: what _typed checks. A
# schema with any other (a new pattern, a changed one) gets no fast path until _typed knows it.
CHECKED = frozenset({
    ("Cdr", "country_code", _COUNTRY_CODE), ("Cdr", "party_id", _PARTY_ID), ("Cdr", "id", _CISTRING),
    ("Cdr", "session_id", _CISTRING), ("Cdr", "authorization_reference", _CISTRING), ("Cdr", "currency", _CURRENCY),
    ("Cdr", "invoice_reference_id", _CISTRING), ("Cdr", "credit_reference_id", _CISTRING),
    ("CdrToken", "country_code", _COUNTRY_CODE), ("CdrToken", "party_id", _PARTY_ID),
    ("CdrToken", "uid", _CISTRING), ("CdrToken", "contract_id", _CISTRING),
    ("GeoLocation", "latitude", "^-?[0-9]{1,2}\\.[0-9]{5,7}$"),
    ("GeoLocation", "longitude", "^-?[0-9]{1,3}\\.[0-9]{5,7}$"),
    ("CdrLocation", "id", _CISTRING), ("CdrLocation", "country", "^[A-Za-z]{3}$"),
    ("CdrLocation", "evse_uid", _CISTRING), ("CdrLocation", "evse_id", _CISTRING),
    ("CdrLocation", "connector_id", _CISTRING), ("ChargingPeriod", "tariff_id", _CISTRING),
    ("SignedValue", "nature", _CISTRING), ("SignedData", "encoding_method", _CISTRING),
    ("DateTime", "", "^[12][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"),
    ("PriceComponent", "vat", "minimum 0"), ("EnergySource", "percentage", "minimum 0"),
    ("EnvironmentalImpact", "amount", "minimum 0"),
    ("TariffRestrictions", "start_time", _TIME_PATTERN), ("TariffRestrictions", "end_time", _TIME_PATTERN),
    ("TariffRestrictions", "start_date", _DATE_PATTERN), ("TariffRestrictions", "end_date", _DATE_PATTERN),
    ("Tariff", "country_code", _COUNTRY_CODE), ("Tariff", "party_id", _PARTY_ID), ("Tariff", "id", _CISTRING),
    ("Tariff", "currency", _CURRENCY),
})


class _Unsupported(Exception):
    """The schema uses something the generator does not mirror."""


def constraints(schema: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(object, field, pattern or "minimum N") for every pattern and number minimum in ``schema``
    ("DateTime", "" for a pattern on a definition itself)."""
    found = set()

    def fields(name: str, node: dict[str, Any]) -> None:
        for key, sub in node.get("properties", {}).items():
            if "pattern" in sub:
                found.add((name, key, sub["pattern"]))
            if "minimum" in sub and sub.get("type") == "number":
                found.add((name, key, f"minimum {sub['minimum']}"))

    fields("Cdr", schema)
    for name, node in schema.get("$defs", {}).items():
        fields(name, node)
        if "pattern" in node:
            found.add((name, "", node["pattern"]))
    return found


def _model(schema: dict[str, Any]) -> tuple[Any, Any]:
    """The CDR Struct type for ``schema`` (one Struct per object, fields in the schema's order)
    with ``tariffs`` and ``cdr_location`` kept as raw JSON, and the types of those two."""
    if constraints(schema) != CHECKED:
        raise _Unsupported("patterns or minimums changed")
    built: dict[str, Any] = {}
    raw: dict[str, Any] = {}

    def typ(node: dict[str, Any], name: str) -> Any:
        if not _KEYWORDS.issuperset(node):
            raise _Unsupported(sorted(set(node) - _KEYWORDS))
        if "$ref" in node:
            ref = node["$ref"].rpartition("/")[2]
            if ref not in built:
                built[ref] = typ(schema["$defs"][ref], ref)
            return built[ref]
        kind = node["type"]
        if kind == "object":
            if node.get("additionalProperties") is not False:
                raise _Unsupported("open object")
            required = set(node.get("required", ()))
            fields = []
            for key, sub in node["properties"].items():
                field_type = typ(sub, f"{name}_{key}")
                if name == "Cdr" and key in _RAW_FIELDS:
                    raw[key] = field_type
                    field_type = msgspec.Raw  # (decoded on its own, remembered: see _typed_tariffs)
                fields.append((key, field_type) if key in required else (key, field_type, msgspec.UNSET))
            return msgspec.defstruct(name, fields, kw_only=True, forbid_unknown_fields=True, gc=False)
        if kind == "string":
            if "enum" in node:
                return Literal[tuple(node["enum"])]
            if "format" in node:
                if node["format"] != "date-time" or name != "DateTime":
                    raise _Unsupported(node["format"])
                return datetime  # (pattern, format and maxLength: the round trip and _datetime)
            meta = {k: node[m] for k, m in (("max_length", "maxLength"), ("min_length", "minLength")) if m in node}
            return Annotated[str, msgspec.Meta(**meta)] if meta else str
        if kind == "number":
            return Decimal  # (minimum: compared by accept_line)
        if kind == "integer":
            return Annotated[int, msgspec.Meta(ge=node["minimum"])] if "minimum" in node else int
        if kind == "boolean":
            return bool
        if kind == "array":
            item = list[typ(node["items"], f"{name}_item")]  # type: ignore[misc]
            return Annotated[item, msgspec.Meta(min_length=node["minItems"])] if "minItems" in node else item
        raise _Unsupported(kind)

    cdr = typ(schema, "Cdr")
    if len(raw) != len(_RAW_FIELDS):
        raise _Unsupported("no tariffs or cdr_location field")
    return cdr, raw["tariffs"], raw["cdr_location"]


def _load_model() -> tuple[Any, Any, Any]:
    with open(_SCHEMA_FILE, encoding="utf-8") as fh:
        schema = json.load(fh)
    try:
        return _model(schema)
    except _Unsupported:
        return None, None, None


MODEL, TARIFFS, LOCATION = _load_model()
_decode = msgspec.json.Decoder(MODEL).decode if MODEL is not None else None
_decode_tariffs = msgspec.json.Decoder(TARIFFS).decode if TARIFFS is not None else None
_decode_location = msgspec.json.Decoder(LOCATION).decode if LOCATION is not None else None
_encode = msgspec.json.Encoder(decimal_format="number").encode
_BUILTIN = (Decimal, datetime)
# How every canonical line starts: the first field (required), a colon, no space. A line that
# starts otherwise (spaces after colons, as Python's json.dumps writes; another key order) could
# never pass the round trip, so it is not decoded twice: it costs one comparison, not a Struct
# decode and an encode before the usual route.
_START = '{"%s":' % MODEL.__struct_fields__[0] if MODEL is not None else None
_VALUE = len(_START) if _START is not None else 0


class CdrLine:
    """A JSON Lines line that decoded as a 2.2.1 CDR; ``value()`` is its parsed JSON, made on demand."""

    __slots__ = ("text", "struct", "_value", "_parse", "tariff_currencies")

    def __init__(self, text: str, struct: Any, parse: Any):
        self.text = text
        self.struct = struct
        self._parse = parse  # the reader's parse of a line: what RawItem.data always was
        self._value: Any = _NOT_PARSED
        # (set by typed_cdr: the currencies of tariffs check_tariff finds nothing in, else None)
        self.tariff_currencies: tuple[str, ...] | None = None

    def value(self) -> Any:
        if self._value is _NOT_PARSED:
            self._value = self._parse(self.text)
        return self._value

    def lookup_keys(self) -> dict[str, Any]:
        """The fields a batch's reference prefetch reads (authorization_reference, session_id,
        cdr_token's uid and issuer) as parsed JSON would hold them, taken from the Structs so
        that the line is not parsed again just for them (engine/service/ingest.py)."""
        struct, token = self.struct, self.struct.cdr_token
        keys: dict[str, Any] = {"cdr_token": {"country_code": token.country_code, "party_id": token.party_id,
                                              "uid": token.uid}}
        for name in ("authorization_reference", "session_id"):
            value = getattr(struct, name)
            if value is not msgspec.UNSET:
                keys[name] = value
        return keys


_NOT_PARSED = object()


def decode(text: str, parse: Any) -> CdrLine | None:
    """``text`` as a :class:`CdrLine`, or None when it does not decode as a 2.2.1 CDR.

    ``parse`` is how the reader parses a line otherwise; :meth:`CdrLine.value` calls it. A line
    with a run of digits longer than Python's int limit is left to the reader (the standard
    library refuses such an integer; msgspec's Decimal would not)."""
    if _decode is None or not text.startswith(_START) or text[_VALUE:_VALUE + 1].isspace():
        return None
    try:
        struct = _decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if _DIGIT_RUN is not None and len(text) > _INT_DIGITS and _DIGIT_RUN.search(text):
        return None
    return CdrLine(text, struct, parse)


# ---- what the Structs cannot check ---------------------------------------------------------

class _Doubtful(Exception):
    """Leave this CDR to the usual route."""


_LATITUDE = re.compile(r"-?[0-9]{1,2}\.[0-9]{5,7}")
_LONGITUDE = re.compile(r"-?[0-9]{1,3}\.[0-9]{5,7}")
_TIME = re.compile(r"([0-1][0-9]|2[0-3]):[0-5][0-9]")
_DATE = re.compile(r"([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
_ZERO = Decimal(0)


def _datetime(value: datetime) -> None:
    if value.tzinfo is not _UTC or value.microsecond or not 1000 <= value.year <= 2999:
        raise _Doubtful


def _country_code(value: str) -> str:
    """``^[A-Za-z]{2}$``, upper-cased as prenormalise does."""
    if len(value) != 2 or not value.isascii() or not value.isalpha():
        raise _Doubtful
    return value.upper()


def _party_id(value: str) -> str:
    """``^[A-Za-z0-9]{3}$``, upper-cased."""
    if len(value) != 3 or not value.isascii() or not value.isalnum():
        raise _Doubtful
    return value.upper()


def _currency(value: str) -> None:
    """``^[A-Z]{3}$``."""
    if len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
        raise _Doubtful


def _full(pattern: re.Pattern[str], value: str) -> None:
    if pattern.fullmatch(value) is None:
        raise _Doubtful


def _not_negative(value: Decimal) -> None:
    if value < _ZERO:
        raise _Doubtful


def _present(obj: dict[str, Any], keys: tuple[str, ...], into: list[str]) -> None:
    for key in keys:
        value = obj.get(key)
        if value is not None:
            into.append(value)


_TOP_CISTRINGS = ("session_id", "authorization_reference", "invoice_reference_id", "credit_reference_id")
_RESTRICTION_TEXTS = (("start_time", _TIME), ("end_time", _TIME), ("start_date", _DATE), ("end_date", _DATE))


def _tariff(tariff: dict[str, Any], cistrings: list[str]) -> None:
    tariff["country_code"] = _country_code(tariff["country_code"])
    tariff["party_id"] = _party_id(tariff["party_id"])
    cistrings.append(tariff["id"])
    _currency(tariff["currency"])
    for key in ("start_date_time", "end_date_time"):
        if key in tariff:
            _datetime(tariff[key])
    _datetime(tariff["last_updated"])
    for element in tariff["elements"]:
        for pc in element["price_components"]:
            if "vat" in pc:
                _not_negative(pc["vat"])
            pc["step_size"] = Decimal(pc["step_size"])
        restrictions = element.get("restrictions")
        if restrictions is not None:
            for key, pattern in _RESTRICTION_TEXTS:
                if key in restrictions:
                    _full(pattern, restrictions[key])
            for key in ("min_duration", "max_duration"):
                if key in restrictions:
                    restrictions[key] = Decimal(restrictions[key])
    mix = tariff.get("energy_mix")
    if mix is not None:
        for source in mix.get("energy_sources", ()):
            _not_negative(source["percentage"])
        for impact in mix.get("environ_impact", ()):
            _not_negative(impact["amount"])


def _typed(cdr: dict[str, Any]) -> None:
    """Check what the Structs could not and finish typing, in place (raises _Doubtful)."""
    cistrings = [cdr["id"]]
    cdr["country_code"] = _country_code(cdr["country_code"])
    cdr["party_id"] = _party_id(cdr["party_id"])
    _datetime(cdr["start_date_time"])
    _datetime(cdr["end_date_time"])
    _datetime(cdr["last_updated"])
    _present(cdr, _TOP_CISTRINGS, cistrings)
    _currency(cdr["currency"])
    token = cdr["cdr_token"]
    token["country_code"] = _country_code(token["country_code"])
    token["party_id"] = _party_id(token["party_id"])
    cistrings += (token["uid"], token["contract_id"])
    for period in cdr["charging_periods"]:
        _datetime(period["start_date_time"])
        if "tariff_id" in period:
            cistrings.append(period["tariff_id"])
    signed = cdr.get("signed_data")
    if signed is not None:
        cistrings.append(signed["encoding_method"])
        if "encoding_method_version" in signed:
            signed["encoding_method_version"] = Decimal(signed["encoding_method_version"])
        cistrings += [value["nature"] for value in signed["signed_values"]]
    joined = "".join(cistrings)
    if not joined.isascii() or not joined.isprintable():  # ^[ -~]*$ for each
        raise _Doubtful


def _location(location: dict[str, Any]) -> None:
    """What :func:`_typed` checks and types in ``cdr_location``, in place (raises _Doubtful)."""
    cistrings = (location["id"], location["evse_uid"], location["evse_id"], location["connector_id"])
    country = location["country"]
    if len(country) != 3 or not country.isascii() or not country.isalpha():
        raise _Doubtful
    location["country"] = country.upper()
    coordinates = location["coordinates"]
    _full(_LATITUDE, coordinates["latitude"])
    _full(_LONGITUDE, coordinates["longitude"])
    joined = "".join(cistrings)
    if not joined.isascii() or not joined.isprintable():  # ^[ -~]*$ for each
        raise _Doubtful


def _canonical_builtins(decode: Any, raw: bytes) -> Any:
    """``raw`` decoded into Structs by ``decode`` and made lists and dicts, or _DOUBTFUL when it
    does not decode or is not the canonical text of what it decodes to (as for the whole line)."""
    try:
        struct = decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _DOUBTFUL
    if _encode(struct) != raw:
        return _DOUBTFUL
    return msgspec.to_builtins(struct, builtin_types=_BUILTIN)


def _typed_location(raw: bytes) -> Any:
    """The typed ``cdr_location`` of a CDR whose ``cdr_location`` JSON text is ``raw``, or
    _DOUBTFUL: the same checks as for the rest of the CDR (canonical round trip, patterns,
    typing). A location depends on nothing else in the CDR and a charge point's CDRs all carry
    the same one, so the answer is remembered by its text (and copied per CDR, like tariffs)."""
    location = _canonical_builtins(_decode_location, raw)
    if location is _DOUBTFUL:
        return _DOUBTFUL
    try:
        _location(location)
    except _Doubtful:
        return _DOUBTFUL
    return location


def _raw_as_none(value: Any) -> None:
    if type(value) is msgspec.Raw:
        return None  # (the tariffs and the location: put in by typed_cdr)
    raise TypeError(type(value).__name__)


_DOUBTFUL = False  # (remembered for tariffs the fast path does not vouch for)
_TARIFF_MEMO: dict[bytes, Any] = {}
TARIFF_MEMO_LIMIT = 512  # distinct tariffs arrays remembered (cleared when full)
_LOCATION_MEMO: dict[bytes, Any] = {}
LOCATION_MEMO_LIMIT = 1024  # distinct locations remembered (cleared when full)


def _typed_tariffs(raw: bytes) -> Any:
    """(the typed ``tariffs`` of a CDR whose ``tariffs`` JSON text is ``raw``, their currencies
    when checks.check_tariff finds nothing in any of them else None), or _DOUBTFUL.

    The same checks as for the rest of the CDR (canonical round trip, patterns, typing); a
    tariffs array depends on nothing else in the CDR, so the answer is remembered by its text:
    thousands of CDRs carry the same few tariffs. The remembered lists and dicts are never handed
    out: :func:`typed_cdr` gives every CDR its own copy."""
    tariffs = _canonical_builtins(_decode_tariffs, raw)
    if tariffs is _DOUBTFUL:
        return _DOUBTFUL
    cistrings: list[str] = []
    try:
        for tariff in tariffs:
            _tariff(tariff, cistrings)
    except _Doubtful:
        return _DOUBTFUL
    joined = "".join(cistrings)
    if not joined.isascii() or not joined.isprintable():
        return _DOUBTFUL
    return tariffs, _quiet_currencies(tariffs)


def _quiet_currencies(tariffs: list[dict[str, Any]]) -> tuple[str, ...] | None:
    """The distinct currencies of ``tariffs`` when check_tariff finds nothing in any of them
    (what check_cdr finds in a tariff is check_tariff's findings and a currency unlike the
    CDR's), else None."""
    for tariff in tariffs:
        if checks.check_tariff(tariff) != ([], []):
            return None
    return tuple(sorted({tariff["currency"] for tariff in tariffs}))


def typed_cdr(line: CdrLine) -> dict[str, Any] | None:
    """The typed normalised CDR ``accept`` makes of ``line.value()`` when that takes
    ``accept``'s quiet path (schema-valid as it arrived, nothing to warn about before the
    checks); None when that is not certain."""
    struct = line.struct
    if _encode(struct) != line.text.encode():
        return None
    cdr = msgspec.to_builtins(struct, builtin_types=_BUILTIN, enc_hook=_raw_as_none)
    raw = struct.tariffs
    if raw is not msgspec.UNSET:
        text = bytes(raw)
        typed = remembered(_TARIFF_MEMO, text, lambda: _typed_tariffs(text), TARIFF_MEMO_LIMIT)
        if typed is _DOUBTFUL:
            return None
        tariffs, line.tariff_currencies = typed
        cdr["tariffs"] = msgspec.to_builtins(tariffs, builtin_types=_BUILTIN)  # (new lists and dicts)
    else:
        line.tariff_currencies = ()
    text = bytes(struct.cdr_location)
    location = remembered(_LOCATION_MEMO, text, lambda: _typed_location(text), LOCATION_MEMO_LIMIT)
    if location is _DOUBTFUL:
        return None
    cdr["cdr_location"] = msgspec.to_builtins(location, builtin_types=_BUILTIN)  # (new dicts)
    try:
        _typed(cdr)
    except _Doubtful:
        return None
    return cdr
