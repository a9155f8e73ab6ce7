SELECT source_uri, etag, size_bytes, checksum_sha256, status FROM ingest_ledger
