"""Carteiro api routers package."""
