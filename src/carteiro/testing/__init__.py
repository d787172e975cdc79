"""Real in-process servers and helpers for tests (the `testing` extra): SMTP, DNS, HTTP, IMAP."""
