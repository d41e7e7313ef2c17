"""Reading a city's files: YAML with the line and column of every node, bounded against alias
bombs and deep nesting, checked against the JSON Schemas; byte-exact scalar edits; the one
user-error type (`errors.CitykitError`) and the secret scan. The layer every other part of
the core reads through, and that imports none of them."""
