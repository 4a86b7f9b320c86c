"""What talks to a board over USB: transport, session, ports, flash, deploy, configure, verify,
monitor, provision (the technician's side of stationctl)."""
