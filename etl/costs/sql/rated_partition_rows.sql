-- How many events the last rated partition holds (rate_partition.sql's temp table).
SELECT count(*) FROM rated_partition
