"""stationctl: host tools for the city climate station (CPython 3.11+)."""

__version__ = "0.1.0"
