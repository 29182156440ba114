"""Benchmarks: each module measures one claim side by side with its baseline."""
