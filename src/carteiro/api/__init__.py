"""Carteiro api package."""
