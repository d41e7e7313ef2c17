"""`python -m citykit` runs the CLI, for environments without the console script on PATH."""

from citykit.cli.main import main

main()
