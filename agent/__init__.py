"""The chat agent: answers questions about workload failures from the DuckDB history and PromQL."""
