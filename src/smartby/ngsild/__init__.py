"""The NGSI-LD standard as pure code: no I/O, no imports from the rest of smartby."""
