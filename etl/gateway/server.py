"""`meterhouse serve`: the gateway under uvicorn.

Binds 127.0.0.1 unless told otherwise. SIGTERM / Ctrl-C stop accepting, finish the requests
under way and write every group they are in before exiting; SIGKILL loses only requests not
yet acknowledged (their clients retry).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from etl.gateway.app import create_app
from etl.settings import GatewaySettings

log = logging.getLogger("meterhouse.gateway")


def app_from_env() -> Any:
    """The app from the environment: the factory each uvicorn worker process calls."""
    return create_app(GatewaySettings.from_env())


def serve(
    settings: GatewaySettings, *, host: str | None = None, port: int | None = None,
    workers: int | None = None,
) -> None:  # fmt: skip
    """Run the gateway until stopped; `host`, `port`, `workers` override the settings."""
    import uvicorn

    settings = dataclasses.replace(
        settings,
        host=host or settings.host,
        port=settings.port if port is None else port,
        workers=workers or settings.workers,
    )
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "access_log": False,
        # Requests under way get this long to finish (and their groups to be written).
        "timeout_graceful_shutdown": max(30, int(settings.s3_timeout_s * 3)),
    }
    print(
        f"meterhouse gateway on http://{settings.host}:{settings.port}/ingest "
        f"(workers={settings.workers}, landing={settings.landing}api/); Prometheus remote "
        f"write on /api/v1/write (landing={settings.landing}prometheus/)",
        flush=True,
    )
    if settings.workers > 1:
        # Each worker process builds its own app (and its own random object-key token).
        uvicorn.run(
            "etl.gateway.server:app_from_env", factory=True, workers=settings.workers, **common
        )
        return
    uvicorn.run(create_app(settings), **common)
