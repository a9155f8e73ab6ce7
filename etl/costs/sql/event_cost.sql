CASE WHEN r.rate_status = 'rated' THEN r.rated_cost ELSE coalesce(e.effective_cost, e.billed_cost) END
