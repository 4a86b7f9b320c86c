"""Benchmarks (`stationctl bench`, `make bench`): one module per section with `run() -> str`."""
