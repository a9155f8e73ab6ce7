"""The gateway's HTTP API: `POST /ingest` (Amberflo's shape), `POST /api/v1/write` (Prometheus
remote write, etl.gateway.remote_endpoint), `/healthz`, `/readyz`, `/metrics`.

A request is all or nothing and is acknowledged only once durable:

    401  no key or an unknown key (X-API-KEY, or Authorization: Bearer)
    413  body over its size (compressed or once decompressed) or over the records per request
    415  a Content-Encoding other than gzip
    429  the gateway's in-flight buffer is full (Retry-After)
    400  not JSON records, or any record the batch path would reject (index, rule, reason each)
    403  a record names a customer outside the key's scope
    503  the S3 write of the request's group failed (Retry-After)
    200  {"stored": N}: every record is in an object under the landing prefix
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from contracts.prometheus import LANDING_PREFIX
from etl.gateway.answers import Buffer, Busy, Reservation, problem, receive_body, refused
from etl.gateway.auth import KeyRing, Principal, presented_key
from etl.gateway.batch_rules import array_errors, warm_up
from etl.gateway.commit import API_PREFIX, Arrival, GroupCommitter, StoreUnavailable
from etl.gateway.metrics import CONTENT_TYPE_LATEST, GatewayMetrics
from etl.gateway.records import GZIP_MAGIC, BodyError, Gunzip, split_records, too_large
from etl.gateway.remote_endpoint import remote_write
from etl.gateway.remote_write import LabelCache
from etl.gateway.store import ObjectWriter, S3Writer
from etl.gateway.validate import Validator
from etl.settings import GatewaySettings

log = logging.getLogger("meterhouse.gateway")

# Level 1: a third of level 6's CPU for objects ~15% larger (500 records: 0.5 ms, 19 KB
# against 1.5 ms, 17 KB); the gateway's cores are what limits it, not S3's bytes.
_GZIP_LEVEL = 1


@dataclass
class Gateway:
    """The running parts of one app."""

    settings: GatewaySettings
    writer: ObjectWriter
    keys: KeyRing
    metrics: GatewayMetrics
    validator: Validator
    buffer: Buffer
    committer: GroupCommitter | None = None
    remote_committer: GroupCommitter | None = None
    label_cache: LabelCache = field(default_factory=LabelCache)


async def _authenticated(
    gw: Gateway,
    request: Request,
    handle: Callable[[Gateway, Request, Principal], Awaitable[Response]],
    how: str,
) -> Response:
    """`handle`'s answer for a request with a known API key, else 401 saying `how` to send one."""
    principal = gw.keys.find(presented_key(request.headers))
    if principal is None:
        response: Response = problem(401, "unauthorized", "Missing or invalid API key", how)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return await handle(gw, request, principal)


async def read_body(request: Request, settings: GatewaySettings, held: Reservation) -> bytes:
    """The decompressed body, within the size limits; gzip is inflated as it arrives."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise BodyError(
            415, "gateway.body.encoding", "Unsupported Content-Encoding",
            f"Content-Encoding {encoding[:40]!r} is not supported; send gzip or nothing",
        )  # fmt: skip
    gunzip = Gunzip(settings.max_decompressed_bytes) if encoding.endswith("gzip") else None
    parts: list[bytes] = []

    def each(chunk: bytes) -> None:
        if gunzip is not None:
            held.add(gunzip.feed(chunk))
        else:
            parts.append(chunk)

    await receive_body(
        request.stream(), request.headers.get("content-length", ""), settings, held,
        "split it into smaller requests", each,
    )  # fmt: skip
    if gunzip is not None:
        return gunzip.finish()
    body = b"".join(parts)
    if body.startswith(GZIP_MAGIC):  # gzip without the header: the batch path sniffs it too
        gunzip = Gunzip(settings.max_decompressed_bytes)
        held.add(gunzip.feed(body))
        return gunzip.finish()
    if len(body) > settings.max_decompressed_bytes:
        raise too_large(
            "gateway.body.decompressed_size",
            f"the body is over {settings.max_decompressed_bytes} bytes "
            "(METERHOUSE_GATEWAY_MAX_DECOMPRESSED_BYTES); split it into smaller requests",
        )
    return body


def build_member(lines: Sequence[bytes], generated: dict[int, bytes]) -> bytes:
    """The request's records as one gzip member of NDJSON (generated lines where given)."""
    if generated:
        lines = [generated.get(i, line) for i, line in enumerate(lines)]
    return gzip.compress(b"\n".join(lines) + b"\n", compresslevel=_GZIP_LEVEL, mtime=0)


def _error_list(errors: dict[int, tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"index": i, "rule": rule, "reason": reason} for i, (rule, reason) in sorted(errors.items())
    ]


async def _ingest(gw: Gateway, request: Request, principal: Principal) -> Response:
    assert gw.committer is not None
    with gw.committer.incoming() as arrival:
        return await _ingest_arriving(gw, request, principal, arrival)


