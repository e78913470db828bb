"""Turning external data into context: history imports from CSV files (through a column mapping)
and from NGSI-LD JSON. Everything here writes through the broker's public methods."""
