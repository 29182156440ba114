"""The monitoring sidecar: polls Run:ai, classifies failures, records them, serves metrics."""
