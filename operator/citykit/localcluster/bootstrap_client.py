"""A minimal HTTPS client for the few calls `cluster up` makes before handing over.

Why not `citykit.kube`, the one Kubernetes client: while the control plane starts, "connection
refused" is the expected answer, asked every 0.2s. The kubernetes package's client retries
each refused connection three times and logs a urllib3 warning for each retry; plain
`http.client` with the admin certificate answers at once (an OSError is "not yet"). It makes
only the start-up calls: /readyz, a few GETs and creating the fake Nodes. Once the cluster
is up, everything else (the CLI, the operator, the tests) talks to it through `citykit.kube`.
"""

from __future__ import annotations

import http.client
import json
import ssl
from pathlib import Path
from typing import Any

from citykit.localcluster.certs import KeyPair


class BootstrapClient:
    """Talks to one API server on 127.0.0.1 as the admin user."""

    def __init__(self, port: int, ca_cert: Path, client: KeyPair, timeout: float = 5.0) -> None:
        self._port = port
        self._timeout = timeout
        self._tls = ssl.create_default_context(cafile=ca_cert)
        self._tls.load_cert_chain(client.cert, client.key)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        """Returns status and body text; connection failures raise OSError."""
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self._port, context=self._tls, timeout=self._timeout
        )
        try:
            payload = None if body is None else json.dumps(body)
            headers = {"Content-Type": "application/json"} if payload else {}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            connection.close()

    def get_json(self, path: str) -> Any:
        """The decoded object, or None when the API answers anything but 200."""
        status, text = self.request("GET", path)
        return json.loads(text) if status == 200 else None
