"""Go programs citykit needs (Kubernetes, KWOK, helm, the Pulumi engine), built from their Go
modules into a per-version cache, since no release binary can be downloaded where it runs."""
