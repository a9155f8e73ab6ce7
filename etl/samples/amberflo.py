"""Deterministic sample exports of Amberflo-style meter records.

The generator stands in for a data center's usage exporters in tests, demos and benchmarks: it
produces every shape the ingest path must accept (JSON array, NDJSON, CSV, gzip, and Amberflo's own
extension-less keys) with realistic meters, dimensions, retries and records without `uniqueId`.

It is a pure function: no I/O, no clock, no global randomness. The same arguments always give
byte-identical output, so fixtures and benchmark inputs can be regenerated instead of committed.
"""

from __future__ import annotations

import csv
import datetime
import gzip
import io
import json
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

__all__ = [
    "CSV_CORE_COLUMNS",
    "DIMENSION_KEYS",
    "METER_UNITS",
    "GeneratedSummary",
    "generate_amberflo_exports",
    "summarize_exports",
]

# Amberflo meter record fields, in the order CSV exports put them before the dimension columns.
CSV_CORE_COLUMNS: tuple[str, ...] = (
    "customerId",
    "meterApiName",
    "meterValue",
    "meterTimeInMillis",
    "uniqueId",
)

# Every dimension key the generator may emit, in CSV column order.
DIMENSION_KEYS: tuple[str, ...] = ("datacenter", "rack", "cluster", "team", "project", "gpu_model")

_GZIP_MAGIC = b"\x1f\x8b"
_MS_PER_DAY = 86_400_000
# ~1% of original records are re-sent by a "retrying exporter"; ~0.5% carry no uniqueId.
_RETRY_RATE = 0.01
_MISSING_ID_RATE = 0.005
_MIN_FILES_PER_DAY = 5
_MAX_FILES_PER_DAY = 8


@dataclass(frozen=True)
class _MeterSpec:
    """How one meter's per-event values are distributed and which dimensions it carries."""

    unit: str
    median: float  # per-event median before the customer's size factor
    sigma: float  # lognormal spread: usage is heavy-tailed, a few events dominate
    dimensions: tuple[str, ...]
    cap: float  # physical ceiling per event (a rack's power, a node's GPUs for a few hours)
    integer: bool = False  # counts (requests) are whole numbers in real exports
    adoption: float = 1.0  # share of customers that use this meter at all


_ALL_PLACEMENT = ("datacenter", "rack", "cluster", "team", "project")
# Storage and network are billed per cluster/project, not per rack; power is metered per rack
# and owned by a team, not a project. Differing dimension sets leave empty CSV cells, which the
# CSV parser must read as "dimension absent".
_METERS: Mapping[str, _MeterSpec] = MappingProxyType(
    {
        "gpu_hours": _MeterSpec(
            "hour", 2.5, 0.9, (*_ALL_PLACEMENT, "gpu_model"), 64.0, adoption=0.3
        ),
        "cpu_core_hours": _MeterSpec("core_hour", 24.0, 1.0, _ALL_PLACEMENT, 4096.0),
        "memory_gb_hours": _MeterSpec("gb_hour", 96.0, 1.0, _ALL_PLACEMENT, 16384.0),
        "storage_gb_months": _MeterSpec(
            "gb_month", 1.8, 1.1, ("datacenter", "cluster", "team", "project"), 500.0, adoption=0.75
        ),
        "backup_gb_months": _MeterSpec(
            "gb_month", 0.9, 1.0, ("datacenter", "team", "project"), 250.0, adoption=0.4
        ),
        "network_egress_gb": _MeterSpec(
            "gb", 12.0, 1.4, ("datacenter", "cluster", "team", "project"), 10_000.0
        ),
        "network_ingress_gb": _MeterSpec(
            "gb", 20.0, 1.3, ("datacenter", "cluster", "team", "project"), 10_000.0, adoption=0.6
        ),
        "power_kwh": _MeterSpec("kwh", 9.5, 0.5, ("datacenter", "rack", "team"), 45.0),
        "object_requests": _MeterSpec(
            "request",
            15_000.0,
            1.5,
            ("datacenter", "cluster", "team", "project"),
            50_000_000.0,
            integer=True,
            adoption=0.5,
        ),
        "public_ip_hours": _MeterSpec(
            "hour", 6.0, 0.6, ("datacenter", "cluster", "team"), 96.0, adoption=0.35
        ),
    }
)

# The generator's meter catalog: meter name -> the unit its values are in.
METER_UNITS: Mapping[str, str] = MappingProxyType(
    {name: spec.unit for name, spec in _METERS.items()}
)

