CASE WHEN rate_status = 'rated' THEN rated_cost::DECIMAL(38, 18) ELSE coalesce(effective_cost, billed_cost) END
