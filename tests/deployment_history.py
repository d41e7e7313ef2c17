"""What every Deployment of one namespace ever looked like, from a watch, so a rollout test can
say what ran on the way (a pilot, a revision, a wave that went back), not only what runs at
the end.

One watcher for every test that needs it. A watch is not a stream that lasts: the client
yields `None` for a keep-alive line, the server ends a watch at its timeout and answers
410 Gone when the resource version it resumes from has been compacted (a long rollout on a
busy machine sees all three), and a connection may drop. Each ends in a fresh list + watch,
whose ADDED events replay the current state, so the history stays whole.
"""

from __future__ import annotations

import threading
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ProtocolError

REVISION_LABEL = "citykit.io/revision"
WAVE_LABEL = "citykit.io/wave"


class DeploymentHistory:
    """The (revision, wave) labels each Deployment of `namespace` had, in order, consecutive
    repeats folded. Start it before the change it watches; `stop` it in a `finally`."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.labels: dict[str, list[tuple[str, str]]] = {}
        self.namespace = namespace
        self.watch = watch.Watch()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, args=(api,), daemon=True)
        self.thread.start()

    def _run(self, api: client.ApiClient) -> None:
        apps = client.AppsV1Api(api)
        while not self.stopped:
            try:
                for event in self.watch.stream(
                    apps.list_namespaced_deployment, self.namespace, timeout_seconds=300
                ):
                    if isinstance(event, dict) and event.get("type") in ("ADDED", "MODIFIED"):
                        self._record(event["object"])
            except ProtocolError:
                continue  # the connection dropped (or `stop` closed it): list and watch again
            except ApiException as error:
                if error.status != 410:
                    raise

    def _record(self, deployment: Any) -> None:
        labels = deployment.metadata.labels or {}
        seen = (labels.get(REVISION_LABEL, ""), labels.get(WAVE_LABEL, ""))
        history = self.labels.setdefault(deployment.metadata.name, [])
        if not history or history[-1] != seen:
            history.append(seen)

    def seen(self) -> set[tuple[str, str, str]]:
        """Every (name, revision, wave) any Deployment had."""
        every = list(self.labels.items())
        return {(name, *labels) for name, history in every for labels in history}

    def waves(self, name: str) -> list[str]:
        """The waves Deployment `name` went through, in order, repeats folded."""
        folded: list[str] = []
        for _, wave in self.labels.get(name, []):
            if not folded or folded[-1] != wave:
                folded.append(wave)
        return folded

    def went_back(self) -> dict[str, list[str]]:
        """Deployments that were citywide and then pilot again, with their waves."""
        went = {name: self.waves(name) for name in list(self.labels)}
        return {
            name: waves
            for name, waves in went.items()
            if "citywide" in waves and "pilot" in waves[waves.index("citywide") :]
        }

    def caught_up(self, api: client.ApiClient) -> bool:
        """The watch has seen each Deployment's labels as the API has them now."""
        deployments = client.AppsV1Api(api).list_namespaced_deployment(self.namespace).items
        return all(
            self.labels.get(item.metadata.name, [])[-1:]
            == [
                (
                    (item.metadata.labels or {}).get(REVISION_LABEL, ""),
                    (item.metadata.labels or {}).get(WAVE_LABEL, ""),
                )
            ]
            for item in deployments
        )

    def stop(self) -> None:
        self.stopped = True
        self.watch.stop()
        self.thread.join(timeout=10)
