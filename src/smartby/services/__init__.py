"""City services: what smartby computes from context and history. They read and write only through
the broker's Python API, never the store, and know nothing of HTTP."""
