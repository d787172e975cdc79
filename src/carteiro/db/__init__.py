"""Carteiro db package."""
