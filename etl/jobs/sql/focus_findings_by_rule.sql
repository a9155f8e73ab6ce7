-- Conformance findings per rule and column: rows, files, and one example value.
SELECT rule, column_name, count(*) AS findings, count(DISTINCT source_uri) AS files,
       any_value(value) AS example_value
FROM focus_conformance
GROUP BY rule, column_name
ORDER BY findings DESC, rule
