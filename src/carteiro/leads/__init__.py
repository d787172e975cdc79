"""Leads: spreadsheet ingestion, contacts (e-mails, phones) with consent, and lead queries."""
