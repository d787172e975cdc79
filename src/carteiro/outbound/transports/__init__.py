"""Carteiro outbound transports package."""
