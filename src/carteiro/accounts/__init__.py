"""Mail accounts: credentials, limits and warm-up, connection slots, status, health, DNS checks."""
