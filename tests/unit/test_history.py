"""A city's history as ControllerRevisions: the format the operator writes, the rows
`citykit history` lists, and what `citykit rollback` re-applies.

The pure functions are tested on objects built by `revision_object` (the operator's writer);
the two commands on those objects served by a stand-in for the Kubernetes client's edge.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from citykit import kube
from citykit.core.load.errors import CitykitError
from citykit.core.rollout import history
from citykit.core.rollout.history import (
    Outcome,
    history_rows,
    needs_revision,
    next_revision,
    outcome_annotations,
    revision_object,
    rollback_manifest,
    rollback_target,
)
from tests.conftest import read_city, run_cli

T0 = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)


def spec(version: str, catalogue: str = "1.0.0") -> dict[str, Any]:
    data = copy.deepcopy(read_city("hangzhou")["spec"])
    data["version"], data["catalogueVersion"] = version, catalogue
    return data


def revision(
    number: int, version: str, catalogue: str, outcome: Outcome, reason: str | None = None
) -> dict[str, Any]:
    """A revision as the operator writes it, with its outcome settled."""
    made = revision_object(
        "hangzhou", spec(version, catalogue), number, T0 + datetime.timedelta(hours=number)
    )
    made["metadata"]["annotations"].update(
        {
            key: value
            for key, value in outcome_annotations(
                outcome, T0 + datetime.timedelta(hours=number, minutes=30), reason
            ).items()
            if value is not None
        }
    )
    return made


@pytest.fixture
def three() -> list[dict[str, Any]]:
    """Hangzhou 3.1.0 went Live, 3.2.0 (catalogue 1.1.0) went Live, 3.3.0 was rolled back."""
    return [
        revision(1, "3.1.0", "1.0.0", Outcome.LIVE),
        revision(2, "3.2.0", "1.1.0", Outcome.LIVE),
        revision(3, "3.3.0", "1.1.0", Outcome.ROLLED_BACK, "adaptive signals unready in xiaoshan"),
    ]


def test_a_revision_is_an_apps_v1_controller_revision_in_the_city_namespace() -> None:
    made = revision_object("hangzhou", spec("3.2.0", "1.1.0"), 2, T0, owner_uid="uid-1")
    assert made["apiVersion"] == "apps/v1"
    assert made["kind"] == "ControllerRevision"
    assert made["revision"] == 2
    assert made["data"] == {"spec": spec("3.2.0", "1.1.0")}
    metadata = made["metadata"]
    assert (metadata["name"], metadata["namespace"]) == ("hangzhou-r2", "city-hangzhou")
    assert metadata["labels"] == {
        "app.kubernetes.io/managed-by": "citykit",
        "citykit.io/blueprint": "hangzhou",
    }
    assert "citykit.io/city" not in metadata["labels"]  # the operator prunes those
    assert metadata["annotations"] == {
        "citykit.io/blueprint-version": "3.2.0",
        "citykit.io/catalogue-version": "1.1.0",
        "citykit.io/applied-at": "2026-12-01T09:00:00Z",
        "citykit.io/outcome": "Progressing",
        "citykit.io/outcome-at": "2026-12-01T09:00:00Z",
    }
    (owner,) = metadata["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("CityBlueprint", "hangzhou", "uid-1")


def test_history_rows_are_oldest_first_and_leave_other_revisions_out(
    three: list[dict[str, Any]],
) -> None:
    statefulset = {"kind": "ControllerRevision", "metadata": {"name": "db-7c9f", "labels": {}}}
    other_city = revision_object("tallinn", spec("1.0.0"), 9, T0)
    rows = history_rows("hangzhou", [three[2], statefulset, three[0], other_city, three[1]])
    assert [(r.revision, r.blueprint_version, r.catalogue_version, r.outcome) for r in rows] == [
        (1, "3.1.0", "1.0.0", "Live"),
        (2, "3.2.0", "1.1.0", "Live"),
        (3, "3.3.0", "1.1.0", "RolledBack"),
    ]
    assert rows[2].reason == "adaptive signals unready in xiaoshan"
    assert rows[0].applied_at == "2026-12-01T10:00:00Z"


def test_a_revision_without_annotations_still_lists_from_its_spec() -> None:
    bare = {
        "kind": "ControllerRevision",
        "metadata": {
            "name": "hangzhou-r1",
            "labels": {"citykit.io/blueprint": "hangzhou"},
            "creationTimestamp": "2026-12-01T08:00:00Z",
        },
        "revision": 1,
        "data": {"spec": spec("3.1.0")},
    }
    (row,) = history_rows("hangzhou", [bare])
    assert (row.blueprint_version, row.catalogue_version) == ("3.1.0", "1.0.0")
    assert (row.applied_at, row.outcome) == ("2026-12-01T08:00:00Z", "Unknown")


def test_a_new_revision_is_made_only_when_the_spec_differs_from_the_newest(
    three: list[dict[str, Any]],
) -> None:
    assert next_revision(three) == 4
    assert next_revision([]) == 1
    assert not needs_revision(three, spec("3.3.0", "1.1.0"))
    assert needs_revision(three, spec("3.2.0", "1.1.0"))  # a rollback re-applies: history too
    assert needs_revision([], spec("3.1.0"))


def test_rollback_by_default_goes_to_the_newest_earlier_revision_that_reached_live(
    three: list[dict[str, Any]],
) -> None:
    rows = history_rows("hangzhou", three)
    assert rollback_target("hangzhou", rows, spec("3.3.0", "1.1.0")).revision == 2
    # once 3.2.0 runs again, the default goes further back
    assert rollback_target("hangzhou", rows, spec("3.2.0", "1.1.0")).revision == 1


def test_rollback_to_a_version_or_a_revision_number(three: list[dict[str, Any]]) -> None:
    rows = history_rows("hangzhou", three)
    running = spec("3.3.0", "1.1.0")
    assert rollback_target("hangzhou", rows, running, "3.1.0").revision == 1
    assert rollback_target("hangzhou", rows, running, "r2").revision == 2
    assert rollback_target("hangzhou", rows, running, "2").revision == 2


def test_rollback_to_a_version_never_run_lists_the_history(three: list[dict[str, Any]]) -> None:
    with pytest.raises(CitykitError) as refused:
        rollback_target("hangzhou", history_rows("hangzhou", three), spec("3.3.0"), "2.0.0")
    assert str(refused.value) == (
        "--to: hangzhou never ran blueprint version '2.0.0' "
        "(history: 3.1.0 (r1), 3.2.0 (r2), 3.3.0 (r3))"
    )


def test_rollback_without_an_earlier_live_revision_asks_for_one() -> None:
    rows = history_rows("hangzhou", [revision(1, "3.1.0", "1.0.0", Outcome.DEGRADED)])
    with pytest.raises(CitykitError, match="no earlier revision of hangzhou reached Live"):
        rollback_target("hangzhou", rows, spec("3.1.0"))
    with pytest.raises(CitykitError, match="no history for hangzhou"):
        rollback_target("hangzhou", [], spec("3.1.0"))


def test_the_rollback_manifest_re_applies_the_spec_and_says_what_it_restores(
    three: list[dict[str, Any]],
) -> None:
    row = history_rows("hangzhou", three)[0]
    manifest = rollback_manifest("hangzhou", row)
    assert manifest["kind"] == "CityBlueprint"
    assert manifest["metadata"] == {
        "name": "hangzhou",
        "annotations": {"citykit.io/restored-from": "1"},
    }
    assert manifest["spec"] == spec("3.1.0", "1.0.0")


# ── the commands, on a stand-in for the cluster ────────────────────────────────────────


@dataclass
class FakeCluster:
    """What the commands read and write through citykit.kube, in memory."""

    revisions: list[dict[str, Any]]
    blueprint: dict[str, Any] | None
    replaced: list[dict[str, Any]] = field(default_factory=list)
    # a write someone makes to the blueprint between the command's read and its PUT
    meanwhile: dict[str, Any] | None = None

    # the dynamic client's two calls `rollback` makes itself
    @property
    def resources(self) -> FakeCluster:
        return self

    def get(self, **_: Any) -> str:
        return "cityblueprints"

    def replace(self, resource: str, body: dict[str, Any], name: str) -> None:
        if self.meanwhile is not None:
            assert self.blueprint is not None
            self.blueprint = {**self.blueprint, **self.meanwhile}
            self.meanwhile = None
        assert self.blueprint is not None
        if body["metadata"]["resourceVersion"] != self.blueprint["metadata"]["resourceVersion"]:
            from kubernetes.client.exceptions import ApiException

            raise ApiException(status=409, reason="Conflict")
        self.replaced.append(body)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch, three: list[dict[str, Any]]) -> Iterator[FakeCluster]:
    fake = FakeCluster(
        three,
        {
            "apiVersion": "citykit.io/v1alpha1",
            "kind": "CityBlueprint",
            "metadata": {"name": "hangzhou", "resourceVersion": "42"},
            "spec": spec("3.3.0", "1.1.0"),
        },
    )

    def list_objects(client: Any, api_version: str, kind: str, namespace: str) -> list[Any]:
        assert (api_version, kind) == ("apps/v1", "ControllerRevision")
        return fake.revisions if namespace == "city-hangzhou" else []

    def read(client: Any, api_version: str, kind: str, name: str) -> dict[str, Any]:
        assert kind == "CityBlueprint"
        if fake.blueprint is None or name != "hangzhou":
            from kubernetes.client.exceptions import ApiException

            raise ApiException(status=404, reason="Not Found")
        return fake.blueprint

    monkeypatch.setattr(kube, "dynamic_client", lambda *_: fake)
    monkeypatch.setattr(kube, "list_objects", list_objects)
    monkeypatch.setattr(kube, "read", read)
    yield fake


def test_history_lists_every_revision_and_marks_what_runs(cluster: FakeCluster) -> None:
    result = run_cli("history", "hangzhou")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "REVISION",
        "BLUEPRINT",
        "CATALOGUE",
        "APPLIED",
        "OUTCOME",
        "REASON",
    ]
    assert lines[1].split()[:5] == [
        "r1",
        "3.1.0",
        "1.0.0",
        "2026-12-01T10:00:00Z",
        "Live",
    ]
    assert lines[3].split()[:5] == ["*r3", "3.3.0", "1.1.0", "2026-12-01T12:00:00Z", "RolledBack"]
    assert "adaptive signals unready in xiaoshan" in lines[3]
    assert lines[-1] == "* what hangzhou runs now"


def test_history_of_a_city_not_in_the_cluster_is_refused(cluster: FakeCluster) -> None:
    result = run_cli("history", "atlantis")
    assert result.exit_code == 1
    assert result.output == "CITY: no CityBlueprint 'atlantis' in the cluster\n"


def test_rollback_replaces_the_spec_with_the_last_live_revision(cluster: FakeCluster) -> None:
    result = run_cli("rollback", "hangzhou")
    assert result.exit_code == 0, result.output
    (body,) = cluster.replaced
    assert body["spec"] == spec("3.2.0", "1.1.0")
    assert body["metadata"]["resourceVersion"] == "42"  # a change made meanwhile conflicts
    assert body["metadata"]["annotations"] == {"citykit.io/restored-from": "2"}
    assert "~ version: 3.3.0 -> 3.2.0" in result.output
    assert "rolled back to blueprint 3.2.0 (revision 2, catalogue 1.1.0)" in result.output


def test_a_status_written_while_rolling_back_does_not_stop_the_rollback(
    cluster: FakeCluster,
) -> None:
    """The operator writes the blueprint's status as a rollout moves: the PUT is made again
    at the new version, as the spec it replaces is still the one the diff was shown for."""
    assert cluster.blueprint is not None
    cluster.meanwhile = {
        "metadata": {"name": "hangzhou", "resourceVersion": "43"},
        "status": {"phase": "Degraded"},
    }
    result = run_cli("rollback", "hangzhou")
    assert result.exit_code == 0, result.output
    (body,) = cluster.replaced
    assert body["metadata"]["resourceVersion"] == "43"
    assert body["spec"] == spec("3.2.0", "1.1.0")


def test_a_spec_changed_while_rolling_back_is_not_overwritten(cluster: FakeCluster) -> None:
    cluster.meanwhile = {
        "metadata": {"name": "hangzhou", "resourceVersion": "43"},
        "spec": spec("3.4.0", "1.1.0"),
    }
    result = run_cli("rollback", "hangzhou")
    assert result.exit_code == 1
    assert cluster.replaced == []
    assert result.output.endswith(
        "CITY: cityblueprint/hangzhou changed while rolling back; run `citykit rollback` again\n"
    )


def test_rollback_to_a_version_across_catalogues(cluster: FakeCluster) -> None:
    result = run_cli("rollback", "hangzhou", "--to", "3.1.0")
    assert result.exit_code == 0, result.output
    assert cluster.replaced[0]["spec"]["catalogueVersion"] == "1.0.0"
    assert "~ catalogue_version: 1.1.0 -> 1.0.0" in result.output


def test_a_dry_run_rollback_writes_nothing(cluster: FakeCluster) -> None:
    result = run_cli("rollback", "hangzhou", "--dry-run")
    assert result.exit_code == 0
    assert cluster.replaced == []
    assert "would roll back to blueprint 3.2.0" in result.output


def test_rolling_back_to_what_runs_changes_nothing(cluster: FakeCluster) -> None:
    result = run_cli("rollback", "hangzhou", "--to", "3.3.0")
    assert result.exit_code == 0
    assert cluster.replaced == []
    assert "already runs blueprint 3.3.0 (revision 3); nothing to roll back" in result.output


def test_rollback_to_a_version_never_run_is_refused(cluster: FakeCluster) -> None:
    result = run_cli("rollback", "hangzhou", "--to", "9.0.0")
    assert result.exit_code == 1
    assert "hangzhou never ran blueprint version '9.0.0'" in result.output
    assert cluster.replaced == []


def test_the_format_is_written_down_where_the_operator_reads_it() -> None:
    doc = history.__doc__ or ""
    for key in (
        "citykit.io/blueprint:",
        "citykit.io/blueprint-version",
        "citykit.io/catalogue-version",
        "citykit.io/applied-at",
        "citykit.io/outcome:",
        "citykit.io/outcome-at",
        "citykit.io/outcome-reason",
        "citykit.io/restored-from",
    ):
        assert key in doc, key
