"""Synthetic FOCUS exports from several providers, for demos, benchmarks and end-to-end tests.

Deterministic for a seed. One file per provider and billing period (month touched by the range):

| provider  | version | format        | key                                                                  | quirks |
|-----------|---------|---------------|----------------------------------------------------------------------|--------|
| AWS-like  | 1.2     | CSV, gzip     | focus/aws/meterhouse-focus-12/data/BILLING_PERIOD=YYYY-MM/meterhouse-focus-12-00001.csv.gz | ms timestamps with Z, x_Discounts / x_Operation / x_ServiceCode |
| AWS-like  | 1.0     | Parquet       | focus/aws/meterhouse-focus-10/data/BILLING_PERIOD=YYYY-MM/meterhouse-focus-10-00001.snappy.parquet | Tags map<string,string>, timestamp[ms, UTC], decimal128 money, x_UsageType |
| Azure-like| 1.2     | CSV, gzip     | focus/azure/focus-cost/billing_period=YYYY-MM/part_0_0001.csv.gz     | UTF-8 BOM, lower-case headers, `NULL` tokens, "Unassigned"/"-2" placeholders, "usage" casing |
| GCP-like  | 1.1     | Parquet       | focus/gcp/billing-export/billing_period=YYYY-MM/focus-000000000000.parquet | Tags list<struct<key,value>>, x_Credits JSON, x_Project, x_ExportTime |
| on-prem   | 1.0     | CSV           | focus/onprem/dcim-billing/YYYY-MM/focus-YYYY-MM.csv                  | timestamps without Z and with a space, E-notation quantities |

Money is computed in Decimal and written as text with 10-12 decimals (Parquet: decimal128), so
parsed totals equal the generated totals exactly. Every row is valid FOCUS after the documented
normalizations: parsing the output rejects nothing.
"""

from __future__ import annotations

import csv
import datetime
import gzip
import io
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from contracts.focus import focus_columns

_COST_QUANTUM = Decimal("0.0000000001")  # 10 decimals, as AWS/Azure exports carry
_QTY_QUANTUM = Decimal("0.000000000001")
_TZ = datetime.UTC


@dataclass(frozen=True)
class _Service:
    name: str
    category: str
    subcategory: str
    sku: str
    meter: str
    pricing_unit: str
    consumed_unit: str
    unit_price: Decimal
    region: str | None
    resource_type: str | None


@dataclass(frozen=True)
class _Provider:
    key: str
    provider_name: str
    invoice_issuer: str
    version: str
    services: tuple[_Service, ...]


