"""The pure core: load, validate, render, plan and fold status. No cluster, engine, network or
terminal I/O (it reads data files only), so the CLI and the operator share every decision and
each is unit-testable without a cluster. A test holds this boundary.

One sub-package per concern, imports pointing down (tests/unit/test_structure.py holds it):
`load` (reading files) <- `model` (the blueprint, catalogue and their rules) <- `render` (what
the operator writes), `rollout` (the state machine and status), `upgrade` (a newer catalogue),
`office` (KPI verdicts and the report) and `project` (a city's own folder)."""
