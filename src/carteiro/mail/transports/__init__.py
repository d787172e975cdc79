"""SMTP transports: the interface, the pooled and pipelined client, and file capture."""
