"""One parsed CDR in, one ``IntakeResult`` out: detect version, convert, validate, normalise, check.

Errors are data (engine/problems.py): a bad CDR is an ``IntakeResult`` with ``problems`` and
``cdr=None``, never an exception, so one bad CDR in a batch of a million costs one line in the
exception queue and nothing else. The ``key`` (country_code, party_id, id) is filled whenever it
can be read, also for rejected CDRs, so that the rejection can be tied to the CDR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.intake import cdrline, checks, normalise, typedcopy, v211
from engine.intake.schema import CDR_SCHEMA, TARIFF_SCHEMA, CompiledSchema
from engine.problems import Problem

V221 = "2.2.1"
NOT_OBJECT = "cdr.not_object"
INTERNAL = "intake.internal"


@dataclass
class IntakeResult:
    cdr: dict[str, Any] | None
    version: str | None                      # "2.2.1" or "2.1.1" (the shape that arrived)
    problems: list[Problem] = field(default_factory=list)   # errors: non-empty means rejected
    warnings: list[Problem] = field(default_factory=list)
    key: tuple[str, str, str] | None = None  # (country_code, party_id, id)
    raw: object = None  # what accept was given (for a CdrLine: the line; its value() is the parsed JSON)

    @property
    def accepted(self) -> bool:
        return not self.problems and self.cdr is not None


def _not_object(data: Any, what: str) -> Problem:
    kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
    return Problem(code=NOT_OBJECT, message=f"expected a JSON object ({what}), got {kind}")


def _key(cdr: Any) -> tuple[str, str, str] | None:
    if not isinstance(cdr, dict):
        return None
    country, party, cdr_id = cdr.get("country_code"), cdr.get("party_id"), cdr.get("id")
    if isinstance(country, str) and isinstance(party, str) and isinstance(cdr_id, str):
        return country.upper(), party.upper(), cdr_id
    return None


def _remap(problems: list[Problem], conv: v211.Conversion | None) -> list[Problem]:
    """Problems about the converted 2.1.1 CDR, told in the input's terms (path + 2.1.1 hint)."""
    if conv is None:
        return problems
    out = []
    for p in problems:
        hint = conv.hints.get(p.path)
        path = v211.map_path(p.path, conv.path_map)
        if hint or path != p.path:
            p = Problem(code=p.code, message=f"{p.message} ({hint})" if hint else p.message, path=path,
                        severity=p.severity, extra=p.extra)
        out.append(p)
    return out


