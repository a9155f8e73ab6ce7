-- The rows of the days in the registered `publish_days`.
SELECT m.* EXCLUDE (event_key) FROM meter_events m JOIN publish_days USING (event_date)
