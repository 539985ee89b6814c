"""Benchmarks: each prints its figures next to a peer's from the same run."""
