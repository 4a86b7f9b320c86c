"""Registering stations on LoRaWAN network servers without typing keys: the station's record
(identifiers read from its modem, the AppKey from its secrets) and the network servers' own import
formats (tts.py: The Things Stack; chirpstack.py: ChirpStack v4)."""
