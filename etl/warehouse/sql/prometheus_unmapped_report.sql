-- Metrics remote write sent that the mapping does not name: samples, objects, last seen.
SELECT metric, sum(samples) AS samples, count(DISTINCT source_uri) AS objects,
       max(counted_at) AS last_seen
FROM prometheus_unmapped GROUP BY metric ORDER BY samples DESC, metric LIMIT 50
