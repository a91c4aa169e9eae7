"""A seeded generator of realistic Voltaro (DE*VLT) CDRs for the benchmarks.

``generate(n, seed)`` yields ``n`` OCPI CDRs as plain dicts (JSON numbers as float/int), built
from what ``samples/`` knows about Voltaro:

* the charge points (``cdr_location`` objects, one per EVSE seen in ``samples/cdrs``) and the
  tariffs Voltaro embeds in its CDRs (regular, ad-hoc and depot tariffs per country and power type);
* the tokens of ``samples/reference``: own customers' RFID cards and app accounts (subscription),
  Voltaro's ad-hoc tokens with their PSP authorisation references (adhoc), roaming partners'
  cards with and without a contract (msp), service cards.

The mix resembles a real CPO's month: mostly roaming (msp) and subscription sessions, some ad-hoc
payments, a few percent exceptions (expired/suspended roaming contracts, unknown MSPs, cancelled
plans, failed payments, zero-energy and implausible sessions, unknown locations, pre-migration
back-fills, foreign CPO CDRs), a few credits, and ~2% OCPI 2.1.1 CDRs from an old roaming hub.
Each CDR has 1-5 charging periods (mostly 2-4) with ENERGY and TIME plus power or current
dimensions (and PARKING_TIME where a car stayed), totals consistent with the embedded tariff,
and is ~2 KB as compact JSON.

``write_corpus(path, n, seed)`` writes them as JSON Lines (UTF-8, one CDR per line);
``write_repeated(lines, path, target_bytes)`` streams a file of about ``target_bytes`` by repeating
lines with fresh CDR ids (for the memory benchmark; nothing is held in memory).
"""

from __future__ import annotations

import copy
import json
import random
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
GENERATOR_VERSION = 3  # bump when the output changes (cached corpora are regenerated)

UTC = timezone.utc
GO_LIVE = datetime(2026, 8, 31, 22, 0, tzinfo=UTC)
PERIOD_START = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)
PERIOD_DAYS = 91  # September to November 2026

# What a CDR is drawn as, with its weight (per mille). The outcome is decided by the engine; the
# label only says how the CDR was built.
MIX: tuple[tuple[str, int], ...] = (
    ("msp", 455),
    ("subscription", 345),
    ("adhoc", 125),
    ("msp_unknown_party", 14),
    ("msp_expired", 8),
    ("msp_suspended", 5),
    ("subscription_ended", 10),       # C-10003 expired / C-10004 cancelled plans
    ("subscription_none", 6),         # customer without (active) plan
    ("own_unknown_token", 3),
    ("own_token_other", 2),
    ("service_token", 4),
    ("adhoc_failed", 2),
    ("adhoc_not_captured", 2),
    ("adhoc_no_psp", 3),
    ("invalid_contract_id", 2),
    ("zero_energy", 5),
    ("implausible", 1),
    ("unknown_location", 2),
    ("pre_migration", 3),
    ("foreign_cpo", 1),
    ("credit", 4),
)

_ACTIVE_MSPS = (("DE*LDX", 30), ("NL*WZP", 20), ("DE*FLK", 20), ("AT*STR", 14), ("DE*ALT", 6))
_UNKNOWN_MSPS = ("CH*SWX", "BE*NOV", "DE*GRN")
_ACTIVE_CUSTOMERS = (("C-10001", 8), ("C-10002", 8), ("C-10005", 6), ("C-10006", 24), ("C-10007", 6),
                     ("C-10008", 5), ("C-10009", 6), ("C-10010", 20))
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_HEX = "0123456789ABCDEF"


def _load_yaml(name: str) -> Any:
    return yaml.safe_load((SAMPLES / "reference" / name).read_text(encoding="utf-8"))


