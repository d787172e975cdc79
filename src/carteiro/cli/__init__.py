"""Carteiro cli package."""
