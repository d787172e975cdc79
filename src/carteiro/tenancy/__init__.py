"""Carteiro tenancy package."""
