"""e-KTP enrollment kiosk: touchscreen self-service and field enrollment on a Raspberry Pi."""

__version__ = "0.1.0"