def _guarded(fn: Any, data: Any, what: str) -> Any:
    """Last line of defence: a bug in intake must not stop a batch (tests assert it never fires)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        return Problem(code=INTERNAL, message=f"{what} could not be read: {type(exc).__name__}: {str(exc)[:200]}")


def accept(data: Any, *, default_party: tuple[str, str] | None = None) -> IntakeResult:
    """Validate and normalise one CDR (2.2.1 or 2.1.1 shape) to the normalised 2.2.1 CDR.

    ``data`` is parsed JSON, or a :class:`cdrline.CdrLine` (``RawItem.cdr_line``): a JSON Lines
    line decoded as a 2.2.1 CDR, accepted without parsing it again where cdrline.py can vouch
    for the outcome, else exactly like its parsed JSON."""
    if type(data) is cdrline.CdrLine:
        return _accept_line(data, default_party)
    outcome = _guarded(lambda: _accept(data, default_party, lenient=False), data, "the CDR")
    if isinstance(outcome, Problem):
        return IntakeResult(cdr=None, version=None, problems=[outcome], key=_key(data), raw=data)
    return outcome


def _accept_line(line: cdrline.CdrLine, default_party: tuple[str, str] | None) -> IntakeResult:
    """What :func:`_accept_valid` makes of ``line.value()`` (cdrline.py says why it is the same),
    or, where cdrline cannot vouch for that, :func:`accept` of ``line.value()``."""
    try:
        cdr = cdrline.typed_cdr(line)
        checked = None if cdr is None else _check_line_cdr(cdr, line)
    except Exception:  # noqa: BLE001 - a bug must not cost the CDR: the usual (guarded) route decides
        cdr = checked = None
    if cdr is None or checked is None:
        result = accept(line.value(), default_party=default_party)
    else:
        check_errors, check_warnings = checked
        result = IntakeResult(cdr=None if check_errors else cdr, version=V221, problems=check_errors,
                              warnings=check_warnings, key=_key(cdr))
    result.raw = line
    return result


def _check_line_cdr(cdr: dict[str, Any], line: cdrline.CdrLine) -> tuple[list[Problem], list[Problem]]:
    """check_cdr's (errors, warnings) for a CDR typed by cdrline: nothing, without check_cdr,
    when checks.quiet_line_cdr can tell (nearly always)."""
    if checks.quiet_line_cdr(cdr, line.tariff_currencies):
        return [], []
    return checks.check_cdr(cdr)


def _accept(data: Any, default_party: tuple[str, str] | None, *, lenient: bool) -> IntakeResult:
    if not isinstance(data, dict):
        return IntakeResult(cdr=None, version=None, problems=[_not_object(data, "a CDR")], raw=data)
    if not lenient and type(data) is dict and not v211.is_v211(data):
        valid = _accept_valid(data)
        if valid is not None:
            return valid
    conv = None
    version = V221
    if v211.is_v211(data):
        version = v211.VERSION
        conv = v211.convert(data, default_party)
        work = conv.cdr
    else:
        work = data
    cdr, warnings, errors = normalise.prenormalise(work)
    if conv is not None:
        warnings = conv.warnings + _remap(warnings, conv)
    key = _key(cdr)
    if errors or cdr is None:
        return IntakeResult(cdr=None, version=version, problems=_remap(errors, conv), warnings=warnings,
                            key=key, raw=data)
    normalise.derive_token_party(cdr, warnings if conv is None else None)
    problems = CDR_SCHEMA.problems(cdr)
    if lenient:
        problems = [p for p in problems if not _pricing_can_ignore(p)]
    if problems:
        return IntakeResult(cdr=None, version=version, problems=_remap(problems, conv), warnings=warnings,
                            key=key, raw=data)
    format_errors = _typed(cdr, normalise.to_typed_cdr)
    if format_errors:
        return IntakeResult(cdr=None, version=version, problems=_remap(format_errors, conv),
                            warnings=warnings, key=key, raw=data)
    check_errors, check_warnings = checks.check_cdr(cdr)
    warnings = warnings + _remap(check_warnings, conv)
    if check_errors:
        return IntakeResult(cdr=None, version=version, problems=_remap(check_errors, conv), warnings=warnings,
                            key=key, raw=data)
    return IntakeResult(cdr=cdr, version=version, problems=[], warnings=warnings, key=key, raw=data)


def _accept_valid(data: dict[str, Any]) -> IntakeResult | None:
    """Nearly every CDR: a 2.2.1 CDR the schema accepts as it arrived, with nothing to warn about
    before the checks. One typed copy instead of a copy and a typing pass (typedcopy.py says why
    the result is the same); None sends the CDR down the explaining path of :func:`_accept`."""
    if not CDR_SCHEMA.is_valid(data):
        return None
    try:
        cdr = typedcopy.typed_cdr(data)
    except typedcopy.Unusual:
        return None
    check_errors, check_warnings = checks.check_cdr(cdr)
    return IntakeResult(cdr=None if check_errors else cdr, version=V221, problems=check_errors,
                        warnings=check_warnings, key=_key(cdr), raw=data)


def _typed(obj: dict[str, Any], convert: Any) -> list[Problem]:
    """Type conversion after validation; a DateTime the validators let through but Python cannot
    represent (year 0, "24:00") is reported like the schema would."""
    try:
        convert(obj)
    except ValueError as exc:
        return [Problem(code="schema.format", message=f"not a representable date-time: {str(exc)[:120]}")]
    return []


# ---- lenient normalisation for `cdrflow price` ------------------------------------------------

# What pricing needs: timing, currency, periods and their dimensions, and whole tariffs (except
# their owner fields). Everything else may be missing from a CDR given to `cdrflow price`.
_PRICING_REQUIRED_TOP = frozenset({"start_date_time", "end_date_time", "currency", "charging_periods"})
_TARIFF_OWNER = frozenset({"country_code", "party_id", "last_updated"})


def _pricing_can_ignore(problem: Problem) -> bool:
    path = problem.path
    if problem.code == "schema.required":
        parent, _, name = path.rpartition(".")
        if parent == "":
            return name not in _PRICING_REQUIRED_TOP
        if parent.startswith(("cdr_token", "cdr_location", "signed_data")):
            return True
        return parent.startswith("tariffs[") and "." not in parent and name in _TARIFF_OWNER
    if problem.code == "schema.additionalProperties":
        return "." not in path and "[" not in path  # unknown top-level fields (e.g. "expected")
    return False


def normalise_for_pricing(obj: Any) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Lenient normalisation of a CDR for `cdrflow price`: only what pricing needs is required.

    Numbers, DateTimes and the 2.1.1 shape are converted as in :func:`accept`, and bad values in
    the fields that are present are still reported. Returns (cdr or None, errors + warnings).
    """
    if type(obj) is cdrline.CdrLine:
        obj = obj.value()
    outcome = _guarded(lambda: _accept(obj, None, lenient=True), obj, "the CDR")
    if isinstance(outcome, Problem):
        return None, [outcome]
    problems = outcome.problems + outcome.warnings
    return (outcome.cdr if not outcome.problems else None), problems


# ---- tariffs -----------------------------------------------------------------------------------

def normalise_tariff(obj: Any, *, default_party: tuple[str, str] | None = None,
                     ) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Validate and normalise one OCPI Tariff (2.2.1, or 2.1.1 given ``default_party``).

    Returns (tariff or None, errors + warnings); the tariff is None when there is an error.
    """
    outcome = _guarded(lambda: _tariff(obj, default_party, TARIFF_SCHEMA), obj, "the tariff")
    if isinstance(outcome, Problem):
        return None, [outcome]
    return outcome


def _tariff(obj: Any, default_party: tuple[str, str] | None,
            schema: CompiledSchema) -> tuple[dict[str, Any] | None, list[Problem]]:
    if not isinstance(obj, dict):
        return None, [_not_object(obj, "a tariff")]
    if default_party is not None:
        obj = v211.fill_tariff_party(obj, (default_party[0].upper(), default_party[1].upper()))
    tariff, warnings, errors = normalise.prenormalise(obj)
    if errors or tariff is None:
        return None, errors + warnings
    problems = schema.problems(tariff)
    if problems:
        if "country_code" not in tariff and "party_id" not in tariff:
            problems = [Problem(code=p.code, path=p.path, message=f"{p.message} (an OCPI 2.1.1 tariff has no "
                                "owner fields: read it with the operator's default party)")
                        if p.path in ("country_code", "party_id") else p for p in problems]
        return None, problems + warnings
    problems = _typed(tariff, normalise.to_typed_tariff)
    if problems:
        return None, problems + warnings
    check_errors, check_warnings = checks.check_tariff(tariff)
    if check_errors:
        return None, check_errors + warnings + check_warnings
    return tariff, warnings + check_warnings
