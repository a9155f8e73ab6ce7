"""FOCUS 1.0 CSV at benchmark scale, in the on-prem provider's shape of `etl.samples.focus`.

One line item per row: a service of a sub-account for one day. Every row is distinct (the
ResourceId carries the row number) except ~1% re-delivered copies (i % 100 == 50 copies the row
150,001 back: usually an earlier file, so the copy carries the same content-hash event_id and is a
duplicate). Nothing is invalid: FOCUS rejects are exercised by the parser's unit tests.
"""

# SQL here is spliced only from this package's constants, integers and the cache's own paths
# (COPY targets cannot be parameters), never from data read from the exports.
# ruff: noqa: S608

from __future__ import annotations

from typing import Any

from bench.exports import MS_PER_DAY, START_MS, ExportSpec, row_hashes

SERVICES = (
    # ServiceName, ServiceCategory, SkuId, meter (ChargeDescription prefix), unit, price
    ("GPU Cloud", "Compute", "gpu-h100-sxm", "gpu_hours", "Hours", "2.10", "gpu"),
    (
        "Block Storage",
        "Storage",
        "ceph-rbd-ssd",
        "block_storage_gb_months",
        "GB-Month",
        "0.08",
        "volume",
    ),
    ("Colocation Power", "Other", "power-kwh", "power_kwh", "kWh", "0.21", None),
    ("Object Storage", "Storage", "s3-std", "object_gb_months", "GB-Month", "0.02", "bucket"),
)
TEAMS = ("ml-platform", "search", "payments", "data-eng", "web", "research", "infra", "mobile")


def _list(values: tuple[Any, ...]) -> str:
    return "[" + ", ".join("NULL" if v is None else f"'{v}'" for v in values) + "]"


def copy_focus(con: Any, spec: ExportSpec, lo: int, hi: int, path: Any) -> None:
    """Write rows [lo, hi) of a FOCUS export to `path` (CSV with header)."""
    n, seed, first = spec.events, spec.seed, spec.first_id
    span = spec.days * MS_PER_DAY
    names, cats, skus, meters, units, prices, rtypes = (
        _list(tuple(s[k] for s in SERVICES)) for k in range(7)
    )
    con.execute(
        f"""
    COPY (
      WITH idx AS (
        SELECT i, CASE WHEN i % 100 = 50 AND i >= 150001 THEN i - 150001 ELSE i END AS src
        FROM range({lo}, {hi}) t(i)
      ), mixed AS ({row_hashes(first, seed)}
      ), rec AS (
        SELECT i, src, h1, h2, 1 + h1 % {len(SERVICES)} AS s,
               ((h2 % 2400000) / 1000.0 + 0.001)::DECIMAL(18, 3) AS qty,
               to_timestamp(({START_MS} + (src * {span}) // {n}) / 1000)::TIMESTAMP AS ts
        FROM mixed
      ), item AS (
        SELECT *, date_trunc('day', ts) AS day, date_trunc('month', ts) AS month,
               (qty * {prices}[s]::DECIMAL(18, 4))::DECIMAL(28, 10) AS cost,
               'tenant-' || lpad(((h1 // 10) % 200)::VARCHAR, 3, '0') AS account,
               {_list(TEAMS)}[1 + (h1 // 2000) % {len(TEAMS)}] AS team
        FROM rec
      )
      SELECT NULL AS AvailabilityZone, cost AS BilledCost, 'dc-fra1' AS BillingAccountId,
             'Example Org' AS BillingAccountName, 'USD' AS BillingCurrency,
             strftime(month + INTERVAL 1 MONTH, '%Y-%m-%dT%H:%M:%SZ') AS BillingPeriodEnd,
             strftime(month, '%Y-%m-%dT%H:%M:%SZ') AS BillingPeriodStart,
             'Usage' AS ChargeCategory, NULL AS ChargeClass,
             {meters}[s] || ' usage' AS ChargeDescription, 'Usage-Based' AS ChargeFrequency,
             strftime(day + INTERVAL 1 DAY, '%Y-%m-%dT%H:%M:%SZ') AS ChargePeriodEnd,
             strftime(day, '%Y-%m-%dT%H:%M:%SZ') AS ChargePeriodStart,
             NULL AS CommitmentDiscountCategory, NULL AS CommitmentDiscountId,
             NULL AS CommitmentDiscountName, NULL AS CommitmentDiscountStatus,
             NULL AS CommitmentDiscountType,
             qty AS ConsumedQuantity, {units}[s] AS ConsumedUnit, cost AS ContractedCost,
             {prices}[s] AS ContractedUnitPrice,
             (cost * 0.95)::DECIMAL(28, 10) AS EffectiveCost, 'Meterhouse DC GmbH' AS InvoiceIssuerName,
             cost AS ListCost, {prices}[s] AS ListUnitPrice, 'Standard' AS PricingCategory,
             qty AS PricingQuantity, {units}[s] AS PricingUnit, 'Meterhouse DC' AS ProviderName,
             'Meterhouse DC' AS PublisherName, 'fra1' AS RegionId, 'fra1' AS RegionName,
             {skus}[s] || '-' || ({first} + src)::VARCHAR AS ResourceId,
             team || '-' || {meters}[s] AS ResourceName, {rtypes}[s] AS ResourceType,
             {cats}[s] AS ServiceCategory, {names}[s] AS ServiceName, {skus}[s] AS SkuId,
             {skus}[s] || '.std' AS SkuPriceId, account AS SubAccountId, team AS SubAccountName,
             '{{"team":"' || team || '","env":"' || ['prod', 'staging', 'dev'][1 + h2 % 3] || '"}}' AS Tags
      FROM item ORDER BY i
    ) TO '{path}' (FORMAT csv, HEADER true)"""
    )
