"""Which VAT treatment a supply gets: who owes the tax, where, at what rate, with which note.

The law (see docs/tax-accounting): charging is a supply of electricity. B2C (adhoc and
subscription) is taxed where the charge point is. A supply to an MSP that *resells* is located
where the MSP is established: a domestic reseller owes the tax itself (reverse charge, §13b
UStG), an EU reseller self-assesses in its own state (not taxable here), a reseller outside the
EU is outside the scope. An MSP that does not resell is treated like any customer: taxed where
the charge point is. Whether an MSP resells is master data (``facts.msp.reseller``), never a
guess: when it is missing no rule matches and the session is not priced.

The rules are data (``rules/tax_rules.yaml``, first match per stream) so the CPO's tax advisor
can read and change them; this module only evaluates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Mapping

from engine.config.yamlload import Loc
from engine.jsonable import to_jsonable
from engine.problems import Problem
from engine.tax.rates import STANDARD, RateTable, VatRate, alpha2
from engine.tax.vat_id import check_vat_id

DOMESTIC, REVERSE_CHARGE, EU_RESELLER, EXPORT, NOT_TAXABLE = (
    "domestic", "reverse_charge", "eu_reseller", "export", "not_taxable")
TREATMENTS = (DOMESTIC, REVERSE_CHARGE, EU_RESELLER, EXPORT, NOT_TAXABLE)
# EN 16931 VAT category codes (UNCL 5305) used when a rule does not name one.
DEFAULT_TAX_CLASS = {DOMESTIC: "S", REVERSE_CHARGE: "AE", EU_RESELLER: "AE", EXPORT: "O", NOT_TAXABLE: "O"}
BUYER_DOMESTIC, BUYER_EU, BUYER_THIRD = "domestic", "eu", "third_country"
EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
ZERO_RATE = Decimal("0")


@dataclass(frozen=True)
class TreatmentRule:
    id: str
    stream: str                       # adhoc | subscription | msp | "*"
    treatment: str
    when: Mapping[str, Any] = field(default_factory=dict)  # reseller, buyer, customer_type
    tax_class: str | None = None
    note: str | None = None           # a key of TaxRules.notes
    rate_category: str = STANDARD
    loc: Loc | None = None

    def matches(self, stream: str, facts: Mapping[str, Any]) -> bool:
        if self.stream not in ("*", stream):
            return False
        return all(facts.get(key) == value for key, value in self.when.items())

    def ref(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        if self.loc is not None:
            out.update(file=self.loc.file, line=self.loc.line)
        return out


@dataclass(frozen=True)
class TaxRules:
    supplier_country: str = "DE"
    rates: RateTable = field(default_factory=RateTable)
    notes: Mapping[str, str] = field(default_factory=dict)
    treatments: tuple[TreatmentRule, ...] = ()
    eu_countries: frozenset[str] = EU_MEMBER_STATES
    file: str | None = None
    # decide_treatment's answers for these rules (see _memo_key); not part of the value
    memo: dict[tuple[Any, ...], tuple["TaxTreatment | None", tuple[Problem, ...]]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        return not self.treatments and not self.rates.rates


@dataclass(frozen=True)
class TaxTreatment:
    """The decision, snapshotted on every line that uses it."""

    treatment: str
    rate: Decimal                     # percent; 0 for anything we do not charge VAT on
    country: str | None               # where the supply is taxed (alpha-2)
    tax_class: str                    # EN 16931 VAT category code
    note: str | None = None           # invoice note (exemption / reverse-charge wording)
    buyer_vat_id: str | None = None
    rule: Mapping[str, Any] | None = None
    rate_source: Mapping[str, Any] | None = None

    @property
    def charges_vat(self) -> bool:
        return self.treatment == DOMESTIC

    def to_json(self) -> dict[str, Any]:
        return {"treatment": self.treatment, "rate": self.rate, "country": self.country,
                "tax_class": self.tax_class, "note": self.note, "buyer_vat_id": self.buyer_vat_id,
                "rule": dict(self.rule) if self.rule else None,
                "rate_source": dict(self.rate_source) if self.rate_source else None}

    def to_jsonable(self) -> dict[str, Any]:
        """``to_jsonable(self.to_json())``, rendered once per treatment and handed out as a copy.

        decide_treatment memoises its answers, so one frozen treatment serves every session of
        a day and place; each priced document still gets JSON of its own (nothing is shared).
        """
        cached = self.__dict__.get("_jsonable")
        if cached is None:
            rendered = to_jsonable(self.to_json())
            cached = (rendered, _flat_objects(rendered))
            object.__setattr__(self, "_jsonable", cached)  # a cache, not a field: frozen stays true
        rendered, flat = cached
        if flat is None:
            return _copy_json(rendered)
        out = dict(rendered)
        for key in flat:
            out[key] = dict(out[key])
        return out


def _flat_objects(rendered: dict[str, Any]) -> tuple[str, ...] | None:
    """The keys of ``rendered`` holding objects, when the rest is scalars and those objects hold
    only scalars (the shape of every treatment: ``rule`` and ``rate_source`` are flat): then a
    copy is the dict copied and those objects copied, what ``_copy_json`` does for that shape.
    None for any other shape."""
    keys = []
    for key, value in rendered.items():
        if type(value) is dict:
            if not _CONTAINERS.isdisjoint(map(type, value.values())):
                return None
            keys.append(key)
        elif type(value) in _CONTAINERS:
            return None
    return tuple(keys)


def _copy_json(value: Any) -> Any:
    """A copy of JSON data: new dicts and lists, the (immutable) scalars shared."""
    if type(value) is dict:
        return {k: (_copy_json(v) if type(v) in _CONTAINERS else v) for k, v in value.items()}
    return [(_copy_json(v) if type(v) in _CONTAINERS else v) for v in value]


_CONTAINERS = frozenset({dict, list})


def buyer_location(country: str | None, rules: TaxRules) -> str | None:
    """domestic / eu / third_country relative to the supplier; None when unknown."""
    code = alpha2(country)
    if code is None:
        return None
    if code == alpha2(rules.supplier_country):
        return BUYER_DOMESTIC
    return BUYER_EU if code in rules.eu_countries else BUYER_THIRD


def treatment_facts(stream: str, facts: Mapping[str, Any], rules: TaxRules) -> dict[str, Any]:
    """The few facts treatment rules may test: reseller, buyer (location), customer_type."""
    msp = facts.get("msp") or {}
    customer = facts.get("customer") or {}
    if stream == "msp":
        return {"reseller": msp.get("reseller"), "buyer": buyer_location(msp.get("country"), rules),
                "customer_type": "B2B", "buyer_country": alpha2(msp.get("country")),
                "buyer_vat_id": msp.get("vat_id")}
    return {"reseller": False, "buyer": buyer_location(customer.get("country"), rules),
            "customer_type": customer.get("type") or "B2C", "buyer_country": alpha2(customer.get("country")),
            "buyer_vat_id": customer.get("vat_id")}


_MEMO_LIMIT = 4096
_KEYABLE = frozenset({str, bool, type(None)})


def _buyer_of(stream: str, facts: Mapping[str, Any]) -> tuple[Any, ...]:
    """The buyer facts ``treatment_facts`` derives its answer from (the raw values: the memo key
    is made before, and instead of, the derived facts)."""
    if stream == "msp":
        msp = facts.get("msp") or {}
        return msp.get("reseller"), msp.get("country"), msp.get("vat_id")
    customer = facts.get("customer") or {}
    return customer.get("country"), customer.get("type"), customer.get("vat_id")


def _buyer_key(stream: str, buyer: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The memo key of a buyer's part of the answer, when it can key a memo: only exact
    str/bool/None values, so that two keys are equal only when every message built from them
    would read the same (``1 == True`` and a str subclass with a location never share an entry).
    Four items: never equal to a place key (``_place_key``)."""
    if _KEYABLE.issuperset(map(type, buyer)):
        return (stream, *buyer)
    return None


