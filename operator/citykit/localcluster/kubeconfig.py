"""Kubeconfig files for the admin user and for each component.

Certificates are embedded rather than referenced, so the admin kubeconfig keeps working when
copied elsewhere and no client resolves paths relative to the wrong folder.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from citykit.localcluster.certs import KeyPair


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def render_kubeconfig(cluster: str, server: str, ca_cert: Path, client: KeyPair) -> dict[str, Any]:
    """A one-cluster, one-user kubeconfig whose only context is current."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)},
            }
        ],
        "users": [
            {
                "name": cluster,
                "user": {
                    "client-certificate-data": _b64(client.cert),
                    "client-key-data": _b64(client.key),
                },
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
        "current-context": cluster,
    }


def write_kubeconfig(path: Path, config: dict[str, Any]) -> Path:
    """Writes it readable only by the owner: it carries a private key."""
    with path.open("w") as stream:
        yaml.safe_dump(config, stream, sort_keys=False)
    path.chmod(0o600)
    return path
