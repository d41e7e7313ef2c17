"""Click commands, one module per topic; `citykit.cli.main` assembles them."""
