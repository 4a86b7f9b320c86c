"""The payload on the host: the Python decoder and the bridge to the firmware's own codec."""
