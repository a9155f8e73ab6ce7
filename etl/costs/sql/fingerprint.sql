SELECT event_date, meter_name, count(*) AS events, max(ingested_at) AS max_ingested_at,
       bit_xor(hash(event_id, source_uri, source_row)) AS fingerprint
FROM meter_events
