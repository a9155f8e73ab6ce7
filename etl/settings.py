"""Runtime settings: the only place that reads environment variables.

Read once per run (never at import time), typed and validated by pydantic-settings. A bad value
fails with a `SettingsError` that names the variable, the value and the form it must take, e.g.
`METERHOUSE_CHUNK_ROWS='lots': must be a whole number (e.g. 200000)`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from etl.errors import TerminalError

DEFAULT_DATA_DIR = Path("data")
DEFAULT_LATE_DAYS = 31
DEFAULT_ROLLUP_DIMENSIONS = ("team", "project")


class SettingsError(TerminalError):
    """An environment variable holds a value meterhouse cannot use."""


def _late_days(raw: Any) -> Any:
    if isinstance(raw, str):
        text = raw.strip().lower()
        if not text:
            return DEFAULT_LATE_DAYS
        if text in ("all", "none", "unbounded"):
            return None
    return raw


def _comma_list(raw: Any) -> Any:
    if isinstance(raw, str):
        return tuple(k.strip() for k in raw.split(",") if k.strip())
    return raw


# What each variable must look like, for error messages (pydantic's own text names no variable).
_FORMS = {
    "late_days": "a whole number of days >= 0, or `all`",
    "rollup_dimensions": "comma-separated dimension keys, e.g. `team,project`",
    "reject_threshold": "a fraction between 0 and 1, e.g. 0.5",
    "focus_customer_from": "SubAccountId or BillingAccountId",
    "gateway_linger_ms": "milliseconds between 0 and 1000, e.g. 100",
    "warehouse_backend": "duckdb (the DuckDB file, default) or ducklake",
}


class _Env(BaseSettings):
    """Every `METERHOUSE_*` variable, validated; the field name is the variable without prefix."""

    model_config = SettingsConfigDict(
        env_prefix="METERHOUSE_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    warehouse: Path | None = None
    lake: Path | None = None
    reject_threshold: float = Field(0.5, ge=0, le=1)
    max_object_bytes: int = Field(64 * 1024**3, gt=0)
    max_whole_bytes: int = Field(4 * 1024**3, gt=0)
    batch_files: int = Field(2000, gt=0)
    batch_bytes: int = Field(512 * 1024**2, gt=0)
    focus_customer_from: str = Field("SubAccountId", pattern="^(SubAccountId|BillingAccountId)$")
    focus_delivery_window: int = Field(3600, ge=0)
    dedup_window_days: int = Field(31, ge=0)
    group_rows: int = Field(200_000, gt=0)
    group_files: int = Field(500, gt=0)
    prometheus_group_samples: int = Field(500_000, gt=0)
    duckdb_memory_limit: str = "1GB"
    chunk_bytes: int = Field(64 * 1024**2, gt=0)
    chunk_rows: int = Field(200_000, gt=0)
    focus_chunk_rows: int = Field(25_000, gt=0)
    typed_load: bool = True
    spool_dir: Path | None = None
    late_days: Annotated[
        Annotated[int, Field(ge=0)] | None, NoDecode, BeforeValidator(_late_days)
    ] = (
        DEFAULT_LATE_DAYS
    )
    rollup_dimensions: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)] = (
        DEFAULT_ROLLUP_DIMENSIONS
    )
    # Airflow glue (read by plugins/ and dags/, never by etl itself at import time)
    aws_conn_id: str = "aws_default"
    warehouse_pool: str = "meterhouse_warehouse"
    landing: str = Field("s3://usage/ingest/", pattern="^s3://[^/]+/")
    ingest_cron: str = "0 0 * * *"
    sensor_timeout: int = Field(6 * 3600, gt=0)
    sensor_poke_interval: int = Field(60, gt=0)
    alert_webhook: str | None = None
    on_failure: str | None = Field(None, pattern=r"^[\w.]+:\w+$")
    alert_conn_id: str = "meterhouse_alerts"
    # the ingest gateway (`meterhouse serve`, etl/gateway)
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8090, ge=0, le=65535)
    # the FOCUS export of the data center's own costs (`meterhouse export focus`)
    focus_provider_name: str = Field("meterhouse", min_length=1)
    focus_billing_account_id: str = Field("datacenter", min_length=1)
    focus_billing_account_name: str | None = None
    focus_export_to: str | None = None
    gateway_id: str = Field("gw", pattern=r"^[A-Za-z0-9_.]{1,40}$")
    gateway_api_keys: str | None = None
    gateway_api_keys_file: Path | None = None
    gateway_linger_ms: int = Field(100, ge=0, le=1000)
    gateway_group_bytes: int = Field(8 * 1024**2, gt=0)
    gateway_group_records: int = Field(100_000, gt=0)
    gateway_max_puts: int = Field(4, gt=0, le=64)
    gateway_buffer_bytes: int = Field(256 * 1024**2, gt=0)
    gateway_max_body_bytes: int = Field(16 * 1024**2, gt=0)
    gateway_max_decompressed_bytes: int = Field(64 * 1024**2, gt=0)
    gateway_max_records: int = Field(10_000, gt=0)
    gateway_max_record_bytes: int = Field(128 * 1024, gt=0)
    gateway_retry_after: int = Field(2, ge=1, le=3600)
    gateway_s3_timeout: float = Field(10.0, gt=0)
    gateway_workers: int = Field(1, ge=1, le=64)
    # Prometheus remote write in the batch path (etl/formats/prometheus)
    prometheus_mapping: Path | None = None
    # the warehouse backend: the DuckDB file (default) or a DuckLake (etl/warehouse/ducklake.py)
    warehouse_backend: str = Field("duckdb", pattern="^(duckdb|ducklake)$")
    ducklake_catalog: str | None = None
    ducklake_data_path: str | None = None
    ducklake_lock_timeout: float = Field(600.0, gt=0)


def _read_env() -> _Env:
    try:
        return _Env()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            variable = f"METERHOUSE_{name.upper()}"
            raw = os.environ.get(variable)
            form = _FORMS.get(name) or err["msg"].lower()
            problems.append(f"{variable}={raw!r}: must be {form}" if name in _FORMS else
                            f"{variable}={raw!r}: {form}")
        raise SettingsError(
            "; ".join(problems) + " (fix or unset the variable, then re-run)"
        ) from None


@dataclass(frozen=True)
class S3Settings:
    """Where the S3 API is, from the standard AWS variables (boto3 finds the credentials itself)."""

    endpoint_url: str | None
    region: str


def s3_from_env() -> S3Settings:
    """AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and AWS_REGION / AWS_DEFAULT_REGION (us-east-1)."""
    env = os.environ
    return S3Settings(
        endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
    )


@dataclass(frozen=True)
class AirflowSettings:
    """How the Airflow glue finds its connection, pool, landing prefix, schedule and alerts.

      METERHOUSE_AWS_CONN_ID        Airflow AWS connection for S3 (default aws_default)
      METERHOUSE_WAREHOUSE_POOL     the one-slot pool that serializes warehouse writers
      METERHOUSE_LANDING            landing prefix, s3://bucket/prefix/ (default s3://usage/ingest/)
      METERHOUSE_INGEST_CRON        nightly schedule of usage_ingest (default 0 0 * * *)
      METERHOUSE_SENSOR_TIMEOUT     seconds the sensor waits for exports (default 21600)
      METERHOUSE_SENSOR_POKE_INTERVAL  seconds between its checks (default 60)
      METERHOUSE_ALERT_CONN_ID      Airflow connection (type http) whose URL failure alerts are
                                    POSTed to (default meterhouse_alerts; none: alerts are logged)
      METERHOUSE_ON_FAILURE         `package.module:function` called with a failed run (optional)
      AIRFLOW__API__BASE_URL        the UI's address, for links in alerts (optional)
    """

    aws_conn_id: str = "aws_default"
    warehouse_pool: str = "meterhouse_warehouse"
    landing: str = "s3://usage/ingest/"
    ingest_cron: str = "0 0 * * *"
    sensor_timeout_s: int = 6 * 3600
    sensor_poke_s: int = 60
    alert_webhook: str | None = None
    on_failure: str | None = None
    ui_base_url: str = ""
    alert_conn_id: str = "meterhouse_alerts"

    @classmethod
    def from_env(cls) -> AirflowSettings:
        """Read and validate the variables above."""
        env = _read_env()
        return cls(
            aws_conn_id=env.aws_conn_id,
            warehouse_pool=env.warehouse_pool,
            landing=env.landing,
            ingest_cron=env.ingest_cron,
            sensor_timeout_s=env.sensor_timeout,
            sensor_poke_s=env.sensor_poke_interval,
            alert_webhook=env.alert_webhook or None,
            on_failure=env.on_failure or None,
            ui_base_url=os.environ.get("AIRFLOW__API__BASE_URL", "").rstrip("/"),
            alert_conn_id=env.alert_conn_id,
        )


@dataclass(frozen=True)
class DuckLakeSettings:
    """A DuckLake warehouse: the catalog in Postgres, the data files (Parquet) in S3 or a folder.

    METERHOUSE_WAREHOUSE_BACKEND  duckdb (default: the DuckDB file) or ducklake
    METERHOUSE_DUCKLAKE_CATALOG   the Postgres catalog, a libpq connection string
                                  (e.g. `host=pg dbname=meterhouse user=etl`; a password is
                                  better in PGPASSWORD or ~/.pgpass than here)
    METERHOUSE_DUCKLAKE_DATA_PATH where the Parquet files go: s3://bucket/prefix/ or a folder
    METERHOUSE_DUCKLAKE_LOCK_TIMEOUT  seconds a writer waits for the commit lock (default 600)
    AWS_ENDPOINT_URL(_S3), AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN             the S3 API the data files are written to
    """

    catalog: str
    data_path: str
    lock_timeout_s: float = 600.0
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_session_token: str | None = None


def ducklake_from_env(env: _Env | None = None) -> DuckLakeSettings | None:
    """The DuckLake settings when METERHOUSE_WAREHOUSE_BACKEND=ducklake, else None."""
    env = env or _read_env()
    if env.warehouse_backend != "ducklake":
        return None
    catalog, data_path = env.ducklake_catalog, env.ducklake_data_path
    if not catalog or not data_path:
        missing = [
            name
            for name, value in (
                ("METERHOUSE_DUCKLAKE_CATALOG", catalog),
                ("METERHOUSE_DUCKLAKE_DATA_PATH", data_path),
            )
            if not value
        ]
        raise SettingsError(
            f"METERHOUSE_WAREHOUSE_BACKEND=ducklake needs {' and '.join(missing)} (the Postgres "
            "catalog as a libpq connection string, the data files' s3://bucket/prefix/ or folder)"
        )
    s3 = s3_from_env()
    aws = os.environ
    return DuckLakeSettings(
        catalog=catalog,
        data_path=data_path,
        lock_timeout_s=env.ducklake_lock_timeout,
        s3_endpoint_url=s3.endpoint_url,
        s3_region=s3.region,
        s3_access_key_id=aws.get("AWS_ACCESS_KEY_ID") or None,
        s3_secret_access_key=aws.get("AWS_SECRET_ACCESS_KEY") or None,
        s3_session_token=aws.get("AWS_SESSION_TOKEN") or None,
    )


@dataclass(frozen=True)
class Settings:
    """Where the warehouse lives and how strict ingestion is.

    Environment variables (all optional):
      METERHOUSE_WAREHOUSE      DuckDB file (default ./data/warehouse.duckdb)
      METERHOUSE_LAKE           Parquet lake folder (default: `lake/` beside the DuckDB file)
      METERHOUSE_REJECT_THRESHOLD  fraction of rejected rows above which a file fails (default 0.5)
      METERHOUSE_MAX_OBJECT_BYTES  largest decompressed object accepted (default 64 GiB); CSV and
                                NDJSON stream through in chunks, so this guards the disk and
                                against gzip bombs, not memory
      METERHOUSE_MAX_WHOLE_BYTES   largest decompressed JSON array or FOCUS Parquet object, which
                                are read whole into memory (default 4 GiB)
      METERHOUSE_BATCH_FILES / METERHOUSE_BATCH_BYTES  batch sizes for Airflow task mapping
      METERHOUSE_FOCUS_CUSTOMER_FROM  FOCUS column that names the customer: SubAccountId (default,
                                falling back to BillingAccountId) or BillingAccountId
      METERHOUSE_GROUP_ROWS / METERHOUSE_GROUP_FILES  small files committed together per
                                transaction (default 200000 events / 500 files)
      METERHOUSE_PROMETHEUS_GROUP_SAMPLES  remote-write samples loaded per transaction (default
                                500000; the objects stay all-or-nothing, at most
                                METERHOUSE_GROUP_FILES of them)
      METERHOUSE_CHUNK_BYTES    a CSV/NDJSON/FOCUS CSV export larger than this once decompressed
                                (default 64 MiB) streams through in chunks, so memory does not
                                grow with the file
      METERHOUSE_CHUNK_ROWS     about how many rows such a chunk holds (default 200000; a chunk is
                                never larger than METERHOUSE_CHUNK_BYTES)
      METERHOUSE_FOCUS_CHUNK_ROWS  the same for FOCUS CSV, whose rows are wide (default 25000); a
                                FOCUS CSV export of more rows streams in chunks too
      METERHOUSE_TYPED_LOAD     true (default): a large clean Amberflo CSV/NDJSON export is typed
                                by DuckDB from its file; false: it streams in chunks too
      METERHOUSE_SPOOL_DIR      where objects over METERHOUSE_CHUNK_BYTES are downloaded to while
                                they load (default: the system temp folder)
      METERHOUSE_DUCKDB_MEMORY_LIMIT  DuckDB's memory limit for loads (default 1GB); it spills beyond
      METERHOUSE_DEDUP_WINDOW_DAYS  an event_id already stored for an event date within this many
                                days is a duplicate (default 31); a retry repeats its event time
      METERHOUSE_FOCUS_DELIVERY_WINDOW  seconds within which FOCUS files of one export belong to
                                one delivery (default 3600); older deliveries of a period are replaced
      METERHOUSE_LATE_DAYS      days before its interval a scheduled run still loads (default 31;
                                `all`: no limit)
      METERHOUSE_ROLLUP_DIMENSIONS  dimension keys the cost rollups keep (default team,project)
      METERHOUSE_FOCUS_PROVIDER_NAME  ProviderName/PublisherName/InvoiceIssuerName of the FOCUS
                                export of the data center's costs (default meterhouse)
      METERHOUSE_FOCUS_BILLING_ACCOUNT_ID / _NAME  its billing account: the data center (default
                                datacenter; the name defaults to the id)
      METERHOUSE_FOCUS_EXPORT_TO  where the focus_export DAG writes (a folder or s3://bucket/prefix)
      METERHOUSE_PROMETHEUS_MAPPING  YAML file saying which Prometheus metrics are meters
                                (etl/formats/prometheus/mapping.py); unset: none is
      AWS_ENDPOINT_URL(_S3), AWS_REGION / AWS_DEFAULT_REGION  the S3 API (boto3's own chain)
    """

    warehouse_path: Path
    lake_path: Path
    reject_threshold: float = 0.5
    max_object_bytes: int = 64 * 1024**3
    max_whole_bytes: int = 4 * 1024**3
    batch_files: int = 2000
    batch_bytes: int = 512 * 1024**2
    focus_customer_from: str = "SubAccountId"
    focus_delivery_window_s: int = 3600
    dedup_window_days: int = 31
    group_rows: int = 200_000
    group_files: int = 500
    prometheus_group_samples: int = 500_000
    duckdb_memory_limit: str = "1GB"
    chunk_bytes: int = 64 * 1024**2
    chunk_rows: int = 200_000
    focus_chunk_rows: int = 25_000
    typed_load: bool = True
    spool_dir: Path | None = None
    late_days: int | None = DEFAULT_LATE_DAYS
    rollup_dimensions: tuple[str, ...] = DEFAULT_ROLLUP_DIMENSIONS
    extra: dict[str, str] = field(default_factory=dict)
    focus_provider_name: str = "meterhouse"
    focus_billing_account_id: str = "datacenter"
    focus_billing_account_name: str | None = None
    focus_export_to: str | None = None
    prometheus_mapping: Path | None = None
    ducklake: DuckLakeSettings | None = None
    """The DuckLake warehouse (METERHOUSE_WAREHOUSE_BACKEND=ducklake), else None: the DuckDB file."""

    @classmethod
    def from_env(cls, warehouse: str | os.PathLike[str] | None = None) -> Settings:
        """Build settings from the environment; an explicit warehouse path wins."""
        env = _read_env()
        wh = Path(warehouse or env.warehouse or DEFAULT_DATA_DIR / "warehouse.duckdb")
        lake = env.lake if env.lake and warehouse is None else wh.parent / "lake"
        return cls(
            warehouse_path=wh,
            lake_path=lake,
            reject_threshold=env.reject_threshold,
            max_object_bytes=env.max_object_bytes,
            max_whole_bytes=env.max_whole_bytes,
            batch_files=env.batch_files,
            batch_bytes=env.batch_bytes,
            focus_customer_from=env.focus_customer_from,
            focus_delivery_window_s=env.focus_delivery_window,
            dedup_window_days=env.dedup_window_days,
            group_rows=env.group_rows,
            group_files=env.group_files,
            prometheus_group_samples=env.prometheus_group_samples,
            duckdb_memory_limit=env.duckdb_memory_limit,
            chunk_bytes=env.chunk_bytes,
            chunk_rows=env.chunk_rows,
            focus_chunk_rows=env.focus_chunk_rows,
            typed_load=env.typed_load,
            spool_dir=env.spool_dir,
            late_days=env.late_days,
            rollup_dimensions=env.rollup_dimensions,
            focus_provider_name=env.focus_provider_name,
            focus_billing_account_id=env.focus_billing_account_id,
            focus_billing_account_name=env.focus_billing_account_name,
            focus_export_to=env.focus_export_to,
            prometheus_mapping=env.prometheus_mapping,
            ducklake=ducklake_from_env(env),
        )


@dataclass(frozen=True)
class ApiKeySpec:
    """One accepted API key: the sha256 hex digest of the key (never the key itself) and the
    customer ids its records may name (`None`: any customer)."""

    sha256: str
    customers: frozenset[str] | None = None
    name: str = ""


_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def _key_spec(entry: str, variable: str) -> ApiKeySpec:
    digest, _, scope = entry.partition("=")
    digest = digest.strip().lower()
    if not _SHA256_HEX.match(digest):
        raise SettingsError(
            f"{variable}: {digest[:12]!r}... is not a sha256 hex digest of 64 characters; "
            "store `printf %s \"$KEY\" | sha256sum`, never the key itself"
        )
    customers = frozenset(c.strip() for c in scope.split("|") if c.strip()) if scope else None
    return ApiKeySpec(digest, customers or None, digest[:8])


def _keys_file(path: Path) -> list[ApiKeySpec]:
    variable = "METERHOUSE_GATEWAY_API_KEYS_FILE"
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{variable}={str(path)!r}: cannot read it as JSON ({exc})") from None
    if not isinstance(entries, list):
        raise SettingsError(f"{variable}={str(path)!r}: must hold a JSON array of key objects")
    specs = []
    for n, item in enumerate(entries):
        customers = item.get("customers") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(item.get("sha256"), str) or not (
            customers is None
            or (isinstance(customers, list) and all(isinstance(c, str) for c in customers))
        ):
            raise SettingsError(
                f"{variable}={str(path)!r}: entry {n} must be "
                '{"sha256": "<hex>", "customers": ["..."] (optional), "name": "..." (optional)}'
            )
        spec = _key_spec(item["sha256"], variable)
        specs.append(
            ApiKeySpec(
                spec.sha256,
                frozenset(customers) if customers is not None else None,
                str(item.get("name") or spec.name),
            )
        )
    return specs


@dataclass(frozen=True)
class GatewaySettings:
    """The ingest gateway (`meterhouse serve`): where it listens, who may post, how it commits.

    Environment variables (all optional except a key):
      METERHOUSE_GATEWAY_HOST / _PORT   listen address (default 127.0.0.1:8090)
      METERHOUSE_GATEWAY_ID             name in the object keys (default gw); a random token
                                        per process start follows it, so restarts never
                                        overwrite an earlier object
      METERHOUSE_GATEWAY_API_KEYS       comma-separated sha256 hex digests of the accepted API
                                        keys, each optionally scoped: `<hex>=team-a|team-b`
      METERHOUSE_GATEWAY_API_KEYS_FILE  JSON array of {"sha256", "customers", "name"} (added to
                                        the above)
      METERHOUSE_GATEWAY_LINGER_MS      how long a group waits for more requests (default 100)
      METERHOUSE_GATEWAY_GROUP_BYTES / _GROUP_RECORDS  size cap of one object (8 MiB
                                        compressed / 100000 records)
      METERHOUSE_GATEWAY_MAX_PUTS       objects being written at once (default 4)
      METERHOUSE_GATEWAY_BUFFER_BYTES   bytes of requests in flight before 429 (default 256 MiB)
      METERHOUSE_GATEWAY_MAX_BODY_BYTES / _MAX_DECOMPRESSED_BYTES  413 above (16 / 64 MiB)
      METERHOUSE_GATEWAY_MAX_RECORDS    records per request, 413 above (default 10000)
      METERHOUSE_GATEWAY_MAX_RECORD_BYTES  one record, 400 above (default 128 KiB)
      METERHOUSE_GATEWAY_RETRY_AFTER    seconds in Retry-After of 429 / 503 (default 2)
      METERHOUSE_GATEWAY_S3_TIMEOUT     seconds for one S3 call (default 10)
      METERHOUSE_GATEWAY_WORKERS        uvicorn worker processes (default 1)
      METERHOUSE_LANDING                the landing prefix; objects go to `<landing>api/`
                                        (/ingest) and `<landing>prometheus/` (remote write)
    """

    api_keys: tuple[ApiKeySpec, ...]
    landing: str = "s3://usage/ingest/"
    host: str = "127.0.0.1"
    port: int = 8090
    gateway_id: str = "gw"
    linger_ms: int = 100
    group_bytes: int = 8 * 1024**2
    group_records: int = 100_000
    max_puts: int = 4
    buffer_bytes: int = 256 * 1024**2
    max_body_bytes: int = 16 * 1024**2
    max_decompressed_bytes: int = 64 * 1024**2
    max_records: int = 10_000
    max_record_bytes: int = 128 * 1024
    retry_after_s: int = 2
    s3_timeout_s: float = 10.0
    workers: int = 1

    @classmethod
    def from_env(cls) -> GatewaySettings:
        """Read and validate the variables above; no key at all is an error."""
        env = _read_env()
        keys = [
            _key_spec(entry, "METERHOUSE_GATEWAY_API_KEYS")
            for entry in (env.gateway_api_keys or "").split(",")
            if entry.strip()
        ]
        if env.gateway_api_keys_file is not None:
            keys.extend(_keys_file(env.gateway_api_keys_file))
        if not keys:
            raise SettingsError(
                "METERHOUSE_GATEWAY_API_KEYS is empty and METERHOUSE_GATEWAY_API_KEYS_FILE unset: "
                "the gateway accepts no request without a key; set one to the sha256 hex digest "
                "of a key (`printf %s \"$KEY\" | sha256sum`)"
            )
        return cls(
            api_keys=tuple(keys),
            landing=env.landing,
            host=env.gateway_host,
            port=env.gateway_port,
            gateway_id=env.gateway_id,
            linger_ms=env.gateway_linger_ms,
            group_bytes=env.gateway_group_bytes,
            group_records=env.gateway_group_records,
            max_puts=env.gateway_max_puts,
            buffer_bytes=env.gateway_buffer_bytes,
            max_body_bytes=env.gateway_max_body_bytes,
            max_decompressed_bytes=env.gateway_max_decompressed_bytes,
            max_records=env.gateway_max_records,
            max_record_bytes=env.gateway_max_record_bytes,
            retry_after_s=env.gateway_retry_after,
            s3_timeout_s=env.gateway_s3_timeout,
            workers=env.gateway_workers,
        )
