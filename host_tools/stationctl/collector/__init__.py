"""The receiving end (`stationctl collect`): MQTT messages from stations and network servers ->
decoded readings -> one database, each reading stored once (docs/collector.md)."""
