"""Party prefixes of eMI3 identifiers: who issued a contract, who operates an EVSE.

An eMA-ID (contract id) starts with the eMSP's country and party (``DE-TNM-C12345678-X``,
``DETNMC12345678X``); an EVSE-ID starts with the CPO's (``BE*BEC*E041503003``,
``BE-BEC-E041503003``). OCPI 2.1.1 CDRs carry no party fields at all and some 2.2.1 senders omit
``cdr_token.country_code/party_id``, so these prefixes are the only other source. A prefix is
only believed when its country is a real ISO 3166 code and the separators are consistent;
anything else gives ``None`` and the CDR is rejected rather than billed to a guessed party.
"""

from __future__ import annotations

import re

from engine.intake.countries import ALPHA2_TO_ALPHA3

# country, optional separator (the same one after the party), party, then the instance part.
_EMA_ID = re.compile(r"([A-Za-z]{2})([*-]?)([A-Za-z0-9]{3})\2[A-Za-z0-9][A-Za-z0-9*-]{4,}")
# An EVSE-ID's instance part starts with "E" (ID type) after the operator id.
_EVSE_ID = re.compile(r"([A-Za-z]{2})([*-]?)([A-Za-z0-9]{3})\2[Ee][A-Za-z0-9*-]+")


def _party(pattern: re.Pattern[str], value: object) -> tuple[str, str] | None:
    if not isinstance(value, str):
        return None
    match = pattern.fullmatch(value.strip())
    if match is None:
        return None
    country, party = match.group(1).upper(), match.group(3).upper()
    return (country, party) if country in ALPHA2_TO_ALPHA3 else None


def party_from_contract_id(contract_id: object) -> tuple[str, str] | None:
    """``"DE-TNM-C12345678-X"`` / ``"DETNMC12345678X"`` -> ``("DE", "TNM")``; None if not an eMA-ID."""
    return _party(_EMA_ID, contract_id)


def party_from_evse_id(evse_id: object) -> tuple[str, str] | None:
    """``"BE*BEC*E041503003"`` / ``"BE-BEC-E041503003"`` -> ``("BE", "BEC")``; None if not eMI3."""
    return _party(_EVSE_ID, evse_id)
