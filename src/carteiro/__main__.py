"""`python -m carteiro` runs the CLI."""

from carteiro.cli.main import main

main()
