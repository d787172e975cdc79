"""Carteiro outbound package."""
