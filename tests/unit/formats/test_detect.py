"""decompress and sniff_format: content decides, never the key."""

from __future__ import annotations

import gzip

import pytest

from etl.errors import FormatError, TerminalError
from etl.formats.detect import first_line, strip_bom
from etl.formats.registry import sniff_format
from etl.sources.streams import decompress

AMBERFLO_HEADER = b"customerId,meterApiName,meterValue,meterTimeInMillis"
UNKNOWN = (
    "unknown format: not JSON, not Parquet, and the first line is not an Amberflo CSV header "
    "(needs customerId, meterApiName, meterTimeInMillis, meterValue) nor a FOCUS header; "
    "supported are Amberflo JSON, NDJSON, CSV and FOCUS CSV/Parquet (optionally gzip)"
)

# -- decompress ---------------------------------------------------------------------------------


@pytest.mark.parametrize("uri", ["s3://b/usage.json", "s3://b/usage.json.gz", "s3://b/noext"])
def test_gzip_is_recognised_by_magic_bytes_whatever_the_key(uri: str) -> None:
    payload = b'[{"customerId":"c"}]'

    assert decompress(gzip.compress(payload), uri, max_bytes=1024) == (payload, True)


def test_plain_bytes_pass_through_even_under_a_gz_key() -> None:
    payload = b'{"customerId":"c"}\n'

    assert decompress(payload, "s3://b/usage.json.gz", max_bytes=1024) == (payload, False)


def test_multi_member_gzip_is_read_whole() -> None:
    data = gzip.compress(b"a,b\n") + gzip.compress(b"1,2\n")

    assert decompress(data, "u", max_bytes=1024) == (b"a,b\n1,2\n", True)


@pytest.mark.parametrize("cut", [5, 10, -4])
def test_truncated_gzip_is_a_format_error_naming_truncation(cut: int) -> None:
    data = gzip.compress(b"x" * 200)[:cut]

    with pytest.raises(FormatError) as info:
        decompress(data, "s3://b/cut.gz", max_bytes=1024)

    message = str(info.value)
    assert message.startswith("s3://b/cut.gz: gzip data is truncated or corrupt (")
    assert message.endswith("); re-upload the complete file")
    assert isinstance(info.value, TerminalError)


def test_gzip_magic_with_garbage_body_is_a_format_error() -> None:
    with pytest.raises(FormatError, match=r"^u: gzip data is truncated or corrupt \("):
        decompress(b"\x1f\x8b" + b"not-deflate-at-all", "u", max_bytes=1024)


def test_decompression_bomb_stops_at_max_bytes() -> None:
    bomb = gzip.compress(b"0" * 5000)
    assert len(bomb) < 100  # small on the wire, large once expanded

    with pytest.raises(FormatError) as info:
        decompress(bomb, "s3://b/bomb.gz", max_bytes=1000)

    assert str(info.value) == (
        "s3://b/bomb.gz: gzip expands beyond 1000 bytes (METERHOUSE_MAX_OBJECT_BYTES); "
        "refusing it as a possible decompression bomb; split the export or raise the limit"
    )


def test_gzip_expanding_to_exactly_max_bytes_is_accepted() -> None:
    payload = b"0" * 1000

    assert decompress(gzip.compress(payload), "u", max_bytes=1000) == (payload, True)


def test_plain_object_over_max_bytes_is_refused() -> None:
    with pytest.raises(FormatError) as info:
        decompress(b"a" * 11, "s3://b/big.csv", max_bytes=10)

    assert str(info.value) == (
        "s3://b/big.csv: object is 11 bytes, over the limit of 10 (METERHOUSE_MAX_OBJECT_BYTES); "
        "split the export or raise the limit"
    )


def test_plain_object_of_exactly_max_bytes_is_accepted() -> None:
    assert decompress(b"a" * 10, "u", max_bytes=10) == (b"a" * 10, False)


# -- helpers ------------------------------------------------------------------------------------


def test_strip_bom_only_strips_a_leading_bom() -> None:
    assert strip_bom(b"\xef\xbb\xbfabc") == b"abc"
    assert strip_bom(b"abc\xef\xbb\xbf") == b"abc\xef\xbb\xbf"
    assert strip_bom(b"") == b""