_AWS_SERVICES = (
    _Service("Amazon Elastic Compute Cloud", "Compute", "Virtual Machines", "K7YHHNFGTNN2DP28",
             "BoxUsage:m5.xlarge", "Hours", "Hours", Decimal("0.192"), "eu-central-1", "Instance"),
    _Service("Amazon Simple Storage Service", "Storage", "Object Storage", "WP9ANXZGBYYSGJEA",
             "TimedStorage-ByteHrs", "GB-Month", "GB-Month", Decimal("0.0245"), "eu-central-1", "Bucket"),
    _Service("Amazon Relational Database Service", "Databases", "Relational Databases",
             "QJ8XH2A5QRA5UHGY", "InstanceUsage:db.r6g.large", "Hours", "Hours", Decimal("0.258"),
             "eu-west-1", "DBInstance"),
    _Service("AWS Data Transfer", "Networking", "Network Connectivity", "N7WSYHVUT72KMK3V",
             "DataTransfer-Out-Bytes", "GB", "GB", Decimal("0.09"), "eu-central-1", None),
)  # fmt: skip
_AZURE_SERVICES = (
    _Service("Virtual Machines", "Compute", "Virtual Machines", "DZH318Z0BQ4L", "D4s v5",
             "1 Hour", "Hours", Decimal("0.218"), "westeurope", "microsoft.compute/virtualmachines"),
    _Service("Storage", "Storage", "Block Storage", "DZH318Z0BP04", "P10 LRS Disk", "1/Month",
             "Disk/Month", Decimal("19.71"), "westeurope", "microsoft.compute/disks"),
    _Service("Azure Monitor", "Management and Governance", "Observability", "DZH318Z0BQ2F",
             "Analytics Logs Data Ingestion", "1 GB", "GB", Decimal("2.76"), None, None),
)  # fmt: skip
_GCP_SERVICES = (
    _Service("Compute Engine", "Compute", "Virtual Machines", "2E27-4F75-95CD", "N2 Instance Core",
             "Hours", "Hours", Decimal("0.031611"), "europe-west3", "compute.googleapis.com/Instance"),
    _Service("Cloud Storage", "Storage", "Object Storage", "E5F0-6A5D-7BAD", "Standard Storage",
             "GiB-Months", "GiB-Months", Decimal("0.023"), "europe-west3", "storage.googleapis.com/Bucket"),
    _Service("BigQuery", "Databases", "Data Warehouses", "3362-E469-6BEF", "Analysis",
             "TiB", "TiB", Decimal("6.25"), "EU", None),
)  # fmt: skip
_ONPREM_SERVICES = (
    _Service("GPU Cloud", "Compute", "Virtual Machines", "gpu-h100-sxm", "gpu_hours", "Hours",
             "Hours", Decimal("2.10"), "fra1", "gpu"),
    _Service("Block Storage", "Storage", "Block Storage", "ceph-rbd-ssd", "block_storage_gb_months",
             "GB-Month", "GB-Month", Decimal("0.08"), "fra1", "volume"),
    _Service("Colocation Power", "Other", "Other (Other)", "power-kwh", "power_kwh", "kWh", "kWh",
             Decimal("0.21"), "fra1", None),
)  # fmt: skip

_TEAMS = ("ml-platform", "search", "payments", "data-eng", "web", "research", "infra", "mobile")
_ENVS = ("prod", "staging", "dev")


def generate_focus_exports(
    *, start: datetime.date, days: int, seed: int, accounts: int = 5
) -> list[tuple[str, bytes]]:
    """FOCUS export objects (key, bytes) for `days` days from `start`, `accounts` sub-accounts each.

    Deterministic: the same arguments give byte-identical output. A month of 5 accounts is about
    3,000 rows across the five provider files (see the module docstring for keys and quirks).
    """
    if days < 1 or accounts < 1:
        raise ValueError("days and accounts must be at least 1")
    rng = random.Random(seed)
    all_days = [start + datetime.timedelta(days=i) for i in range(days)]
    months = sorted({(d.year, d.month) for d in all_days})
    out: list[tuple[str, bytes]] = []
    for year, month in months:
        period = f"{year:04d}-{month:02d}"
        month_days = [d for d in all_days if (d.year, d.month) == (year, month)]
        for writer in _WRITERS:
            key, payload = writer(random.Random(rng.random()), period, month_days, accounts)
            out.append((key, payload))
    return out


# --------------------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------------------


def _money(value: Decimal) -> Decimal:
    return value.quantize(_COST_QUANTUM)


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _period_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    first = datetime.datetime(day.year, day.month, 1, tzinfo=_TZ)
    nxt = datetime.datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=_TZ)
    return first, nxt


