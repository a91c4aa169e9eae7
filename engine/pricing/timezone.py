"""Which local time zone tariff restrictions are judged in.

OCPI's ``cdr_location`` has no time zone (only the full Location object has ``time_zone``), yet
``start_time``/``end_time``/``start_date``/``end_date``/``day_of_week`` are local. Precedence:

1. an explicit override (``tz``: the operator or the analyst knows better),
2. the location master's zone (``location_tz``, passed in by the caller),
3. the zone inferred from ``cdr_location.country`` (ISO 3166-1 alpha-3, alpha-2 accepted),
4. UTC, with a warning.

Countries that span several zones map to the zone most charge points are in (the capital's,
usually) and the inference says so with a ``TIME_ZONE_AMBIGUOUS`` warning: use the location
master for those markets.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.frozen import frozen
from engine.memo import remembered
from engine.problems import Problem

# alpha-3 -> (alpha-2, IANA zone). Europe in full, then the other markets OCPI is used in.
COUNTRY_ZONES: dict[str, tuple[str, str]] = {
    # European Union
    "AUT": ("AT", "Europe/Vienna"), "BEL": ("BE", "Europe/Brussels"), "BGR": ("BG", "Europe/Sofia"),
    "HRV": ("HR", "Europe/Zagreb"), "CYP": ("CY", "Asia/Nicosia"), "CZE": ("CZ", "Europe/Prague"),
    "DNK": ("DK", "Europe/Copenhagen"), "EST": ("EE", "Europe/Tallinn"), "FIN": ("FI", "Europe/Helsinki"),
    "FRA": ("FR", "Europe/Paris"), "DEU": ("DE", "Europe/Berlin"), "GRC": ("GR", "Europe/Athens"),
    "HUN": ("HU", "Europe/Budapest"), "IRL": ("IE", "Europe/Dublin"), "ITA": ("IT", "Europe/Rome"),
    "LVA": ("LV", "Europe/Riga"), "LTU": ("LT", "Europe/Vilnius"), "LUX": ("LU", "Europe/Luxembourg"),
    "MLT": ("MT", "Europe/Malta"), "NLD": ("NL", "Europe/Amsterdam"), "POL": ("PL", "Europe/Warsaw"),
    "PRT": ("PT", "Europe/Lisbon"), "ROU": ("RO", "Europe/Bucharest"), "SVK": ("SK", "Europe/Bratislava"),
    "SVN": ("SI", "Europe/Ljubljana"), "ESP": ("ES", "Europe/Madrid"), "SWE": ("SE", "Europe/Stockholm"),
    # rest of Europe
    "GBR": ("GB", "Europe/London"), "NOR": ("NO", "Europe/Oslo"), "ISL": ("IS", "Atlantic/Reykjavik"),
    "CHE": ("CH", "Europe/Zurich"), "LIE": ("LI", "Europe/Vaduz"), "MCO": ("MC", "Europe/Monaco"),
    "SMR": ("SM", "Europe/San_Marino"), "VAT": ("VA", "Europe/Vatican"), "AND": ("AD", "Europe/Andorra"),
    "ALB": ("AL", "Europe/Tirane"), "BIH": ("BA", "Europe/Sarajevo"), "MNE": ("ME", "Europe/Podgorica"),
    "MKD": ("MK", "Europe/Skopje"), "SRB": ("RS", "Europe/Belgrade"), "XKX": ("XK", "Europe/Belgrade"),
    "UKR": ("UA", "Europe/Kyiv"), "MDA": ("MD", "Europe/Chisinau"), "BLR": ("BY", "Europe/Minsk"),
    "RUS": ("RU", "Europe/Moscow"), "TUR": ("TR", "Europe/Istanbul"), "GEO": ("GE", "Asia/Tbilisi"),
    "ARM": ("AM", "Asia/Yerevan"), "AZE": ("AZ", "Asia/Baku"), "FRO": ("FO", "Atlantic/Faroe"),
    "GIB": ("GI", "Europe/Gibraltar"), "IMN": ("IM", "Europe/Isle_of_Man"), "JEY": ("JE", "Europe/Jersey"),
    "GGY": ("GG", "Europe/Guernsey"), "ALA": ("AX", "Europe/Mariehamn"),
    "SJM": ("SJ", "Arctic/Longyearbyen"), "GRL": ("GL", "America/Nuuk"),
    # French overseas departments and Dutch Caribbean (own ISO codes)
    "GLP": ("GP", "America/Guadeloupe"), "MTQ": ("MQ", "America/Martinique"),
    "GUF": ("GF", "America/Cayenne"), "REU": ("RE", "Indian/Reunion"), "MYT": ("YT", "Indian/Mayotte"),
    "BES": ("BQ", "America/Kralendijk"), "CUW": ("CW", "America/Curacao"), "ABW": ("AW", "America/Aruba"),
    "SXM": ("SX", "America/Lower_Princes"),
    # Americas
    "USA": ("US", "America/New_York"), "CAN": ("CA", "America/Toronto"),
    "MEX": ("MX", "America/Mexico_City"), "BRA": ("BR", "America/Sao_Paulo"),
    "ARG": ("AR", "America/Argentina/Buenos_Aires"), "CHL": ("CL", "America/Santiago"),
    "COL": ("CO", "America/Bogota"), "PER": ("PE", "America/Lima"), "URY": ("UY", "America/Montevideo"),
    "CRI": ("CR", "America/Costa_Rica"), "PAN": ("PA", "America/Panama"),
    # Asia-Pacific, Middle East, Africa
    "AUS": ("AU", "Australia/Sydney"), "NZL": ("NZ", "Pacific/Auckland"), "JPN": ("JP", "Asia/Tokyo"),
    "KOR": ("KR", "Asia/Seoul"), "CHN": ("CN", "Asia/Shanghai"), "HKG": ("HK", "Asia/Hong_Kong"),
    "TWN": ("TW", "Asia/Taipei"), "SGP": ("SG", "Asia/Singapore"), "MYS": ("MY", "Asia/Kuala_Lumpur"),
    "THA": ("TH", "Asia/Bangkok"), "VNM": ("VN", "Asia/Ho_Chi_Minh"), "PHL": ("PH", "Asia/Manila"),
    "IDN": ("ID", "Asia/Jakarta"), "IND": ("IN", "Asia/Kolkata"), "KAZ": ("KZ", "Asia/Almaty"),
    "ISR": ("IL", "Asia/Jerusalem"), "JOR": ("JO", "Asia/Amman"), "ARE": ("AE", "Asia/Dubai"),
    "SAU": ("SA", "Asia/Riyadh"), "QAT": ("QA", "Asia/Qatar"), "OMN": ("OM", "Asia/Muscat"),
    "ZAF": ("ZA", "Africa/Johannesburg"), "MAR": ("MA", "Africa/Casablanca"), "EGY": ("EG", "Africa/Cairo"),
    "KEN": ("KE", "Africa/Nairobi"), "NGA": ("NG", "Africa/Lagos"),
}

# Countries whose territory spans more than one zone offset: the table holds the main zone only.
MULTI_ZONE = frozenset({
    "PRT", "ESP", "RUS", "UKR", "GRL", "USA", "CAN", "MEX", "BRA", "ARG", "CHL", "AUS", "NZL", "IDN", "KAZ",
})

_BY_ALPHA2: dict[str, str] = {a2: a3 for a3, (a2, _) in COUNTRY_ZONES.items()}

UTC_NAME = "UTC"


def alpha3(country: str | None) -> str | None:
    """Normalise an alpha-3 or alpha-2 country code to alpha-3 (None when unknown)."""
    if not country or not isinstance(country, str):
        return None
    code = country.strip().upper()
    if code in COUNTRY_ZONES:
        return code
    return _BY_ALPHA2.get(code)


def zone_for_country(country: str | None) -> str | None:
    """The IANA zone name for an alpha-3 (or alpha-2) country code, None when not in the table."""
    code = alpha3(country)
    return COUNTRY_ZONES[code][1] if code else None


@lru_cache(maxsize=512)
def load_zone(name: str) -> ZoneInfo:
    """A ZoneInfo by name (cached); raises ValueError for an unknown or malformed name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


