SELECT DISTINCT meter_name FROM rate_card
