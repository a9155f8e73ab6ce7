"""`POST /api/v1/write` against a real gateway and moto's S3: the statuses remote-write
senders rely on, 1.0 and 2.0 bodies, what lands, and that landed samples load exactly once."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from contracts.prometheus import STALE_NAN
from contracts.prompb import write_v2_pb2
from tests.conftest import BUCKET
from tests.integration.gateway._gateway import (
    KEY,
    SCOPED_KEY,
    gateway_settings,
    running_gateway,
)
from tests.prometheus_usage import T0, mapping_file
from tests.prometheus_wire import Series, headers, snappy, v1_body, v1_message, v2_body

pytestmark = [pytest.mark.integration]

PREFIX = "ingest/prometheus/"
REQS = {"__name__": "requests_total", "namespace": "team-a", "service": "web"}


def _post(url: str, body: bytes, hdrs: dict[str, str]) -> requests.Response:
    return requests.post(f"{url}/api/v1/write", data=body, headers=hdrs, timeout=30)


def _landed(s3: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", []):
        body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
        out.extend(json.loads(x) for x in body.splitlines())
    return out


def test_v1_and_v2_land_series_and_answer_204_with_written_counts(s3: Any) -> None:
    v1 = [Series(REQS, [(T0, 1.0), (T0 + 1000, 2.5), (T0 + 2000, STALE_NAN)])]
    v2 = [
        Series({**REQS, "service": "api"}, [(T0, 7.0)], type="counter", histograms=1, exemplars=[1.0]),
        Series({"__name__": "mem", "namespace": "b"}, [(T0, float("inf"))], type="gauge"),
    ]
    with running_gateway(gateway_settings()) as gw:
        r1 = _post(gw.url, v1_body(v1), headers(1, KEY))
        r2 = _post(gw.url, v2_body(v2), headers(2, KEY))
        metrics = requests.get(f"{gw.url}/metrics", timeout=10).text
    assert r1.status_code == 204, r1.text
    assert r2.status_code == 204, r2.text
    assert r2.headers["X-Prometheus-Remote-Write-Samples-Written"] == "2"
    assert r2.headers["X-Prometheus-Remote-Write-Histograms-Written"] == "0"
    assert r2.headers["X-Prometheus-Remote-Write-Exemplars-Written"] == "0"
    landed = sorted(_landed(s3), key=lambda x: json.dumps(x))
    assert landed == sorted(
        [
            {"labels": REQS, "samples": [[T0, 1.0], [T0 + 1000, 2.5]]},  # stale marker dropped
            {"labels": {**REQS, "service": "api"}, "type": "counter", "samples": [[T0, 7.0]]},
        ],
        key=lambda x: json.dumps(x),
    )
    assert 'meterhouse_gateway_remote_write_samples_total{outcome="stale"} 1.0' in metrics
    assert 'meterhouse_gateway_remote_write_samples_total{outcome="not_finite"} 1.0' in metrics


def test_statuses_for_bad_requests(s3: Any) -> None:
    good = v1_body([Series(REQS, [(T0, 1.0)])])
    with running_gateway(gateway_settings(max_decompressed_bytes=10_000)) as gw:
        no_key = _post(gw.url, good, headers(1))
        scoped = _post(gw.url, good, headers(1, SCOPED_KEY))
        json_type = _post(gw.url, good, {**headers(1, KEY), "Content-Type": "application/json"})
        other_proto = _post(
            gw.url, good, {**headers(1, KEY), "Content-Type": "application/x-protobuf;proto=x.Y"}
        )
        gzip_enc = _post(gw.url, good, {**headers(1, KEY), "Content-Encoding": "gzip"})
        not_snappy = _post(gw.url, b"\x05hello world", headers(1, KEY))
        not_proto = _post(gw.url, snappy(b"\xff\xff\xff\xff"), headers(1, KEY))
        no_name = _post(gw.url, v1_body([Series({"namespace": "a"}, [(T0, 1.0)])]), headers(1, KEY))
        refs = write_v2_pb2.Request(symbols=["", "__name__"])
        refs.timeseries.add(labels_refs=[1, 5]).samples.add(value=1.0, timestamp=T0)
        bad_refs = _post(gw.url, snappy(refs.SerializeToString()), headers(2, KEY))
        bomb = _post(gw.url, snappy(v1_message([Series({**REQS, "pod": "x" * 20_000}, [(T0, 1.0)])])), headers(1, KEY))
    assert no_key.status_code == 401 and no_key.headers["WWW-Authenticate"] == "Bearer"
    assert scoped.status_code == 403
    assert json_type.status_code == 415 and json_type.json()["rule"] == "prometheus.content_type"
    assert other_proto.status_code == 415
    assert gzip_enc.status_code == 415
    assert not_snappy.status_code == 400 and not_snappy.json()["rule"] == "prometheus.body.snappy"
    assert not_proto.status_code == 400 and not_proto.json()["rule"] == "prometheus.body.protobuf"
    assert no_name.status_code == 400 and "no __name__" in no_name.json()["detail"]
    assert bad_refs.status_code == 400 and bad_refs.json()["rule"] == "prometheus.series.labels_refs"
    assert bomb.status_code == 413
    assert _landed(s3) == []


class FailingWriter:
    """S3 that refuses every PUT (a store outage)."""

    def put(self, key: str, data: bytes, metadata: dict[str, str]) -> None:
        raise ConnectionError("S3 is down")

    def ready(self) -> str | None:
        return "down"


def test_busy_is_429_and_a_failed_store_is_503_with_retry_after(s3: Any) -> None:
    body = v1_body([Series(REQS, [(T0, 1.0)])])
    with running_gateway(gateway_settings(buffer_bytes=10)) as gw:
        busy = _post(gw.url, body, headers(1, KEY))
    with running_gateway(gateway_settings(), FailingWriter()) as gw:
        down = _post(gw.url, body, headers(1, KEY))
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "2"
    assert down.status_code == 503 and down.headers["Retry-After"] == "2"


def test_replayed_bodies_load_once(s3: Any, tmp_path: Path, settings: Any) -> None:
    from etl.jobs.ingest import ingest

    counter = [Series(REQS, [(T0 + i * 1000, float(i * 3)) for i in range(5)], type="counter")]
    with running_gateway(gateway_settings()) as gw:
        for _ in range(3):  # a sender that timed out and resent, twice
            assert _post(gw.url, v2_body(counter), headers(2, KEY)).status_code == 204
            assert _post(gw.url, v1_body(counter), headers(1, KEY)).status_code == 204
    settings = replace(settings, prometheus_mapping=mapping_file(tmp_path))
    report = ingest([f"s3://{BUCKET}/{PREFIX}"], settings)
    assert all(f.status == "loaded" for f in report.files), report
    from etl.warehouse import Warehouse

    wh = Warehouse(settings.warehouse_path, settings.lake_path)
    _, rows = wh.query("SELECT customer_id, meter_name, sum(quantity) FROM meter_events GROUP BY ALL")
    assert rows == [("team-a", "api_requests", Decimal(12))]
    _, samples = wh.query("SELECT count(*) FROM prometheus_samples")
    assert samples == [(5,)]


def test_a_broken_landed_object_fails_alone(s3: Any, tmp_path: Path, settings: Any) -> None:
    from etl.jobs.ingest import ingest

    good = b'{"labels":{"__name__":"requests_total","namespace":"a"},"samples":[[1000,1],[2000,3]]}\n'
    bad = b'{"labels":{"__name__":"requests_total","namespace":"a"},"samples":"oops"}\n'
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}dt=2025-12-01/good.ndjson.gz", Body=gzip.compress(good))
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}dt=2025-12-01/bad.ndjson.gz", Body=gzip.compress(bad))
    settings = replace(settings, prometheus_mapping=mapping_file(tmp_path))
    report = ingest([f"s3://{BUCKET}/{PREFIX}"], settings)
    status = {f.uri.rsplit("/", 1)[-1]: (f.status, f.error or "") for f in report.files}
    assert status["good.ndjson.gz"][0] == "loaded"
    assert status["bad.ndjson.gz"][0] == "failed"
    assert "not remote-write series lines" in status["bad.ndjson.gz"][1]


@pytest.mark.parametrize("group_samples", [1, 3, 1_000])
def test_landed_objects_give_the_same_usage_whatever_the_group_size(
    s3: Any, tmp_path: Path, settings: Any, group_samples: int
) -> None:
    from etl.jobs.ingest import ingest
    from etl.warehouse import Warehouse

    # Six objects of a counter (with a restart) and a gauge, two samples each per series;
    # groups of 1, 3 or 1,000 samples (one transaction for all) load them.
    gauge = {"__name__": "memory_bytes", "namespace": "team-b"}
    values = [5.0, 9.0, 14.0, 2.0, 6.0, 30.0, 31.0, 40.0, 41.0, 45.0, 50.0, 52.0]
    for n in range(6):
        lines = [
            {"labels": labels,
             "samples": [[T0 + i * 60_000, value(i)] for i in (2 * n, 2 * n + 1)]}
            for labels, value in ((REQS, values.__getitem__), (gauge, lambda i: 2.0**30))
        ]  # fmt: skip
        body = "".join(json.dumps(line) + "\n" for line in lines).encode()
        s3.put_object(
            Bucket=BUCKET, Key=f"{PREFIX}dt=2025-12-01/{n}.ndjson.gz", Body=gzip.compress(body)
        )
    settings = replace(
        settings,
        prometheus_mapping=mapping_file(tmp_path),
        prometheus_group_samples=group_samples,
    )
    report = ingest([f"s3://{BUCKET}/{PREFIX}"], settings)
    assert [f.status for f in report.files] == ["loaded"] * 6, report
    wh = Warehouse(settings.warehouse_path, settings.lake_path)
    _, rows = wh.query(
        "SELECT meter_name, sum(quantity) FROM meter_events GROUP BY ALL ORDER BY ALL"
    )
    # Counter: +4 +5, a restart (2 counts as 2), +4 +24 +1 +9 +1 +4 +5 +2; gauge: 1 GiB held
    # from the first sample to the last, 11 minutes: 11/60 GiB-hours, rounded at 12 places.
    assert rows == [("api_requests", Decimal(61)), ("memory", Decimal("0.183333333333"))]
    _, samples = wh.query("SELECT count(*), count(DISTINCT source_uri) FROM prometheus_samples")
    assert samples == [(24, 6)]
