"""Click commands, one module per topic; `citykit.cli` assembles them."""
