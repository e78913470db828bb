"""The testbed: a synthetic Copenhagen whose devices send realistic readings to smartby (or any
NGSI-LD broker) through the real device path. See docs/testbed.md.

- `geography`: the ten districts as approximate polygons, synthetic streets;
- `city`: devices and buildings placed on them, as Smart Data Models entity types;
- `climate`, `patterns`, `noise`: weather, sun, grid signals, daily shapes, deterministic noise;
- `models`: what each device reports, and when;
- `entities`, `targets`, `runner`: provisioning, sending, back-fill and live streaming.
"""
