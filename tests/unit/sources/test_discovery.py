"""Batch planning of discovered objects (etl.sources.discovery)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from etl.sources.discovery import SourceObject, not_loaded, plan_batches
from etl.sources.stores import LocalStore

# -- plan_batches ---------------------------------------------------------------------------------


def objs(*sizes: int) -> list[SourceObject]:
    return [
        SourceObject(
            "s3://usage", f"k{i}", f"s3://usage/k{i}", size, f"e{i}", "2024-01-01T00:00:00+00:00"
        )
        for i, size in enumerate(sizes)
    ]


def keys(batches: list[list[SourceObject]]) -> list[list[str]]:
    return [[o.key for o in batch] for batch in batches]


def test_no_objects_means_no_batches() -> None:
    assert plan_batches([], max_files=10, max_bytes=100) == []


def test_file_limit_splits_and_keeps_order() -> None:
    batches = plan_batches(objs(1, 1, 1, 1, 1), max_files=2, max_bytes=1_000)

    assert keys(batches) == [["k0", "k1"], ["k2", "k3"], ["k4"]]


def test_byte_limit_splits_and_an_exact_fit_stays_together() -> None:
    batches = plan_batches(objs(4, 4, 4, 3, 5), max_files=100, max_bytes=8)

    assert keys(batches) == [["k0", "k1"], ["k2", "k3"], ["k4"]]
    assert [sum(o.size for o in b) for b in batches] == [8, 7, 5]


def test_an_object_larger_than_the_byte_limit_gets_its_own_batch() -> None:
    batches = plan_batches(objs(1, 50, 1, 1), max_files=100, max_bytes=10)

    assert keys(batches) == [["k0"], ["k1"], ["k2", "k3"]]


def test_whichever_limit_comes_first_splits() -> None:
    batches = plan_batches(objs(1, 1, 1, 9, 1, 1, 1), max_files=3, max_bytes=10)

    assert keys(batches) == [["k0", "k1", "k2"], ["k3", "k4"], ["k5", "k6"]]


@pytest.mark.parametrize(("max_files", "max_bytes"), [(1, 1_000), (100, 1), (0, 0)])
def test_degenerate_limits_give_one_object_per_batch_never_an_empty_one(
    max_files: int, max_bytes: int
) -> None:
    batches = plan_batches(objs(5, 0, 7), max_files=max_files, max_bytes=max_bytes)

    assert keys(batches) == [["k0"], ["k1"], ["k2"]]


def test_every_object_lands_in_exactly_one_batch() -> None:
    objects = objs(*range(1, 30))

    batches = plan_batches(objects, max_files=4, max_bytes=40)

    assert [o for b in batches for o in b] == objects
    assert all(1 <= len(b) <= 4 for b in batches)
    assert all(sum(o.size for o in b) <= 40 or len(b) == 1 for b in batches)


# -- not_loaded -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    status: str
    etag: str
    size_bytes: int
    checksum_sha256: str | None


def test_a_local_file_edited_with_size_and_mtime_kept_is_loaded_again(tmp_path: Path) -> None:
    path = tmp_path / "export.ndjson"
    path.write_bytes(b'{"uniqueId": "a"}\n')
    store = LocalStore(tmp_path)
    listed = [SourceObject.of(store.root_uri, info) for info in store.list("")]
    obj = listed[0]
    loaded = {
        obj.uri: Entry("loaded", obj.etag, obj.size, hashlib.sha256(path.read_bytes()).hexdigest())
    }
    assert not_loaded(listed, loaded) == []

    # `cp -p` / `rsync -a` of an edited copy: same size, same mtime, other bytes
    stat = path.stat()
    path.write_bytes(b'{"uniqueId": "b"}\n')
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    relisted = [SourceObject.of(store.root_uri, info) for info in store.list("")]

    assert relisted == listed
    assert not_loaded(relisted, loaded) == relisted


def test_an_s3_object_is_not_hashed_its_etag_tells() -> None:
    obj = objs(10)[0]

    assert not_loaded([obj], {obj.uri: Entry("loaded", obj.etag, obj.size, "other")}) == []
