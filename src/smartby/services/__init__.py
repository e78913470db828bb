"""City services: what smartby computes, decides and acts on from context and history.

A service (`service.Service`) watches entity types and attributes, handles batches of changes from a
durable feed, runs periodic jobs and serves its own routes; the runtime (`runtime.Runtime`) runs the
services `SMARTBY_SERVICES` names, found in the `smartby.services` entry-point group. Services read
and write only through the broker's Python API, never the store, and know nothing of HTTP beyond
the router they hand the app.
"""
