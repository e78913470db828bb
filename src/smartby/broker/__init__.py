"""NGSI-LD semantics over a store: the one way to change context."""

from smartby.broker.broker import DEFAULT_TENANT, BatchResult, Broker

__all__ = ["DEFAULT_TENANT", "BatchResult", "Broker"]
