-- The ledger rows of the URIs in the registered `wanted_uris`.
SELECT l.source_uri, l.etag, l.size_bytes, l.checksum_sha256, l.status
FROM ingest_ledger l JOIN wanted_uris w USING (source_uri)
