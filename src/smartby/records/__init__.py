"""Plain records the store keeps and the layers above it read and write: devices, payload profiles
and dead letters; subscriptions and the notification outbox; context source registrations.
Dataclasses only; nothing here imports smartby but `smartby.ngsild`."""