def _place_key(position: int, location_country: str | None, on: date) -> tuple[Any, ...] | None:
    """The memo key of a domestic rule's answer at a place and day (three items; see _buyer_key)."""
    if type(location_country) in _KEYABLE:
        return (position, location_country, on)
    return None


def _remember(rules: TaxRules, key: tuple[Any, ...], answer: Any) -> Any:
    if len(rules.memo) >= _MEMO_LIMIT:
        rules.memo.clear()
    rules.memo[key] = answer
    return answer


def decide_treatment(rules: TaxRules, stream: str, facts: Mapping[str, Any], *,
                     location_country: str | None, on: date) -> tuple[TaxTreatment | None, list[Problem]]:
    """Treatment for one supply of ``stream`` at a charge point in ``location_country`` on ``on``.

    Returns (None, [error]) when no rule matches or no rate is known: an unpriced session must go
    to the exception queue, never out with a guessed rate.

    Pure in its inputs (``_decide`` is the specification), and asked again for every session,
    so the answers are memoised per TaxRules (bounded; TaxTreatment is frozen and the problems
    are handed out as a new list) in two parts, because they depend on different things: which
    rule applies, and every answer but the domestic one, depend on the buyer only; a domestic
    answer depends on the rule, the charge point's country and the day only. Memoised whole, a
    treatment was worked out again for every buyer × place × day; in parts, once per buyer and
    once per place and day - and the domestic treatment (and its rendered JSON) is one object
    for every buyer taxed there that day.
    """
    buyer = _buyer_of(stream, facts)
    key = _buyer_key(stream, buyer)
    part = rules.memo.get(key) if key is not None else None
    if part is None:
        part = _for_buyer(rules, stream, treatment_facts(stream, facts, rules))
        if key is not None:
            _remember(rules, key, part)
    position, treatment, problems = part
    if position is None:
        return treatment, list(problems)
    key = _place_key(position, location_country, on)
    answer = rules.memo.get(key) if key is not None else None
    if answer is None:
        treatment, found = _domestic(rules, rules.treatments[position], location_country, on, position)
        answer = (treatment, tuple(found))
        if key is not None:
            _remember(rules, key, answer)
    return answer[0], list(answer[1])


