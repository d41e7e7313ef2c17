"""The pure core: load, validate, render, plan and fold status. No cluster, engine, network or
terminal I/O (it reads data files only), so the CLI and the operator share every decision and
each is unit-testable without a cluster. A test holds this boundary."""
