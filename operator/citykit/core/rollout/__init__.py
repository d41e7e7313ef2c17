"""Rolling a blueprint out, as pure functions with time an argument: conditions and their
timestamps, the typed status the operator parses at its edge, the initiative state machine
(one module: its transitions share invariants), the blueprint status fold with the write
coalescing, a city's history of applied blueprints, and what `citykit demo` rolls out."""
