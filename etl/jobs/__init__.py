"""Jobs: the only API that dags/, plugins/, the CLI (and later the gateway) call."""
