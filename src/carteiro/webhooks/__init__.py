"""Outgoing webhooks: endpoints, signed deliveries, fan-out from events."""
