CASE WHEN rate_status = 'rated' THEN rated_cost ELSE coalesce(effective_cost, billed_cost) END
