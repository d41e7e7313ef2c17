"""The shared audit-log reader counts what the API server rotated away, oldest first."""

from __future__ import annotations

import json
from pathlib import Path

from tests import audit


def write_events(path: Path, names: list[str]) -> None:
    path.write_text("".join(json.dumps({"objectRef": {"name": n}}) + "\n" for n in names))


def test_rotated_files_are_read_before_the_current_one_in_rotation_order(tmp_path: Path) -> None:
    write_events(tmp_path / "audit.log", ["e", "f"])
    write_events(tmp_path / "audit-2026-12-02T23-10-00.000.log", ["c", "d"])
    write_events(tmp_path / "audit-2026-12-02T22-00-00.000.log", ["a", "b"])
    (tmp_path / "other.log").write_text("not an audit event\n")

    names = [event["objectRef"]["name"] for event in audit.events(tmp_path / "audit.log")]

    assert names == ["a", "b", "c", "d", "e", "f"]
