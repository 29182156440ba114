"""The monitoring sidecar: polls Run:ai, classifies failures, records them in DuckDB, serves metrics."""
