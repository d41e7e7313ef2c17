"""Pod Security's restricted profile, checked the way the admission plugin checks it, and the
Kubernetes version whose schemas the planned objects and the chart are validated against:
shared by the plan's unit tests, the infra tests and the chart's rendering tests, so that no
test module is imported as a library by another."""

from __future__ import annotations

from typing import Any

KUBERNETES_VERSION = "1.35"


def pod_security_restricted_violations(pod_spec: dict[str, Any]) -> list[str]:
    """The Pod Security Standards' restricted profile, as the admission plugin checks it."""
    found = []
    pod_context = pod_spec.get("securityContext", {})
    if pod_context.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
        found.append("pod seccompProfile")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(field):
            found.append(field)
    if any("hostPath" in volume for volume in pod_spec.get("volumes", [])):
        found.append("hostPath volume")
    for container in pod_spec["containers"]:
        context = container.get("securityContext", {})
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{container['name']}: allowPrivilegeEscalation")
        if context.get("privileged"):
            found.append(f"{container['name']}: privileged")
        if context.get("capabilities", {}).get("drop") != ["ALL"] or context.get(
            "capabilities", {}
        ).get("add"):
            found.append(f"{container['name']}: capabilities")
        if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
            found.append(f"{container['name']}: runAsNonRoot")
        if (context.get("runAsUser", pod_context.get("runAsUser")) or 0) == 0:
            found.append(f"{container['name']}: runAsUser 0")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append(f"{container['name']}: hostPort")
    return found
