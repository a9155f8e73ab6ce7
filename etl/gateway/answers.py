"""What every gateway route shares: the in-flight buffer (429 above it) and RFC 7807 answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse

from etl.gateway.commit import StoreUnavailable
from etl.gateway.records import BodyError, too_large
from etl.settings import GatewaySettings

PROBLEM_JSON = "application/problem+json"


class Busy(Exception):
    """The in-flight buffer is full: answer 429 with Retry-After."""


@dataclass
class Buffer:
    """Bytes held by requests in flight (bodies, decompressed bodies, stored members).

    Only the event loop touches it, so it needs no lock.
    """

    limit: int
    used: int = 0

    def reserve(self, n: int) -> None:
        if self.used + n > self.limit:
            raise Busy
        self.used += n

    def release(self, n: int) -> None:
        self.used -= n


@dataclass
class Reservation:
    buffer: Buffer
    held: int = field(default=0)

    def add(self, n: int) -> None:
        self.buffer.reserve(n)
        self.held += n

    def release(self) -> None:
        self.buffer.release(self.held)
        self.held = 0


async def receive_body(
    chunks: AsyncIterator[bytes],
    declared_length: str,
    settings: GatewaySettings,
    held: Reservation,
    advice: str,
    each: Callable[[bytes], None],
) -> None:
    """Hand each received piece of a body to `each`, every byte held in the in-flight buffer;
    a body over METERHOUSE_GATEWAY_MAX_BODY_BYTES (declared or received) is refused with
    413 and `advice`."""
    over = too_large(
        "gateway.body.size",
        f"the body is over {settings.max_body_bytes} bytes (METERHOUSE_GATEWAY_MAX_BODY_BYTES); "
        + advice,
    )
    if declared_length.isdigit() and int(declared_length) > settings.max_body_bytes:
        raise over
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > settings.max_body_bytes:
            raise over
        held.add(len(chunk))
        each(chunk)


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    errors: Sequence[dict[str, Any]] = (),
    retry_after: int | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """An RFC 7807 problem answer; `errors` lists bad records as {index, rule, reason}."""
    body: dict[str, Any] = {
        "type": f"urn:meterhouse:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "errors": list(errors),
        **(extra or {}),
    }
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


Refusal = BodyError | Busy | StoreUnavailable
"""Why a route stores nothing of a request (each with its answer in `refused`)."""


def refused(err: Refusal, retry_after_s: int) -> JSONResponse:
    """The answer of every route that stores nothing: 400-413 naming the rule a body broke,
    429 when the in-flight buffer is full, 503 when the store is unavailable (both with
    Retry-After: nothing was acknowledged, the sender retries)."""
    if isinstance(err, BodyError):
        return problem(
            err.status, err.rule.rsplit(".", 1)[-1].replace("_", "-"), err.title, err.detail,
            extra={"rule": err.rule},
        )  # fmt: skip
    if isinstance(err, Busy):
        return problem(
            429, "busy", "Gateway busy",
            "the gateway holds as many requests as its buffer allows "
            "(METERHOUSE_GATEWAY_BUFFER_BYTES); retry after the given seconds",
            retry_after=retry_after_s,
        )  # fmt: skip
    return problem(
        503, "store-unavailable", "Storage unavailable",
        f"{err}; nothing of the request was acknowledged, retry after the given seconds",
        retry_after=retry_after_s,
    )  # fmt: skip
