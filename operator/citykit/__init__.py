"""citykit: versioned smart-city blueprints, validated, rendered and rolled out on Kubernetes."""

__version__ = "0.1.0"
