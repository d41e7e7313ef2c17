"""The city's model and its rules: the blueprint and the catalogue it pins, jurisdiction
profiles, the checks a blueprint must pass (references, policy, data residency) and
`validation`, which runs them all. Reads files only through `core.load`; everything that
renders, rolls out, upgrades or reports starts from a `ValidatedBlueprint` built here."""
