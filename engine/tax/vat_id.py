"""VAT identification numbers: an offline, pure syntax-and-checksum validation.

Reverse-charge invoices must carry the customer's VAT id, and a typo there moves the tax debt
back to the CPO, so every MSP's id is checked before it is printed. ``python-stdnum`` knows the
format and check digits of every EU member state (``stdnum.eu.vat``). Whether the number is
*registered* is a VIES question (``stdnum.eu.vat.check_vies``): that needs the network and keeps
evidence, so it is the shell's job; this module never does I/O.
"""

from __future__ import annotations


from dataclasses import dataclass
from functools import lru_cache

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import (
    InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError,
)

from engine.tax.rates import alpha2

_REASONS = (
    (InvalidChecksum, "VAT_ID_CHECKSUM", "the check digit is wrong"),
    (InvalidLength, "VAT_ID_LENGTH", "the length is wrong"),
    (InvalidFormat, "VAT_ID_FORMAT", "the format is wrong"),
    (InvalidComponent, "VAT_ID_COUNTRY", "the country prefix is not an EU member state"),
)


@dataclass(frozen=True)
class VatIdCheck:
    value: str | None
    valid: bool
    compact: str | None = None     # canonical form, e.g. "DE136695976"
    country: str | None = None     # ISO alpha-2 of the prefix (EL -> GR)
    code: str | None = None        # why not valid (stable code)
    message: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"value": self.value, "valid": self.valid, "compact": self.compact,
                "country": self.country, "code": self.code, "message": self.message}


@lru_cache(maxsize=4096)  # pure and hot: the same MSP's VAT id is checked for each of its sessions
def check_vat_id(value: str | None, *, expected_country: str | None = None) -> VatIdCheck:
    """Validate an EU VAT id offline; with ``expected_country`` also require that prefix."""
    if value is None or not str(value).strip():
        return VatIdCheck(value, False, code="VAT_ID_MISSING", message="no VAT id given")
    text = str(value)
    try:
        compact = eu_vat.validate(text)
    except ValidationError as exc:
        for kind, code, reason in _REASONS:
            if isinstance(exc, kind):
                return VatIdCheck(text, False, code=code, message=f"VAT id {text!r}: {reason}")
        return VatIdCheck(text, False, code="VAT_ID_INVALID", message=f"VAT id {text!r}: {exc}")
    country = alpha2(compact[:2])
    expected = alpha2(expected_country) if expected_country else None
    if expected and country != expected:
        return VatIdCheck(text, False, compact, country, "VAT_ID_COUNTRY_MISMATCH",
                          f"VAT id {compact} is from {country}, the party is established in {expected}")
    return VatIdCheck(text, True, compact, country)


def is_valid_vat_id(value: str | None) -> bool:
    return check_vat_id(value).valid
