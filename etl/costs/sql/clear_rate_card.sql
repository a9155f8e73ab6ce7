DELETE FROM rate_card;
DELETE FROM rate_adjustments;