class _World:
    """Everything the generator draws from, read once from samples/."""

    def __init__(self) -> None:
        self.evses: list[dict[str, Any]] = []
        self.tariffs: dict[str, dict[str, Any]] = {}
        self.signed: list[dict[str, Any]] = []
        seen = set()
        for path in sorted((SAMPLES / "cdrs").glob("*.json")):
            cdr = json.loads(path.read_text(encoding="utf-8"))
            location = cdr.get("cdr_location")
            if location is None:
                continue
            key = (location["id"], location["evse_uid"])
            if key not in seen:
                seen.add(key)
                self.evses.append(location)
            for tariff in cdr.get("tariffs") or ():
                self.tariffs.setdefault(tariff["id"], tariff)
            if cdr.get("signed_data"):
                self.signed.append(cdr["signed_data"])
        self.evses.sort(key=lambda loc: (loc["id"], loc["evse_uid"]))
        locations = {loc["id"]: loc for loc in _load_yaml("locations.yaml")["locations"]}
        self.zones = {lid: loc["time_zone"] for lid, loc in locations.items()}
        self.categories = {lid: loc["category"] for lid, loc in locations.items()}
        customers = _load_yaml("customers.yaml")["customers"]
        self.tokens = {c["id"]: list(c.get("tokens") or []) for c in customers}
        psp = _load_yaml("psp_transactions.yaml")["transactions"]
        self.psp_captured = [t for t in psp if t["status"] == "captured"]
        self.psp_failed = [t for t in psp if t["status"] in ("failed", "cancelled")]
        self.psp_open = [t for t in psp if t["status"] in ("authorised",)]

    def tariff_for(self, location: dict[str, Any], adhoc: bool) -> dict[str, Any]:
        country = {"DEU": "DE", "AUT": "AT", "NLD": "NL", "FRA": "FR"}.get(location["country"], "DE")
        power = "DC" if location["connector_power_type"] == "DC" else "AC"
        depot = self.categories.get(location["id"]) == "depot"
        names = []
        if depot:
            names.append(f"VLT-{country}-DEPOT-{power}-2026")
        if adhoc:
            names.append(f"VLT-{country}-{power}-ADHOC-2026")
        names += [f"VLT-{country}-{power}-2026", f"VLT-DE-{power}-2026"]
        for name in names:
            if name in self.tariffs:
                return self.tariffs[name]
        return self.tariffs[sorted(self.tariffs)[0]]


_WORLD: _World | None = None


def world() -> _World:
    global _WORLD
    if _WORLD is None:
        _WORLD = _World()
    return _WORLD


def _weighted(rng: random.Random, pairs: Iterable[tuple[Any, int]]) -> Any:
    pairs = list(pairs)
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ema_id(rng: random.Random, party: str, dashes: bool = True) -> str:
    country, pid = party.split("*")
    instance = "".join(rng.choice(_ALNUM) for _ in range(9))
    check = rng.choice(_ALNUM)
    return f"{country}-{pid}-{instance}-{check}" if dashes else f"{country}{pid}{instance}{check}"


def _rfid(rng: random.Random) -> str:
    return "04" + "".join(rng.choice(_HEX) for _ in range(12))


def _components(tariff: dict[str, Any], parking: float) -> dict[str, tuple[float, float, int]]:
    """type -> (price, vat, step_size) of the element that applies to most of the session."""
    out: dict[str, tuple[float, float, int]] = {}
    for element in tariff["elements"]:
        restrictions = element.get("restrictions") or {}
        blocking = "min_duration" in restrictions
        for pc in element["price_components"]:
            if pc["type"] in out:
                continue
            if blocking and pc["type"] != "PARKING_TIME":
                continue
            if blocking and parking <= 0:
                continue
            out[pc["type"]] = (float(pc["price"]), float(pc.get("vat", 0.0)), int(pc.get("step_size", 1)))
    return out


def _money(value: float) -> float:
    return round(value + 1e-9, 2)


