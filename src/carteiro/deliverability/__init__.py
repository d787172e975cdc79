"""Deliverability: suppression, DKIM, DNS checks, reply classes, unsubscribe, webhooks, health."""
