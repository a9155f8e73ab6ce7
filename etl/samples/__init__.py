"""Sample data generators for the demo and the benchmark; nothing in etl but the CLI imports them."""
