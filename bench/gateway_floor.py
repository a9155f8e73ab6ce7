"""The floor of the gateway benchmark: an endpoint that only reads the body and PUTs it to S3.

No auth, no decompression, no checks, no grouping: one object per request, acknowledged once
the PUT returns, on the same server stack (uvicorn) and S3 client settings as the gateway.
Run: `python -m bench.gateway_floor PORT LANDING` (the benchmark starts it).
"""

from __future__ import annotations

import itertools
import os
import sys
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool


def make_app(landing: str) -> Any:
    from etl.gateway.store import S3Writer

    writer = S3Writer(landing, connections=16)
    token = uuid.uuid4().hex[:8]
    counter = itertools.count()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            # the S3 client is built before the first request, as the gateway does
            await run_in_threadpool(lambda: writer.client)
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["method"] != "POST":  # the benchmark's readiness probe
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        parts = []
        more = True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        key = f"floor/{token}-{next(counter):010d}.json.gz"
        await run_in_threadpool(writer.put, key, b"".join(parts), {})
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b'{"stored": -1}'})

    return app


def factory() -> Any:
    """For `uvicorn --factory --workers N`: the landing from FLOOR_LANDING."""
    return make_app(os.environ["FLOOR_LANDING"])


def main() -> None:
    import uvicorn

    port, landing = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(make_app(landing), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)  # fmt: skip


if __name__ == "__main__":
    main()