def _usage_rows(
    rng: random.Random, provider: _Provider, days: Sequence[datetime.date], accounts: int,
    billing_account: str, account_id: Callable[[int], str],
) -> list[dict[str, object]]:  # fmt: skip
    rows: list[dict[str, object]] = []
    for day in days:
        p_start, p_end = _period_bounds(day)
        c_start = datetime.datetime(day.year, day.month, day.day, tzinfo=_TZ)
        c_end = c_start + datetime.timedelta(days=1)
        for a in range(accounts):
            for service in provider.services:
                if rng.random() < 0.15:
                    continue  # not every account uses every service every day
                quantity = (Decimal(rng.randint(1, 240_000)) / Decimal(1000)).quantize(_QTY_QUANTUM)
                list_cost = _money(quantity * service.unit_price)
                discount = Decimal(rng.choice((0, 0, 5, 10))) / Decimal(100)
                effective = _money(list_cost * (1 - discount))
                team = _TEAMS[(a + len(service.name)) % len(_TEAMS)]
                rows.append({
                    "BillingAccountId": billing_account, "BillingAccountName": "Example Org",
                    "BillingCurrency": "USD", "BillingPeriodStart": p_start, "BillingPeriodEnd": p_end,
                    "ChargeCategory": "Usage", "ChargeClass": None,
                    "ChargeDescription": f"{service.meter} usage", "ChargeFrequency": "Usage-Based",
                    "ChargePeriodStart": c_start, "ChargePeriodEnd": c_end,
                    "ConsumedQuantity": quantity, "ConsumedUnit": service.consumed_unit,
                    "ContractedCost": list_cost, "ContractedUnitPrice": service.unit_price,
                    "EffectiveCost": effective, "BilledCost": list_cost, "ListCost": list_cost,
                    "ListUnitPrice": service.unit_price, "PricingCategory": "Standard",
                    "PricingQuantity": quantity, "PricingUnit": service.pricing_unit,
                    "InvoiceIssuerName": provider.invoice_issuer,
                    "ProviderName": provider.provider_name, "PublisherName": provider.provider_name,
                    "RegionId": service.region, "RegionName": service.region,
                    "ResourceId": f"{service.sku.lower()}-{account_id(a)}-{a}",
                    "ResourceName": f"{team}-{service.meter.split(':')[0].lower()}",
                    "ResourceType": service.resource_type,
                    "ServiceCategory": service.category, "ServiceSubcategory": service.subcategory,
                    "ServiceName": service.name, "SkuId": service.sku, "SkuMeter": service.meter,
                    "SkuPriceId": f"{service.sku}.std", "SubAccountId": account_id(a),
                    "SubAccountName": team, "InvoiceId": f"INV-{day:%Y%m}-{billing_account[-4:]}",
                    "Tags": {"team": team, "env": _ENVS[a % len(_ENVS)], "managed": True},
                })  # fmt: skip
    if days:
        rows.extend(_monthly_rows(provider, days[0], billing_account, account_id, rows))
    return rows


