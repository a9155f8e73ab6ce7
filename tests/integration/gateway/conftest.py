"""Fixtures of the gateway tests: a gateway on a free port in front of moto's S3 server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.gateway._gateway import ThreadGateway, gateway_settings, running_gateway


@pytest.fixture
def gateway(s3: Any) -> Iterator[ThreadGateway]:
    """A gateway with the default limits, writing to the emptied `usage` bucket."""
    with running_gateway(gateway_settings()) as gw:
        yield gw