@frozen
class ZoneChoice:
    """The zone a session is judged in, and where that answer came from."""

    zone: ZoneInfo
    name: str
    source: str  # "override" | "location" | "country" | "default"
    problems: tuple[Problem, ...] = ()


_CHOICES: dict[tuple[str | None, str | None, str | None], ZoneChoice] = {}
_CHOICES_LIMIT = 1024


def resolve_zone(tz: str | None = None, location_tz: str | None = None,
                 country: str | None = None) -> ZoneChoice:
    """Apply the precedence override > location master > country > UTC (see module doc).

    Asked for every priced CDR with a handful of different arguments: the (immutable) answer
    depends on the three of them only, so it is remembered when they are strings or None."""
    if (tz is None or type(tz) is str) and (location_tz is None or type(location_tz) is str) \
            and (country is None or type(country) is str):
        return remembered(_CHOICES, (tz, location_tz, country), lambda: _resolve_zone(tz, location_tz, country),
                          _CHOICES_LIMIT)
    return _resolve_zone(tz, location_tz, country)


def _resolve_zone(tz: str | None, location_tz: str | None, country: str | None) -> ZoneChoice:
    problems: list[Problem] = []
    for name, source, path in ((tz, "override", "--tz"), (location_tz, "location", "location.time_zone")):
        if not name:
            continue
        try:
            return ZoneChoice(load_zone(name), name, source, tuple(problems))
        except ValueError:
            problems.append(Problem("TIME_ZONE_INVALID", f"unknown time zone {name!r} ({source}) ignored",
                                    path=path, severity="warning"))
    inferred = zone_for_country(country)
    if inferred:
        code = alpha3(country)
        if code in MULTI_ZONE:
            problems.append(Problem(
                "TIME_ZONE_AMBIGUOUS",
                f"country {country} spans several time zones; assumed {inferred} (pass the location's zone)",
                path="cdr_location.country", severity="warning"))
        return ZoneChoice(load_zone(inferred), inferred, "country", tuple(problems))
    problems.append(Problem(
        "TIME_ZONE_DEFAULTED",
        f"no time zone known for country {country!r}: restrictions judged in UTC",
        path="cdr_location.country", severity="warning"))
    return ZoneChoice(load_zone(UTC_NAME), UTC_NAME, "default", tuple(problems))
