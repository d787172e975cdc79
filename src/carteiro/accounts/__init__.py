"""Carteiro accounts package."""
