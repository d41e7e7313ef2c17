"""The suite runs on two pytest-xdist workers (pyproject's addopts): the modules on the
session's local cluster go, whole and in file order, to one worker (tests/conftest.py), since
they share that cluster and a module's tests build on the ones before; each that starts a
cluster of its own goes whole to one worker. If grouping ever stops (pytest 9.2 with xdist
3.8 silently ignores `xdist_group`), those modules would be split across workers, each
starting a cluster of its own and running tests out of order."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import tests.conftest
from tests.conftest import OWN_CLUSTER, SHARED_CLUSTER, pytest_collection_modifyitems

GROUPED = """
import pytest

@pytest.mark.xdist_group("together")
@pytest.mark.parametrize("n", range(4))
def test_grouped(n):
    pass
"""
FREE = """
import pytest

@pytest.mark.parametrize("n", range(8))
def test_free(n):
    pass
"""


def test_xdist_keeps_a_group_on_one_worker(tmp_path: Path) -> None:
    for name, text in (("test_a.py", GROUPED), ("test_b.py", GROUPED), ("test_c.py", FREE)):
        (tmp_path / name).write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-n", "2", "--dist", "loadgroup", "-v"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    workers = {
        test: worker
        for worker, test in re.findall(r"^\[(gw\d)\] .*?PASSED (\S+)", run.stdout, re.MULTILINE)
    }
    grouped = {test: worker for test, worker in workers.items() if "test_grouped" in test}
    assert len(grouped) == 8, run.stdout
    assert all(test.endswith("@together") for test in grouped), grouped
    assert len(set(grouped.values())) == 1, grouped


@dataclass
class FakeItem:
    """What the grouping hook reads of a collected test."""

    path: Path
    fixturenames: tuple[str, ...]
    module: Any = None
    marks: list[str] = field(default_factory=list)

    def add_marker(self, mark: pytest.MarkDecorator) -> None:
        self.marks.append(mark.args[0])


@dataclass
class FakeConfig:
    workerinput: dict[str, str] = field(default_factory=lambda: {"workerid": "gw0"})


@pytest.mark.parametrize("warm", [True, False])
def test_the_shared_cluster_goes_first_and_each_own_cluster_before_the_rest_when_warm(
    warm: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tests.conftest, "cluster_built", lambda: warm)
    unit = FakeItem(Path("tests/unit/test_x.py"), ())
    first = FakeItem(Path("tests/integration/test_a.py"), ("kube_cluster",))
    first_plain = FakeItem(Path("tests/integration/test_a.py"), ())
    faults = FakeItem(Path("tests/integration/test_faults.py"), ("own_cluster",))
    node = FakeItem(Path("tests/integration/test_real_node.py"), ("control_plane",))
    render = FakeItem(Path("tests/integration/test_render.py"), ("helm",))
    second = FakeItem(Path("tests/integration/test_b.py"), ("control_plane", "kube_cluster"))
    items: list[Any] = [unit, first, first_plain, faults, node, render, second]
    pytest_collection_modifyitems(FakeConfig(), items)  # type: ignore[arg-type]
    own, rest = [faults, node], [unit, render]
    assert items == [first, first_plain, second, *(own + rest if warm else rest + own)]
    assert [item.marks for item in (first, first_plain, second, unit, render, faults, node)] == [
        [SHARED_CLUSTER],
        [SHARED_CLUSTER],
        [SHARED_CLUSTER],
        [],
        [],
        [f"{OWN_CLUSTER}:test_faults"],
        [f"{OWN_CLUSTER}:test_real_node"],
    ]


def test_one_process_keeps_the_file_order() -> None:
    unit = FakeItem(Path("tests/unit/test_x.py"), ())
    cluster = FakeItem(Path("tests/integration/test_a.py"), ("kube_cluster",))
    items: list[Any] = [unit, cluster]

    class OneProcess:
        pass

    pytest_collection_modifyitems(OneProcess(), items)  # type: ignore[arg-type]
    assert items == [unit, cluster] and cluster.marks == []
