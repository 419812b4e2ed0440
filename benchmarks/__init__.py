"""Benchmarks of the pipeline, each run by `make bench` (see docs/performance.md)."""
