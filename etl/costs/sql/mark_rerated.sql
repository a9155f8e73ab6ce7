UPDATE rate_card_loads SET rerated_at = ?
WHERE loaded_at = (SELECT max(loaded_at) FROM rate_card_loads)
