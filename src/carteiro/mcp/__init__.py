"""Carteiro mcp package."""