class _Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.world = world()
        self.serial = 10000
        self.labels = [m[0] for m in MIX]
        self.weights = [m[1] for m in MIX]

    # -- tokens ---------------------------------------------------------------------------------

    def msp_token(self, party: str) -> dict[str, Any]:
        rng = self.rng
        country, pid = party.split("*")
        kind = "APP_USER" if rng.random() < 0.12 else "RFID"
        uid = _rfid(rng) if kind == "RFID" else f"{pid}-{rng.randrange(10**8):08d}"
        return {"country_code": country, "party_id": pid, "uid": uid, "type": kind,
                "contract_id": _ema_id(rng, party, dashes=rng.random() < 0.85)}

    def own_token(self, customer: str) -> dict[str, Any]:
        uid = self.rng.choice(self.world.tokens[customer])
        kind = "APP_USER" if uid.startswith("VLT-APP-") else "RFID"
        letter = "F" if customer in ("C-10006", "C-10010") else "C"
        number = customer.split("-")[1]
        index = self.world.tokens[customer].index(uid) + 1
        return {"country_code": "DE", "party_id": "VLT", "uid": uid, "type": kind,
                "contract_id": f"DE-VLT-{letter}{number}{index:03d}-{self.rng.choice(_ALNUM)}"}

    def adhoc_token(self) -> dict[str, Any]:
        rng = self.rng
        instance = "H" + "".join(rng.choice(_ALNUM) for _ in range(8))  # Voltaro's ad-hoc eMA-IDs: DE-VLT-H...
        return {"country_code": "DE", "party_id": "VLT", "uid": "AH" + "".join(rng.choice(_ALNUM) for _ in range(10)),
                "type": "AD_HOC_USER", "contract_id": f"DE-VLT-{instance}-{rng.choice(_ALNUM)}"}

    # -- one CDR ----------------------------------------------------------------------------------

    def cdr(self) -> dict[str, Any]:
        rng = self.rng
        label = rng.choices(self.labels, weights=self.weights)[0]
        start_day = PERIOD_START + timedelta(days=rng.randrange(PERIOD_DAYS))
        psp: dict[str, Any] | None = None
        adhoc = False
        remark = None
        if label in ("msp", "credit"):
            token = self.msp_token(_weighted(rng, _ACTIVE_MSPS))
        elif label == "msp_unknown_party":
            token = self.msp_token(rng.choice(_UNKNOWN_MSPS))
        elif label == "msp_expired":
            token = self.msp_token("FR*CVX")
        elif label == "msp_suspended":
            token = self.msp_token("AT*ELW")
        elif label == "subscription":
            token = self.own_token(_weighted(rng, _ACTIVE_CUSTOMERS))
        elif label == "subscription_ended":
            token = self.own_token(rng.choice(("C-10003", "C-10004")))
            start_day = PERIOD_START + timedelta(days=30 + rng.randrange(PERIOD_DAYS - 30))
        elif label == "subscription_none":
            token = self.own_token(rng.choice(("C-10011", "C-10012")))
        elif label in ("own_unknown_token", "own_token_other"):
            token = {"country_code": "DE", "party_id": "VLT", "uid": _rfid(rng), "type": "RFID",
                     "contract_id": f"DE-VLT-C{rng.randrange(20000, 99999)}{rng.randrange(1000):03d}-"
                                    f"{rng.choice(_ALNUM)}"}
            if label == "own_token_other":
                token["type"] = "OTHER"
        elif label == "service_token":
            token = {"country_code": "DE", "party_id": "VLT", "uid": _rfid(rng), "type": "RFID",
                     "contract_id": f"DE-VLT-S{rng.randrange(10**8):08d}-{rng.choice(_ALNUM)}"}
            remark = "Commissioning test after maintenance"
        elif label.startswith("adhoc"):
            token = self.adhoc_token()
            adhoc = True
            pool = {"adhoc": self.world.psp_captured, "adhoc_failed": self.world.psp_failed,
                    "adhoc_not_captured": self.world.psp_open, "adhoc_no_psp": None}[label]
            psp = rng.choice(pool) if pool else None
        elif label == "invalid_contract_id":
            token = self.msp_token("NL*WZP")
            token["contract_id"] = f"WZP{rng.randrange(10**6):06d}"
        else:  # data-quality labels: an ordinary roaming session with something off
            token = self.msp_token(_weighted(rng, _ACTIVE_MSPS))
        if label == "pre_migration":
            start_day = GO_LIVE - timedelta(days=1 + rng.randrange(20))

        evse = rng.choice(self.world.evses)
        location = dict(evse)
        dc = location["connector_power_type"] == "DC"
        tz_hour = rng.choices(range(24), weights=[1, 1, 1, 1, 1, 2, 4, 7, 9, 8, 7, 7, 8, 8, 8, 8, 9, 10, 10, 8,
                                                  6, 4, 3, 2])[0]
        start = start_day.replace(hour=tz_hour) + timedelta(minutes=rng.randrange(60), seconds=rng.randrange(60))
        if dc:
            charge_h = rng.uniform(0.25, 0.9)
            parking_h = 0.0
            power = rng.uniform(40, 180)
        else:
            charge_h = rng.uniform(0.6, 6.0)
            parking_h = rng.choice((0.0, 0.0, 0.0, rng.uniform(0.1, 3.0), rng.uniform(3.0, 9.0)))
            power = rng.uniform(3.5, 11.0)
        energy = round(charge_h * power * rng.uniform(0.7, 0.95), 3)
        if label == "zero_energy":
            energy, charge_h, parking_h = 0.0, rng.uniform(0.02, 0.1), 0.0
        elif label == "implausible":
            energy = round(rng.uniform(420, 900), 3)
        total_time_h = charge_h + parking_h
        end = start + timedelta(hours=total_time_h)

        # charging periods: charging split in 1-4 parts (power tapers), then parking if any
        parts = rng.choices((1, 2, 3, 4), weights=(10, 35, 35, 20))[0]
        weights = sorted((rng.uniform(0.5, 1.5) for _ in range(parts)), reverse=True)
        total_w = sum(weights)
        periods = []
        moment = start
        tariff = self.world.tariff_for(location, adhoc)
        energy_left = energy
        for i, w in enumerate(weights):
            hours = charge_h / parts
            e = round(energy * w / total_w, 3) if i < parts - 1 else round(energy_left, 3)
            energy_left -= e
            dims = [{"type": "ENERGY", "volume": e}, {"type": "TIME", "volume": round(hours, 4)}]
            peak = (e / hours) if hours else 0.0
            if dc:
                dims += [{"type": "MAX_POWER", "volume": round(peak * 1.25, 1)},
                         {"type": "MIN_POWER", "volume": round(peak * 0.6, 1)}]
            else:
                amps = round(peak * 1000 / 3 / 230, 1)
                dims += [{"type": "MAX_CURRENT", "volume": round(amps * 1.1, 1)},
                         {"type": "MIN_CURRENT", "volume": round(amps * 0.8, 1)}]
            periods.append({"start_date_time": _iso(moment), "dimensions": dims, "tariff_id": tariff["id"]})
            moment += timedelta(hours=hours)
        if parking_h > 0:
            periods.append({"start_date_time": _iso(moment),
                            "dimensions": [{"type": "PARKING_TIME", "volume": round(parking_h, 4)}],
                            "tariff_id": tariff["id"]})

        # totals from the tariff's components
        comps = _components(tariff, parking_h)
        energy_cost = energy * comps["ENERGY"][0] if "ENERGY" in comps else 0.0
        time_cost = total_time_h * comps["TIME"][0] if "TIME" in comps else 0.0
        parking_cost = parking_h * comps["PARKING_TIME"][0] if "PARKING_TIME" in comps else 0.0
        fixed_cost = comps["FLAT"][0] if "FLAT" in comps and energy > 0 else 0.0
        vat = next(iter(comps.values()))[1] if comps else 19.0

        def price(excl: float) -> dict[str, float]:
            return {"excl_vat": _money(excl), "incl_vat": _money(excl * (1 + vat / 100))}

        total = energy_cost + time_cost + parking_cost + fixed_cost
        if label == "zero_energy":
            total = energy_cost = 0.0
        self.serial += 1
        cdr: dict[str, Any] = {
            "country_code": "DE",
            "party_id": "VLT",
            "id": f"VLT-{start:%Y%m%d}-{self.serial}",
            "start_date_time": _iso(start),
            "end_date_time": _iso(end),
            "session_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "cdr_token": token,
            "auth_method": "COMMAND" if adhoc or token["type"] == "APP_USER" else
                           rng.choice(("WHITELIST", "AUTH_REQUEST", "AUTH_REQUEST")),
        }
        if psp is not None:
            cdr["authorization_reference"] = psp["authorization_reference"] or psp["session_id"]
            if psp["authorization_reference"] is None:
                cdr["session_id"] = psp["session_id"]
        elif token["party_id"] != "VLT" and rng.random() < 0.6:
            cdr["authorization_reference"] = f"{token['party_id'].lower()}-{rng.getrandbits(64):016x}"
        if label == "unknown_location":
            location["id"] = f"LOC-NEW-{rng.randrange(100):03d}"
            location["name"] = "Voltaro (not yet in the location master)"
        cdr["cdr_location"] = location
        cdr["meter_id"] = "VLT-MTR-" + location["evse_uid"]
        cdr["currency"] = "EUR"
        cdr["tariffs"] = [tariff]
        cdr["charging_periods"] = periods
        if adhoc and self.world.signed and rng.random() < 0.15:
            cdr["signed_data"] = self.world.signed[rng.randrange(len(self.world.signed))]
        cdr["total_cost"] = price(total)
        if fixed_cost:
            cdr["total_fixed_cost"] = price(fixed_cost)
        cdr["total_energy"] = energy
        cdr["total_energy_cost"] = price(energy_cost)
        cdr["total_time"] = round(total_time_h, 4)
        if time_cost:
            cdr["total_time_cost"] = price(time_cost)
        if parking_h:
            cdr["total_parking_time"] = round(parking_h, 4)
            if parking_cost:
                cdr["total_parking_cost"] = price(parking_cost)
        if remark:
            cdr["remark"] = remark
        if label == "credit":
            cdr["credit"] = True
            cdr["credit_reference_id"] = cdr["id"]
            cdr["id"] = cdr["id"] + "-C"
            cdr["remark"] = "Credit: disputed by the MSP"
            for key in ("total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_cost"):
                if key in cdr:
                    cdr[key] = {k: -v for k, v in cdr[key].items()}
        if label == "foreign_cpo":
            cdr["party_id"] = rng.choice(("TNM", "ION", "EWE"))
        cdr["last_updated"] = _iso(end + timedelta(minutes=rng.randrange(2, 30)))

        if label == "msp" and rng.random() < 0.045:
            return to_v211(cdr)
        return cdr


