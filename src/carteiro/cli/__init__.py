"""The `carteiro` command line: one Typer sub-app per domain."""
