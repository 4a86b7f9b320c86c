"""The virtual station's rigs: the far end of its uplink, the MQTT broker, the simulated USB
device, the soak runner."""
