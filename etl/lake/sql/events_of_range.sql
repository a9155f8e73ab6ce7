-- The rows of one day ingested in [?, ?) (epoch µs; no upper bound when null).
SELECT m.* EXCLUDE (event_key) FROM meter_events m WHERE m.event_date = ?
AND epoch_us(m.ingested_at) >= ? AND (? IS NULL OR epoch_us(m.ingested_at) < ?)
