"""Protocol primitives with no database: addresses, templates, MIME, DKIM, SMTP, IMAP."""
