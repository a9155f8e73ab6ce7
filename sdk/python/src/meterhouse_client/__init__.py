"""meterhouse-client: meter usage into meterhouse without losing a record.

Example::

    from meterhouse_client import MeterhouseClient

    with MeterhouseClient("https://meter.example.com", api_key="...") as client:
        client.meter("gpu_hours", "1.5", customer_id="team-a", dimensions={"region": "eu"})
"""

from meterhouse_client._version import __version__
from meterhouse_client.client import (
    ClientOptions,
    ClientStats,
    MeterhouseClient,
    MeterhouseS3Client,
)
from meterhouse_client.errors import (
    BatchRejected,
    BatchTooLarge,
    ClientClosed,
    DeliveryError,
    InvalidRecord,
    MeterhouseError,
    QueueFull,
    SpoolError,
)
from meterhouse_client.record import MeterRecord
from meterhouse_client.rules import check_record

__all__ = [
    "BatchRejected",
    "BatchTooLarge",
    "ClientClosed",
    "ClientOptions",
    "ClientStats",
    "DeliveryError",
    "InvalidRecord",
    "MeterRecord",
    "MeterhouseClient",
    "MeterhouseError",
    "MeterhouseS3Client",
    "QueueFull",
    "SpoolError",
    "__version__",
    "check_record",
]
