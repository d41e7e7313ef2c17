"""The kopf edge: handlers that observe, call the pure core, and write the difference."""
