"""NGSI-LD semantics over a store: the one way to change context."""

from smartby.broker.batch_result import BatchResult
from smartby.broker.broker import DEFAULT_TENANT, Broker

__all__ = ["DEFAULT_TENANT", "BatchResult", "Broker"]
