"""The dashboard's read model: the testbed's domains and colours, the shared map snapshot, the tiles
and one device's readings, computed from context and history through the broker's Python API."""
