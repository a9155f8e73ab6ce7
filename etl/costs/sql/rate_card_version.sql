SELECT DISTINCT version FROM rate_card