def test_first_line_drops_crlf_and_respects_limit() -> None:
    assert first_line(b"a,b\r\nc,d\r\n") == b"a,b"
    assert first_line(b"no newline") == b"no newline"
    assert first_line(b"abcdef\n", limit=3) == b"abc"


# -- sniff_format -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'[{"customerId":"c"}]', "amberflo_json"),
        (b'  \r\n\t[{"customerId":"c"}]', "amberflo_json"),
        (b"[]", "amberflo_json"),
        (b'{"customerId":"c"}\n{"customerId":"d"}\n', "amberflo_ndjson"),
        (b'\n\n{"customerId":"c"}', "amberflo_ndjson"),
        (AMBERFLO_HEADER + b"\r\nc,m,1,1700000000000\r\n", "amberflo_csv"),
        (AMBERFLO_HEADER + b",region,uniqueId\n", "amberflo_csv"),
        (b'"customerId", "meterApiName" ,meterValue,"meterTimeInMillis"\n', "amberflo_csv"),
        (b"meterTimeInMillis,meterValue,meterApiName,customerId\n", "amberflo_csv"),
    ],
)
def test_sniff_recognises_amberflo_exports(data: bytes, expected: str) -> None:
    assert sniff_format(data, "s3://b/k") == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'\xef\xbb\xbf[{"customerId":"c"}]', "amberflo_json"),
        (b'\xef\xbb\xbf{"customerId":"c"}\n', "amberflo_ndjson"),
        (b"\xef\xbb\xbf" + AMBERFLO_HEADER + b"\n", "amberflo_csv"),
    ],
)
def test_sniff_ignores_a_utf8_bom(data: bytes, expected: str) -> None:
    assert sniff_format(data, "s3://b/k") == expected


@pytest.mark.parametrize("data", [b"", b"   ", b"\r\n\t \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"])
def test_sniff_empty_or_whitespace_only_means_no_records(data: bytes) -> None:
    assert sniff_format(data, "s3://b/empty.json") is None


@pytest.mark.parametrize("uri", ["s3://b/part-0.parquet", "s3://b/export.csv", "s3://b/noext"])
def test_sniff_parquet_by_magic_whatever_the_key(uri: str) -> None:
    assert sniff_format(b"PAR1\x15\x04rest-of-file", uri) == "focus_parquet"


@pytest.mark.parametrize("uri", ["s3://b/x.parquet", "s3://b/X.PARQUET", "s3://b/x.parquet.gz"])
def test_sniff_parquet_name_without_magic_is_refused(uri: str) -> None:
    with pytest.raises(FormatError) as info:
        sniff_format(AMBERFLO_HEADER + b"\n", uri)

    assert str(info.value) == (
        f"{uri}: named .parquet but is not a Parquet file (no PAR1 magic); re-export it"
    )


def test_sniff_json_content_under_a_parquet_name_is_still_json() -> None:
    # Content decides; the name is only used to explain a non-Parquet body.
    assert sniff_format(b"[]", "s3://b/x.parquet") == "amberflo_json"


def test_sniff_unknown_binary_is_refused() -> None:
    with pytest.raises(FormatError) as info:
        sniff_format(b"\x00\x01\xff\xfe\x80garbage", "s3://b/blob")

    assert str(info.value) == (
        "s3://b/blob: unknown format: the first line is not UTF-8 text; supported are Amberflo "
        "JSON, NDJSON, CSV and FOCUS CSV/Parquet (optionally gzip)"
    )
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02\x03",
        b"hello world\n",
        b"customerId,meterApiName,meterValue\nc,m,1\n",  # meterTimeInMillis missing
        b"customerId;meterApiName;meterValue;meterTimeInMillis\n",  # wrong delimiter
    ],
)
def test_sniff_text_that_is_no_supported_header_is_refused(data: bytes) -> None:
    with pytest.raises(FormatError) as info:
        sniff_format(data, "s3://b/k")

    assert str(info.value) == f"s3://b/k: {UNKNOWN}"


def test_sniff_amberflo_header_only_on_a_later_line_is_refused() -> None:
    with pytest.raises(FormatError, match="unknown format"):
        sniff_format(b"# exported by tool\n" + AMBERFLO_HEADER + b"\n", "s3://b/k")
