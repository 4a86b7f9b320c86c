"""Board entry point: MicroPython runs main.py after boot.py."""

import station

station.main()
