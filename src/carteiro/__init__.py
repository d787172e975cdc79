"""Carteiro: self-hosted, MCP-native email operations platform."""

__version__ = "0.1.0"
