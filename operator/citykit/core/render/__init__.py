"""What the operator writes: the Kubernetes objects for a validated blueprint and each of its
initiatives (`objects`), the difference between what exists and what should (`converge`), the
diff of two blueprints' objects, the platform services they share, and their sizing. Built on
`core.model`; nothing here reads the cluster."""
