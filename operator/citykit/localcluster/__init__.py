"""A real, local Kubernetes control plane for tests and demos.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are built from their Go
modules (no release binaries needed), and KWOK simulates the nodes, so Deployments become
Ready without a container runtime. `citykit cluster up` and the integration tests' fixture
both use `control_plane.up`.
"""