def to_v211(cdr: dict[str, Any]) -> dict[str, Any]:
    """The same session as an old roaming hub sends it in OCPI 2.1.1."""
    loc = cdr["cdr_location"]
    stamp = cdr["start_date_time"]
    tariff = copy.deepcopy(cdr["tariffs"][0])
    for key in ("country_code", "party_id", "type", "start_date_time", "end_date_time"):
        tariff.pop(key, None)
    for element in tariff["elements"]:
        for pc in element["price_components"]:
            pc.pop("vat", None)
    connector = {"id": loc["connector_id"], "standard": loc["connector_standard"], "format": loc["connector_format"],
                 "power_type": loc["connector_power_type"], "voltage": 500 if loc["connector_power_type"] == "DC" else 400,
                 "amperage": 300 if loc["connector_power_type"] == "DC" else 32, "tariff_id": tariff["id"],
                 "last_updated": stamp}
    location = {"id": loc["id"], "type": "ON_STREET", "name": loc.get("name"), "address": loc["address"],
                "city": loc["city"], "postal_code": loc.get("postal_code"), "country": loc["country"],
                "coordinates": loc["coordinates"],
                "evses": [{"uid": loc["evse_uid"], "evse_id": loc["evse_id"], "status": "AVAILABLE",
                           "connectors": [connector], "last_updated": stamp}],
                "time_zone": "Europe/Berlin", "last_updated": stamp}
    out = {
        "id": cdr["id"][4:12] + cdr["id"].rsplit("-", 1)[-1],
        "start_date_time": cdr["start_date_time"],
        "stop_date_time": cdr["end_date_time"],
        "auth_id": cdr["cdr_token"]["contract_id"],
        "auth_method": "AUTH_REQUEST",
        "location": location,
        "meter_id": cdr["meter_id"],
        "currency": cdr["currency"],
        "tariffs": [tariff],
        "charging_periods": [{"start_date_time": p["start_date_time"],
                              "dimensions": [d for d in p["dimensions"] if d["type"] in ("ENERGY", "TIME", "PARKING_TIME")]}
                             for p in cdr["charging_periods"]],
        "total_cost": cdr["total_cost"]["excl_vat"],
        "total_energy": cdr["total_energy"],
        "total_time": cdr["total_time"],
    }
    if "total_parking_time" in cdr:
        out["total_parking_time"] = cdr["total_parking_time"]
    out["last_updated"] = cdr["last_updated"]
    return out


