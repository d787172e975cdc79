"""Dispatches (disparos): one message to one lead over e-mail or WhatsApp, durable and leased."""