async def _ingest_arriving(
    gw: Gateway, request: Request, principal: Principal, arrival: Arrival
) -> Response:
    settings = gw.settings
    held = Reservation(gw.buffer)
    try:
        body = await read_body(request, settings, held)
        split = await run_in_threadpool(
            split_records, body, request.headers.get("content-type", "").lower(),
            settings.max_records,
        )  # fmt: skip
        if split.syntax_errors:
            found = await run_in_threadpool(array_errors, body)
            if not found:  # the batch reader stops at `]`; this gateway refuses what follows
                raise BodyError(
                    400, "gateway.body.format", "Body is not JSON records",
                    "the JSON array is followed by more text; send one array per request",
                )  # fmt: skip
            return _rejected(gw, {i: (rule, reason) for i, rule, reason in found}, len(split.lines))
        lines = split.lines
        del body
        if not lines:
            return JSONResponse({"stored": 0})
        verdict = await asyncio.wrap_future(gw.validator.submit(lines))
        errors = dict(verdict.errors)
        for i, line in enumerate(lines):
            if len(line) > settings.max_record_bytes:
                errors[i] = (
                    "gateway.record.size",
                    f"record is {len(line)} bytes, over the limit of {settings.max_record_bytes} "
                    "(METERHOUSE_GATEWAY_MAX_RECORD_BYTES)",
                )
        if errors:
            return _rejected(gw, errors, len(lines))
        if principal.customers is not None:
            outside = {
                i: (
                    "gateway.customer.scope",
                    f"customerId {c[:60]!r} is outside this API key's scope",
                )
                for i, c in verdict.customers.items()
                if not principal.allows(c)
            }
            if outside:
                for rule, _ in outside.values():
                    gw.metrics.records_rejected.labels(rule).inc()
                return problem(
                    403, "customer-scope", "Customer outside the key's scope",
                    f"{len(outside)} of {len(lines)} records name a customer this key may not "
                    "send for; nothing of the request was stored",
                    errors=_error_list(outside),
                )  # fmt: skip
        member = await run_in_threadpool(build_member, lines, verdict.generated)
        held.add(len(member))
        assert gw.committer is not None
        await gw.committer.commit(member, len(lines), arrival)
        gw.metrics.records_accepted.inc(len(lines))
        return JSONResponse({"stored": len(lines)})
    except (BodyError, Busy, StoreUnavailable) as err:
        return refused(err, settings.retry_after_s)
    finally:
        held.release()
        gw.metrics.buffer_bytes.set(gw.buffer.used)


def _rejected(gw: Gateway, errors: dict[int, tuple[str, str]], records: int) -> JSONResponse:
    for rule, _ in errors.values():
        gw.metrics.records_rejected.labels(rule).inc()
    return problem(
        400, "invalid-records", "Invalid records",
        f"{len(errors)} of {records or len(errors)} records break the batch path's rules; "
        "nothing of the request was stored",
        errors=_error_list(errors),
    )  # fmt: skip


def _warm_up(gw: Gateway) -> None:
    warm_up(datetime.now(tz=UTC))
    if isinstance(gw.writer, S3Writer):
        _ = gw.writer.client


def create_app(settings: GatewaySettings, writer: ObjectWriter | None = None) -> FastAPI:
    """The gateway as an ASGI app; `writer` defaults to S3 at the landing prefix."""
    metrics = GatewayMetrics()
    gw = Gateway(
        settings=settings,
        writer=writer
        or S3Writer(
            settings.landing, timeout_s=settings.s3_timeout_s, connections=settings.max_puts + 2
        ),
        keys=KeyRing(settings.api_keys),
        metrics=metrics,
        validator=Validator(),
        buffer=Buffer(settings.buffer_bytes),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Before the first request, not during it: the contract's first pass and the S3
        # client take about a second each.
        await run_in_threadpool(_warm_up, gw)
        # Everything imported and built so far lives as long as the process: the cyclic GC
        # stops re-scanning it (its full passes paused requests for ~0.2 s each).
        gc.freeze()
        gw.validator.start()
        committers = [
            GroupCommitter(
                gw.writer,
                gateway_id=settings.gateway_id,
                linger_s=settings.linger_ms / 1000,
                group_bytes=settings.group_bytes,
                group_records=settings.group_records,
                max_puts=settings.max_puts,
                metrics=metrics,
                prefix=prefix,
            )
            for prefix in (API_PREFIX, LANDING_PREFIX)
        ]
        gw.committer, gw.remote_committer = committers
        log.info(
            "step=start gateway=%s keys=%d landing=%s linger_ms=%d",
            gw.committer.instance, len(gw.keys), settings.landing, settings.linger_ms,
        )  # fmt: skip
        try:
            yield
        finally:
            # Requests already in a group are written before the process exits (SIGTERM).
            for committer in committers:
                await committer.close()
            gw.validator.stop()

    app = FastAPI(
        title="meterhouse ingest gateway", lifespan=lifespan,
        docs_url=None, redoc_url=None, openapi_url=None,
    )  # fmt: skip
    app.state.gateway = gw

    @app.post("/ingest")
    async def ingest(request: Request) -> Response:
        response = await _authenticated(
            gw, request, _ingest, "send the key in X-API-KEY (or Authorization: Bearer)"
        )
        gw.metrics.requests.labels(str(response.status_code)).inc()
        return response

    @app.post("/api/v1/write")
    async def prometheus_remote_write(request: Request) -> Response:
        response = await _authenticated(
            gw, request, remote_write,
            "send the key as `Authorization: Bearer` (remote_write's authorization block) "
            "or in X-API-KEY",
        )  # fmt: skip
        gw.metrics.remote_requests.labels(str(response.status_code)).inc()
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        trouble = await run_in_threadpool(gw.writer.ready)
        if trouble is None:
            return JSONResponse({"status": "ready"})
        metrics.s3_errors.labels("head").inc()
        return JSONResponse(
            {"status": "unavailable", "detail": trouble[:300]},
            status_code=503,
            headers={"Retry-After": str(settings.retry_after_s)},
        )

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app
