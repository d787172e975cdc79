"""The WhatsApp channel: providers (Cloud API, Evolution gateway), numbers, templates, webhooks."""
