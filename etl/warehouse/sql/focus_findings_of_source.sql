-- One file's conformance findings per rule (param: source_uri).
SELECT rule, count(*) FROM focus_conformance WHERE source_uri = ? GROUP BY rule ORDER BY rule