def generate(n: int, seed: int = 20261001) -> Iterator[dict[str, Any]]:
    gen = _Generator(seed)
    for _ in range(n):
        yield gen.cdr()


def dumps(cdr: dict[str, Any]) -> str:
    return json.dumps(cdr, ensure_ascii=False, separators=(",", ":"))


def write_corpus(path: Path, n: int, seed: int = 20261001) -> Path:
    """JSON Lines of ``n`` CDRs; reused when a file of the same (n, seed, version) exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = path.with_suffix(path.suffix + ".stamp")
    want = f"{n} {seed} {GENERATOR_VERSION}"
    if path.exists() and stamp.exists() and stamp.read_text() == want:
        return path
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for cdr in generate(n, seed):
            out.write(dumps(cdr))
            out.write("\n")
    tmp.replace(path)
    stamp.write_text(want)
    return path


_ID = re.compile(r'"id":"([^"]*)"')


def write_repeated(source: Path, path: Path, target_bytes: int) -> tuple[int, int]:
    """Repeat the lines of ``source`` into ``path`` until it holds ``target_bytes``, giving every
    copy a fresh CDR id (the first ``"id"`` of the line, which is the CDR's own). Streams both
    files. Returns (lines, bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = path.with_suffix(path.suffix + ".stamp")
    want = f"{source.name} {source.stat().st_size} {target_bytes} {GENERATOR_VERSION}"
    if path.exists() and stamp.exists() and stamp.read_text().startswith(want + " "):
        lines, size = stamp.read_text().split()[-2:]
        return int(lines), int(size)
    lines = written = 0
    copy_no = 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as out:
        while written < target_bytes:
            copy_no += 1
            with open(source, "rb") as src:
                for raw in src:
                    text = raw.decode("utf-8")
                    text = _ID.sub(lambda m: f'"id":"{m.group(1)[:28]}-R{copy_no}"', text, count=1)
                    data = text.encode("utf-8")
                    out.write(data)
                    written += len(data)
                    lines += 1
                    if written >= target_bytes:
                        break
    tmp.replace(path)
    stamp.write_text(f"{want} {lines} {written}")
    return lines, written


if __name__ == "__main__":  # python bench/corpus.py N [seed] -> bench/out/cdrs-N.jsonl
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 20261001
    print(write_corpus(REPO / "bench" / "out" / f"cdrs-{count}-{seed}.jsonl", count, seed))
