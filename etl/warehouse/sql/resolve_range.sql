-- The event dates a stored copy of the ids in `resolve_ids` can have: those of their
-- duplicates, widened by the dedup window (param, days) within which copies were matched.
SELECT min(d.event_date) - CAST(? AS INTEGER), max(d.event_date) + CAST(? AS INTEGER)
FROM duplicate_events d JOIN resolve_ids USING (event_id)
