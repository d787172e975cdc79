"""Inbox: IMAP sync into threads, bounces and complaints, replies and automatic replies."""