def _for_buyer(rules: TaxRules, stream: str,
               tf: Mapping[str, Any]) -> tuple[int | None, TaxTreatment | None, tuple[Problem, ...]]:
    """The buyer's part of ``_decide``: (the domestic rule's position, None, ()) when the answer
    still depends on the place and day, else (None, the answer)."""
    position = _rule_position(rules, stream, tf)
    if position is not None and rules.treatments[position].treatment == DOMESTIC:
        return position, None, ()
    treatment, problems = _decide_for(rules, stream, tf, position, None, None)
    return None, treatment, tuple(problems)


def _rule_position(rules: TaxRules, stream: str, tf: Mapping[str, Any]) -> int | None:
    """The first rule matching the supply (its position in ``rules.treatments``), or None."""
    return next((i for i, r in enumerate(rules.treatments) if r.matches(stream, tf)), None)


def _decide(rules: TaxRules, stream: str, tf: Mapping[str, Any], location_country: str | None,
            on: date) -> tuple[TaxTreatment | None, list[Problem]]:
    """The treatment, unmemoised: what decide_treatment answers."""
    return _decide_for(rules, stream, tf, _rule_position(rules, stream, tf), location_country, on)


def _decide_for(rules: TaxRules, stream: str, tf: Mapping[str, Any], position: int | None,
                location_country: str | None, on: date | None) -> tuple[TaxTreatment | None, list[Problem]]:
    if position is None:
        hint = " (facts.msp.reseller is missing: it is master data, set it)" \
            if stream == "msp" and tf["reseller"] is None else ""
        return None, [Problem("TAX_NO_TREATMENT", f"no tax treatment rule matches stream {stream!r} "
                              f"with reseller={tf['reseller']}, buyer={tf['buyer']}{hint}", path="facts")]
    rule = rules.treatments[position]
    if rule.treatment == DOMESTIC:
        return _domestic(rules, rule, location_country, on)
    problems: list[Problem] = []
    note = rules.notes.get(rule.note) if rule.note else None
    tax_class = rule.tax_class or DEFAULT_TAX_CLASS[rule.treatment]
    vat_id = tf["buyer_vat_id"]
    if rule.treatment in (REVERSE_CHARGE, EU_RESELLER):
        expected = rules.supplier_country if rule.treatment == REVERSE_CHARGE else tf["buyer_country"]
        check = check_vat_id(vat_id, expected_country=expected)
        if not check.valid:
            problems.append(Problem(check.code or "VAT_ID_INVALID",
                                    f"{rule.treatment.replace('_', ' ')} needs the buyer's valid VAT id: "
                                    f"{check.message}", path="facts.msp.vat_id", severity="warning"))
        vat_id = check.compact or vat_id
    country = alpha2(rules.supplier_country) if rule.treatment == REVERSE_CHARGE else tf["buyer_country"]
    return TaxTreatment(rule.treatment, ZERO_RATE, country, tax_class, note, vat_id, rule.ref(), None), problems


def _domestic(rules: TaxRules, rule: TreatmentRule, location_country: str | None, on: date,
              position: int | None = None) -> tuple[TaxTreatment | None, list[Problem]]:
    """A domestic rule's answer: taxed where the charge point is, at that country's rate that day.

    With the rule's ``position``, the treatment is remembered per country and VAT rate entry:
    it reads nothing else (not the day: only which rate entry is valid on it), so one object -
    and one rendering of its JSON - serves every day that rate is valid. The entry is keyed by
    identity; it is one of ``rules.rates``, which lives as long as the memo.
    """
    country = alpha2(location_country)
    rate = rules.rates.lookup(country, on, rule.rate_category)
    if rate is None:
        return None, [Problem("TAX_NO_RATE", f"no {rule.rate_category} VAT rate for country "
                              f"{location_country!r} on {on.isoformat()}", path="cdr_location.country")]
    if position is None:
        return _domestic_treatment(rules, rule, country, rate), []
    key = (position, (country, id(rate)))  # two items: never a buyer's or a place's key
    known = rules.memo.get(key)
    if known is None:
        known = _remember(rules, key, _domestic_treatment(rules, rule, country, rate))
    return known, []


def _domestic_treatment(rules: TaxRules, rule: TreatmentRule, country: str | None, rate: VatRate) -> TaxTreatment:
    note = rules.notes.get(rule.note) if rule.note else None
    tax_class = rule.tax_class or DEFAULT_TAX_CLASS[rule.treatment]
    return TaxTreatment(DOMESTIC, rate.rate, country, tax_class, note, None, rule.ref(), rate.source())


def rate_for(rules: TaxRules, country: str | None, on: date, category: str = STANDARD) -> VatRate | None:
    """Convenience for callers that only need a rate (e.g. lint checks)."""
    return rules.rates.lookup(country, on, category)
