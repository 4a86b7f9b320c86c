"""Sub-commands of stationctl, one module each."""
