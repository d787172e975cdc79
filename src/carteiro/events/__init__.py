"""Events below the domains: emit, event types, the outbox rows, in-process subscribers."""
