"""The Kubernetes edge: the one client citykit talks to the API server with."""

from citykit.kube.client import (
    apply,
    delete,
    dynamic_client,
    list_objects,
    patch_annotations,
    patch_status,
    post_event,
    read,
    resource_for,
)

__all__ = [
    "apply",
    "delete",
    "dynamic_client",
    "list_objects",
    "patch_annotations",
    "patch_status",
    "post_event",
    "read",
    "resource_for",
]
