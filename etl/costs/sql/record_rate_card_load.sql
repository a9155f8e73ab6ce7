INSERT INTO rate_card_loads (version, previous_version, source_uri, prices, adjustments,
                             affected_from, affected_to, loaded_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