def _monthly_rows(
    provider: _Provider, day: datetime.date, billing_account: str,
    account_id: Callable[[int], str], usage: list[dict[str, object]],
) -> list[dict[str, object]]:  # fmt: skip
    """A tax row and a credit row per month, Tax/Credit nullability as the spec requires."""
    p_start, p_end = _period_bounds(day)
    total = sum((Decimal(str(r["BilledCost"])) for r in usage), Decimal(0))
    common: dict[str, object] = {
        "BillingAccountId": billing_account, "BillingAccountName": "Example Org",
        "BillingCurrency": "USD", "BillingPeriodStart": p_start, "BillingPeriodEnd": p_end,
        "ChargePeriodStart": p_start, "ChargePeriodEnd": p_end, "ChargeClass": None,
        "InvoiceIssuerName": provider.invoice_issuer, "ProviderName": provider.provider_name,
        "PublisherName": provider.provider_name, "SubAccountId": account_id(0),
        "SubAccountName": _TEAMS[0], "InvoiceId": f"INV-{day:%Y%m}-{billing_account[-4:]}",
    }  # fmt: skip
    tax = _money(total * Decimal("0.19"))
    credit = _money(-total * Decimal("0.02"))
    return [
        common | {"ChargeCategory": "Tax", "ChargeDescription": "VAT", "ChargeFrequency": "Recurring",
                  "BilledCost": tax, "EffectiveCost": tax, "ListCost": tax, "ContractedCost": tax,
                  "ServiceCategory": "Other", "ServiceSubcategory": "Other (Other)", "ServiceName": "Tax"},
        common | {"ChargeCategory": "Credit", "ChargeDescription": "Sustained use credit",
                  "ChargeFrequency": "One-Time", "BilledCost": credit, "EffectiveCost": credit,
                  "ListCost": credit, "ContractedCost": credit, "ServiceCategory": "Compute",
                  "ServiceSubcategory": "Virtual Machines", "ServiceName": provider.services[0].name},
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------------
# encoders
# --------------------------------------------------------------------------------------------------


def _text(value: object, *, naive_time: bool = False, null: str = "") -> str:
    if value is None:
        return null
    if isinstance(value, datetime.datetime):
        if naive_time:
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _csv(
    rows: list[dict[str, object]], columns: list[str], *, header: Callable[[str], str] = str,
    **text: object,
) -> bytes:  # fmt: skip
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([header(c) for c in columns])
    for row in rows:
        writer.writerow([_text(row.get(c), **text) for c in columns])  # type: ignore[arg-type]
    return buf.getvalue().encode("utf-8")


def _columns(version: str, extras: Sequence[str]) -> list[str]:
    return sorted(focus_columns(version)) + list(extras)


_MONEY_COLUMNS = frozenset({
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice",
    "ContractedUnitPrice", "PricingQuantity", "ConsumedQuantity",
})  # fmt: skip
_TIME_COLUMNS = frozenset(
    {"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"}
)


def _parquet(
    rows: list[dict[str, object]], columns: list[str], tags: pa.DataType, tag_value: Callable[[dict[str, object]], object],
) -> bytes:  # fmt: skip
    arrays: dict[str, pa.Array] = {}
    for name in columns:
        values = [row.get(name) for row in rows]
        if name in _MONEY_COLUMNS:
            arrays[name] = pa.array(values, pa.decimal128(38, 12))
        elif name in _TIME_COLUMNS:
            arrays[name] = pa.array(values, pa.timestamp("ms", tz="UTC"))
        elif name == "Tags":
            arrays[name] = pa.array([None if v is None else tag_value(v) for v in values], tags)  # type: ignore[arg-type]
        else:
            arrays[name] = pa.array([None if v is None else _text(v) for v in values], pa.string())
    buf = io.BytesIO()
    pq.write_table(pa.table(arrays), buf, compression="snappy")
    return buf.getvalue()


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _aws_csv(
    rng: random.Random, period: str, days: list[datetime.date], accounts: int
) -> tuple[str, bytes]:
    provider = _Provider("aws", "AWS", "Amazon Web Services EMEA SARL", "1.2", _AWS_SERVICES)
    rows = _usage_rows(
        rng, provider, days, accounts, "123456789012", lambda a: f"2109876543{a:02d}"
    )
    for row in rows:
        row["x_ServiceCode"] = "Amazon" + str(row["ServiceName"]).split()[-1]
        row["x_Operation"] = "RunInstances" if row["ChargeCategory"] == "Usage" else None
        row["x_Discounts"] = {"bundled_discount": "0"} if row["ChargeCategory"] == "Usage" else None
        row["BillingAccountType"] = "Management Account"
        row["SubAccountType"] = "Member Account"
        row["PricingCurrency"] = "USD"
    export = "meterhouse-focus-12"
    key = f"focus/aws/{export}/data/BILLING_PERIOD={period}/{export}-00001.csv.gz"
    return key, _gz(_csv(rows, _columns("1.2", ["x_Discounts", "x_Operation", "x_ServiceCode"])))


def _aws_parquet(
    rng: random.Random, period: str, days: list[datetime.date], accounts: int
) -> tuple[str, bytes]:
    provider = _Provider("aws", "AWS", "Amazon Web Services, Inc.", "1.0", _AWS_SERVICES)
    rows = _usage_rows(
        rng, provider, days, accounts, "555566667777", lambda a: f"4444333322{a:02d}"
    )
    for row in rows:
        row["x_UsageType"] = f"EUC1-{row.get('SkuMeter')}" if row.get("SkuMeter") else None
    export = "meterhouse-focus-10"
    key = f"focus/aws/{export}/data/BILLING_PERIOD={period}/{export}-00001.snappy.parquet"
    as_map = pa.map_(pa.string(), pa.string())
    payload = _parquet(
        rows, _columns("1.0", ["x_UsageType"]), as_map,
        lambda tags: [(k, "true" if v is True else str(v)) for k, v in tags.items()],
    )  # fmt: skip
    return key, payload


def _azure_csv(
    rng: random.Random, period: str, days: list[datetime.date], accounts: int
) -> tuple[str, bytes]:
    provider = _Provider("azure", "Microsoft", "Microsoft", "1.2", _AZURE_SERVICES)
    rows = _usage_rows(
        rng, provider, days, accounts, "8611537/contoso",
        lambda a: f"/subscriptions/00000000-0000-0000-0000-0000000000{a:02d}",
    )  # fmt: skip
    for i, row in enumerate(rows):
        row["x_BillingProfileId"] = "AW4F-xxxx-BG7-TGB"
        row["x_ResourceGroupName"] = f"rg-{row['SubAccountName']}"
        row["BillingAccountType"] = "Billing Account"
        row["SubAccountType"] = "Subscription"
        row["PricingCurrency"] = "USD"
        if row.get("RegionId") is None:
            row["RegionId"] = row["RegionName"] = "Unassigned"  # Microsoft placeholder
        if row["ChargeCategory"] != "Usage":
            row["ResourceId"] = "-2"
        if row["ChargeCategory"] == "Usage" and i % 7 == 0:
            row["ChargeCategory"] = "usage"  # casing quirk
    columns = _columns("1.2", ["x_BillingProfileId", "x_ResourceGroupName"])
    body = _csv(rows, columns, header=str.lower, null="NULL")
    key = f"focus/azure/focus-cost/billing_period={period}/part_0_0001.csv.gz"
    return key, _gz(b"\xef\xbb\xbf" + body)


def _gcp_parquet(
    rng: random.Random, period: str, days: list[datetime.date], accounts: int
) -> tuple[str, bytes]:
    provider = _Provider("gcp", "Google Cloud", "Google Cloud EMEA Limited", "1.1", _GCP_SERVICES)
    rows = _usage_rows(
        rng, provider, days, accounts, "01A2B3-C4D5E6-F7A8B9", lambda a: f"proj-{a:02d}"
    )
    for row in rows:
        row["x_Project"] = row["SubAccountId"]
        row["x_ServiceId"] = str(row["ServiceName"]).replace(" ", "").lower()
        row["x_Credits"] = '[{"name":"Committed use discount","amount":"0"}]'
        row["x_ExportTime"] = f"{period}-28T06:00:00Z"
    kv = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
    payload = _parquet(
        rows, _columns("1.1", ["x_Credits", "x_ExportTime", "x_Project", "x_ServiceId"]), kv,
        lambda tags: [{"key": k, "value": "true" if v is True else str(v)} for k, v in tags.items()],
    )  # fmt: skip
    return f"focus/gcp/billing-export/billing_period={period}/focus-000000000000.parquet", payload


def _onprem_csv(
    rng: random.Random, period: str, days: list[datetime.date], accounts: int
) -> tuple[str, bytes]:
    provider = _Provider("onprem", "Meterhouse DC", "Meterhouse DC GmbH", "1.0", _ONPREM_SERVICES)
    rows = _usage_rows(
        rng, provider, days, max(1, accounts - 2), "dc-fra1", lambda a: f"tenant-{a:02d}"
    )
    for i, row in enumerate(rows):
        quantity = row.get("ConsumedQuantity")
        if isinstance(quantity, Decimal) and i % 4 == 0:
            # E notation with a negative exponent, as the spec's Numeric Format allows
            row["ConsumedQuantity"] = f"{int(quantity * 1000)}E-3"
    body = _csv(rows, _columns("1.0", []), naive_time=True, null="NULL")
    return f"focus/onprem/dcim-billing/{period}/focus-{period}.csv", body


_WRITERS: tuple[Callable[[random.Random, str, list[datetime.date], int], tuple[str, bytes]], ...] = (
    _aws_csv, _aws_parquet, _azure_csv, _gcp_parquet, _onprem_csv,
)  # fmt: skip
