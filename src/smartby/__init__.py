"""smartby: an open smart-city platform speaking NGSI-LD."""

__version__ = "0.1.0"
