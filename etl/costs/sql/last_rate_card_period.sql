SELECT affected_from, affected_to FROM rate_card_loads ORDER BY loaded_at DESC LIMIT 1
