"""Campaigns: segments, templates, the recipients ledger, planner, A/B, guards and stats."""