_DATACENTERS = ("fra1", "ams2", "iad1", "sjc1", "lon1", "sin1")
_GPU_MODELS = ("H100-SXM-80GB", "A100-SXM-80GB", "L40S-48GB", "A10-24GB")
_TEAMS = (
    "ml-research",
    "search",
    "payments",
    "data-platform",
    "recommendations",
    "video",
    "security",
    "mobile",
    "analytics",
    "infra",
)
_PROJECT_WORDS = ("train", "serve", "etl", "lake", "api", "batch", "web", "index", "eval", "ci")
_CLUSTER_ENVS = ("prod", "staging", "dev")


class _Shape(Enum):
    """One export file shape: how the records are encoded and how the key is named."""

    JSON = ("json", ".json", False, False)
    NDJSON = ("ndjson", ".ndjson", False, False)
    CSV = ("csv", ".csv", False, False)
    JSON_GZ = ("json", ".json.gz", True, False)
    NDJSON_GZ = ("ndjson", ".ndjson.gz", True, False)
    CSV_GZ = ("csv", ".csv.gz", True, False)
    AMBER_JSON = ("json", "", False, True)
    AMBER_NDJSON = ("ndjson", "", False, True)
    AMBER_JSON_GZ = ("json", "", True, True)
    AMBER_NDJSON_GZ = ("ndjson", "", True, True)

    def __init__(self, encoding: str, suffix: str, gzipped: bool, amberdata: bool) -> None:
        self.encoding = encoding
        self.suffix = suffix
        self.gzipped = gzipped
        self.amberdata = amberdata


# Shapes are dealt round-robin across the run's files, so two days already cover all of them.
_SHAPE_CYCLE: tuple[_Shape, ...] = tuple(_Shape)


@dataclass(frozen=True)
class _Customer:
    """A customer's stable footprint: where it runs and which meters it uses how much."""

    customer_id: str
    datacenters: tuple[str, ...]
    teams: tuple[str, ...]
    projects: tuple[str, ...]
    clusters: tuple[str, ...]
    racks: tuple[tuple[str, ...], ...]  # per datacenter, same order as `datacenters`
    gpu_model: str
    meters: tuple[str, ...]
    meter_weights: tuple[float, ...]
    size: float  # scales every value: big tenants use more of everything


@dataclass(frozen=True)
class GeneratedSummary:
    """What a set of generated exports contains, counted back from the bytes.

    `records` counts every record in every file (retried copies included);
    `distinct_event_ids` counts distinct `uniqueId`s plus every record without one (those are
    distinct by construction); `duplicate_records` is `records - distinct_event_ids`, the rows a
    correct load must drop as duplicates.
    """

    files: int
    records: int
    distinct_event_ids: int
    duplicate_records: int


Record = dict[str, Any]


