"""The citykit.io API contract: group, version, kinds, label keys, object names, enums, CRDs.

Everything that names a Kubernetes thing citykit owns lives here, so the renderer, the
operator, the CLI and the Pulumi program cannot disagree on a label key or a namespace.
"""
