"""Tenants, API keys (hashed), scopes, grants and the principal every interface passes on."""