def generate_amberflo_exports(
    *,
    start: datetime.date,
    days: int = 30,
    customers: int = 300,
    seed: int = 7,
    events_per_customer_day: int = 8,
) -> list[tuple[str, bytes]]:
    """Generate `days` days of Amberflo-style meter exports, starting on `start` (UTC).

    Returns `(key, bytes)` pairs; keys are relative to the bucket or folder root, either
    `ingest/usage/dt=YYYY-MM-DD/batch-NN.<json|ndjson|csv>[.gz]` or Amberflo's extension-less
    `ingest/amberdata/MM-DD-YYYY/<uuid>` (JSON or NDJSON, sometimes gzipped). Each day has 5-8
    files holding `customers * events_per_customer_day` original records whose event times lie
    in that day, plus ~1% retried copies of earlier records (same or previous day, identical
    content, so their times may lie in the previous day) and ~0.5% records without `uniqueId`.

    Deterministic: the same arguments give byte-identical output (seeded RNG, gzip mtime 0).

    Raises:
        ValueError: if `start` is a datetime rather than a date, or a count is not positive.
    """
    if isinstance(start, datetime.datetime):
        raise ValueError(
            f"start must be a datetime.date, got datetime {start!r}; pass start.date()"
        )
    for name, value in (
        ("days", days),
        ("customers", customers),
        ("events_per_customer_day", events_per_customer_day),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")

    rng = random.Random(seed)
    roster = [_make_customer(rng, index) for index in range(1, customers + 1)]
    exports: list[tuple[str, bytes]] = []
    shape_counter = 0
    # Retries of the previous day's records, waiting to land in this day's files.
    carried_retries: list[Record] = []
    # Contents of id-less records seen so far: keeps them distinct, because the hash path would
    # (rightly) treat two identical id-less records as one event.
    idless_contents: set[str] = set()

    for day_index in range(days):
        day = start + datetime.timedelta(days=day_index)
        day_start_ms = _epoch_ms(day)
        originals = [
            _make_record(rng, customer, day_start_ms, idless_contents)
            for customer in roster
            for _ in range(events_per_customer_day)
        ]
        # Exporters flush time-ordered batches, so each file covers one window of the day.
        originals.sort(key=lambda record: int(record["meterTimeInMillis"]))
        files = _split_into_files(rng, originals)

        # Only originals are picked for a retry (decided before any copy is inserted), so a
        # retried record appears exactly twice.
        is_last_day = day_index == days - 1
        next_day_retries: list[Record] = []
        placements: list[tuple[int, Record]] = [
            (rng.randrange(len(files)), record) for record in carried_retries
        ]
        for file_index, file_records in enumerate(files):
            later_files = len(files) - file_index - 1
            for record in file_records:
                if "uniqueId" not in record or rng.random() >= _RETRY_RATE:
                    continue
                # A retry lands in a later file: the rest of today, or tomorrow.
                if not is_last_day and (later_files == 0 or rng.random() < 0.5):
                    next_day_retries.append(record)
                elif later_files > 0:
                    placements.append((rng.randint(file_index + 1, len(files) - 1), record))
        for target_index, record in placements:
            target = files[target_index]
            target.insert(rng.randrange(len(target) + 1), record)
        carried_retries = next_day_retries

        for file_index, file_records in enumerate(files):
            shape = _SHAPE_CYCLE[shape_counter % len(_SHAPE_CYCLE)]
            shape_counter += 1
            key = _object_key(rng, shape, day, file_index)
            exports.append((key, _encode(shape, file_records)))

    return exports


def summarize_exports(exports: Sequence[tuple[str, bytes]]) -> GeneratedSummary:
    """Count files, records, distinct event ids and duplicates by re-reading export bytes.

    Format is taken from the key suffix, or from the content for extension-less keys; gzip is
    detected by its magic bytes. Independent of the generator's internals, so tests can assert
    `records == loaded + duplicates + rejected` against what was actually written.
    """
    records = 0
    seen_ids: set[str] = set()
    idless = 0
    for key, payload in exports:
        for unique_id in _read_unique_ids(key, payload):
            records += 1
            if unique_id is None:
                idless += 1
            else:
                seen_ids.add(unique_id)
    distinct = len(seen_ids) + idless
    return GeneratedSummary(
        files=len(exports),
        records=records,
        distinct_event_ids=distinct,
        duplicate_records=records - distinct,
    )


def _make_customer(rng: random.Random, index: int) -> _Customer:
    home = rng.sample(_DATACENTERS, k=rng.choice((1, 1, 1, 2)))
    teams = tuple(rng.sample(_TEAMS, k=rng.randint(1, 3)))
    projects = tuple(
        f"{rng.choice(teams)}-{word}" for word in rng.sample(_PROJECT_WORDS, k=rng.randint(1, 4))
    )
    clusters = tuple(f"k8s-{dc}-{rng.choice(_CLUSTER_ENVS)}-{rng.randint(1, 4)}" for dc in home)
    racks = tuple(
        tuple(f"{dc}-r{rng.randint(1, 48):02d}" for _ in range(rng.randint(1, 3))) for dc in home
    )
    meters: list[str] = []
    weights: list[float] = []
    for name, spec in _METERS.items():
        if rng.random() < spec.adoption:
            meters.append(name)
            weights.append(rng.uniform(0.2, 3.0))
    return _Customer(
        customer_id=f"cust-{index:04d}",
        datacenters=tuple(home),
        teams=teams,
        projects=projects,
        clusters=clusters,
        racks=racks,
        gpu_model=rng.choice(_GPU_MODELS),
        meters=tuple(meters),
        meter_weights=tuple(weights),
        size=rng.lognormvariate(0.0, 0.8),
    )


def _make_record(
    rng: random.Random, customer: _Customer, day_start_ms: int, idless_contents: set[str]
) -> Record:
    meter = rng.choices(customer.meters, weights=customer.meter_weights)[0]
    spec = _METERS[meter]
    raw = spec.median * customer.size * rng.lognormvariate(0.0, spec.sigma)
    if raw > spec.cap:
        # Jitter below the ceiling instead of clamping, so capped values do not pile up.
        raw = spec.cap * rng.uniform(0.85, 1.0)
    value: int | float = max(0, round(raw)) if spec.integer else max(0.0, round(raw, 3))
    site = rng.randrange(len(customer.datacenters))
    placement = {
        "datacenter": customer.datacenters[site],
        "rack": rng.choice(customer.racks[site]),
        "cluster": customer.clusters[site],
        "team": rng.choice(customer.teams),
        "project": rng.choice(customer.projects),
        "gpu_model": customer.gpu_model,
    }
    record: Record = {
        "customerId": customer.customer_id,
        "meterApiName": meter,
        "meterValue": value,
        "meterTimeInMillis": day_start_ms + rng.randrange(_MS_PER_DAY),
    }
    if rng.random() < _MISSING_ID_RATE:
        record["dimensions"] = {key: placement[key] for key in spec.dimensions}
        content = json.dumps(record, sort_keys=True)
        while content in idless_contents:
            record["meterTimeInMillis"] = day_start_ms + rng.randrange(_MS_PER_DAY)
            content = json.dumps(record, sort_keys=True)
        idless_contents.add(content)
        return record
    record["uniqueId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    record["dimensions"] = {key: placement[key] for key in spec.dimensions}
    return record


def _epoch_ms(day: datetime.date) -> int:
    midnight = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    return int(midnight.timestamp()) * 1000


def _split_into_files(rng: random.Random, records: list[Record]) -> list[list[Record]]:
    """Cut a day's time-ordered records into 5-8 contiguous, unevenly sized batches."""
    file_count = min(len(records), rng.randint(_MIN_FILES_PER_DAY, _MAX_FILES_PER_DAY))
    # Sizes vary up to ~3x between batches, but no batch is a near-empty sliver.
    shares = [rng.uniform(1.0, 3.0) for _ in range(file_count)]
    total = sum(shares)
    bounds = [0]
    running = 0.0
    for share in shares[:-1]:
        running += share
        bounds.append(max(bounds[-1] + 1, round(len(records) * running / total)))
    bounds.append(len(records))
    return [records[lo:hi] for lo, hi in zip(bounds, bounds[1:], strict=False)]


def _object_key(rng: random.Random, shape: _Shape, day: datetime.date, file_index: int) -> str:
    if shape.amberdata:
        # Amberflo's own layout: month-day-year folder, random object name, no extension.
        object_name = uuid.UUID(int=rng.getrandbits(128), version=4)
        return f"ingest/amberdata/{day:%m-%d-%Y}/{object_name}"
    return f"ingest/usage/dt={day:%Y-%m-%d}/batch-{file_index:02d}{shape.suffix}"


def _encode(shape: _Shape, records: list[Record]) -> bytes:
    if shape.encoding == "json":
        body = json.dumps(records).encode()
    elif shape.encoding == "ndjson":
        body = "".join(json.dumps(record) + "\n" for record in records).encode()
    else:
        body = _encode_csv(records)
    # mtime=0 keeps the gzip header free of the clock, so output stays byte-identical.
    return gzip.compress(body, compresslevel=6, mtime=0) if shape.gzipped else body


def _encode_csv(records: list[Record]) -> bytes:
    present = {key for record in records for key in record["dimensions"]}
    dimension_columns = [key for key in DIMENSION_KEYS if key in present]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_CORE_COLUMNS, *dimension_columns])
    for record in records:
        dimensions: dict[str, str] = record["dimensions"]
        writer.writerow(
            [
                record["customerId"],
                record["meterApiName"],
                record["meterValue"],
                record["meterTimeInMillis"],
                # An empty cell means the record had no uniqueId (or that dimension).
                record.get("uniqueId", ""),
                *(dimensions.get(key, "") for key in dimension_columns),
            ]
        )
    return buffer.getvalue().encode()


def _read_unique_ids(key: str, payload: bytes) -> list[str | None]:
    """The `uniqueId` of every record in one export file, None where the record has none."""
    data = gzip.decompress(payload) if payload[:2] == _GZIP_MAGIC else payload
    text = data.decode("utf-8")
    name = key.removesuffix(".gz")
    if name.endswith(".csv"):
        rows = csv.DictReader(io.StringIO(text))
        return [row.get("uniqueId") or None for row in rows]
    if name.endswith(".json") or (not name.endswith(".ndjson") and text.lstrip().startswith("[")):
        parsed: list[Record] = json.loads(text)
    else:
        parsed = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [record.get("uniqueId") for record in parsed]
