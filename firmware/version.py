"""Firmware version, reported in the boot banner and status frames."""

VERSION = "0.1.0"
