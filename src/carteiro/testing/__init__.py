"""Carteiro testing package."""
