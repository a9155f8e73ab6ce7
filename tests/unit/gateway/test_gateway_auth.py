"""API keys: hashed in the configuration, found by header, scoped to customers."""

from __future__ import annotations

import hashlib

from etl.gateway.auth import KeyRing, presented_key
from etl.settings import ApiKeySpec


def _spec(key: str, customers: set[str] | None = None) -> ApiKeySpec:
    return ApiKeySpec(
        hashlib.sha256(key.encode()).hexdigest(),
        frozenset(customers) if customers else None,
        key[:3],
    )


def test_keys_are_found_by_their_hash_only() -> None:
    ring = KeyRing([_spec("alpha-key"), _spec("beta-key", {"c1"})])
    alpha = ring.find("alpha-key")
    beta = ring.find("beta-key")
    assert alpha is not None and alpha.customers is None and alpha.allows("anyone")
    assert beta is not None and beta.allows("c1") and not beta.allows("c2")
    assert ring.find("gamma") is None
    assert ring.find("") is None and ring.find(None) is None
    assert ring.find(hashlib.sha256(b"alpha-key").hexdigest()) is None  # the digest is no key


def test_key_from_x_api_key_or_bearer() -> None:
    assert presented_key({"x-api-key": " k1 "}) == "k1"
    assert presented_key({"authorization": "Bearer k2"}) == "k2"
    assert presented_key({"authorization": "bearer  k3 "}) == "k3"
    assert presented_key({"authorization": "Basic abc"}) is None
    assert presented_key({"authorization": "Bearer "}) is None
    assert presented_key({}) is None
