"""The `POST /api/v1/write` answer: read, decode (etl.gateway.remote_write), group-commit.

Statuses are listed in etl.gateway.remote_write; nothing of a request is acknowledged unless
its whole member is in S3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from etl.gateway.answers import Busy, Reservation, problem, receive_body, refused
from etl.gateway.auth import Principal
from etl.gateway.commit import StoreUnavailable
from etl.gateway.records import BodyError
from etl.gateway.remote_write import Decoded, decode, protocol_of
from etl.settings import GatewaySettings

if TYPE_CHECKING:
    from etl.gateway.app import Gateway

WRITTEN_HEADERS = (
    "X-Prometheus-Remote-Write-Samples-Written",
    "X-Prometheus-Remote-Write-Histograms-Written",
    "X-Prometheus-Remote-Write-Exemplars-Written",
)


async def read_snappy_body(request: Request, settings: GatewaySettings, held: Reservation) -> bytes:
    """The raw (still snappy) body within METERHOUSE_GATEWAY_MAX_BODY_BYTES."""
    encoding = request.headers.get("content-encoding", "snappy").strip().lower()
    if encoding != "snappy":
        raise BodyError(
            415, "prometheus.content_encoding", "Unsupported Content-Encoding",
            f"Content-Encoding {encoding[:40]!r} is not supported; remote write sends snappy",
        )  # fmt: skip
    parts: list[bytes] = []
    await receive_body(
        request.stream(), request.headers.get("content-length", ""), settings, held,
        "lower queue_config.max_samples_per_send", parts.append,
    )  # fmt: skip
    return b"".join(parts)


def _written(decoded: Decoded) -> dict[str, str]:
    # Stale markers and non-finite values were handled as the protocol intends (they are
    # never usage), so they count as written; histograms and exemplars are not metered.
    return dict(zip(WRITTEN_HEADERS, (str(decoded.samples), "0", "0"), strict=True))


async def remote_write(gw: Gateway, request: Request, principal: Principal) -> Response:
    """Answer one remote-write request (see the module docstring for the statuses)."""
    committer = gw.remote_committer
    assert committer is not None
    with committer.incoming() as arrival:
        settings = gw.settings
        held = Reservation(gw.buffer)
        try:
            protocol = protocol_of(request.headers.get("content-type", ""))
            if principal.customers is not None:
                return problem(
                    403, "customer-scope", "Key scoped to customers",
                    "this API key may only send for some customers, and a remote-write sample's "
                    "customer is decided by the mapping when it is loaded; use an unscoped key",
                )  # fmt: skip
            body = await read_snappy_body(request, settings, held)
            decoded = await run_in_threadpool(
                decode, body, protocol, settings.max_decompressed_bytes, gw.label_cache
            )
            del body
            metrics = gw.metrics
            metrics.remote_samples.labels("stale").inc(decoded.stale)
            metrics.remote_samples.labels("not_finite").inc(decoded.not_finite)
            if decoded.member:
                held.add(len(decoded.member))
                await committer.commit(decoded.member, decoded.series, arrival)
            metrics.remote_samples.labels("stored").inc(decoded.landed)
            return Response(status_code=204, headers=_written(decoded))
        except (BodyError, Busy, StoreUnavailable) as err:
            return refused(err, settings.retry_after_s)
        finally:
            held.release()
            gw.metrics.buffer_bytes.set(gw.buffer.used)

