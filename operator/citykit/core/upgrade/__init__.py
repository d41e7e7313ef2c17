"""Moving a city to a newer catalogue version: what changed between two catalogue versions
(`catalogue_diff`) and the blueprint upgrade that checks a city against it and edits its
pin (`blueprint`). Built on `core.model`; a running city's rollout of the result is
`core.rollout`'s."""
