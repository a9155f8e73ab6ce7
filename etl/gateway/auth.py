"""API keys: only their sha256 digests are configured; a presented key is hashed and compared
with every digest in constant time, so neither a timing nor the configuration gives a key away."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from etl.settings import ApiKeySpec


@dataclass(frozen=True)
class Principal:
    """Who sent a request: the key's name (never the key) and its customer scope."""

    name: str
    customers: frozenset[str] | None

    def allows(self, customer: str) -> bool:
        return self.customers is None or customer in self.customers


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key of a request: `X-API-KEY`, else `Authorization: Bearer <key>` (what Prometheus
    remote write sends)."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


class KeyRing:
    """The accepted keys."""

    def __init__(self, specs: Iterable[ApiKeySpec]) -> None:
        self._specs = [(bytes.fromhex(s.sha256), s) for s in specs]

    def __len__(self) -> int:
        return len(self._specs)

    def find(self, key: str | None) -> Principal | None:
        """The principal of `key`, or None. Every digest is compared (no early exit)."""
        if not key:
            return None
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        found: ApiKeySpec | None = None
        for expected, spec in self._specs:
            if hmac.compare_digest(digest, expected) and found is None:
                found = spec
        return None if found is None else Principal(found.name, found.customers)
