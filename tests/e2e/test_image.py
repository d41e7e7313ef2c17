"""The operator image as a city receives it: built twice from one checkout it is the same
bytes, and it holds only what the operator runs (no shell, compiler or pip cache), as a
numeric non-root user, under the size goal. tests/integration/test_real_node.py runs it."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from citykit.toolchain.image import USER_ID, archive_name, build_image, image_reference
from citykit.toolchain.locations import cache_root

SIZE_GOAL = 250_000_000  # bytes unpacked
# Shells, compilers, pip and caches: nothing the operator runs, everything an attacker likes.
NOT_AT_RUN_TIME = (
    *("/bin/sh", "/bin/bash", "/bin/dash", "/usr/bin/gcc", "/usr/bin/cc", "/cc1"),
    *("/pip/", "/.cache/"),
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One build reusing the cached Debian and package layers (as the session's background
    build made them), one through the CLI with --no-cache: unpacked and downloaded anew."""
    cached = build_image(tmp_path_factory.mktemp("cached"), cache_root() / "image", print)
    fresh_dir = tmp_path_factory.mktemp("fresh")
    done = subprocess.run(
        [sys.executable, "-m", "citykit", "image", "build", "--no-cache", "-o", str(fresh_dir)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(fresh_dir / archive_name())
    return cached.archive, fresh_dir / archive_name()


def image_files(archive: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The image's config, and every path in its layers with its size."""
    with tarfile.open(archive) as outer:
        [manifest] = json.loads(outer.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(outer.extractfile(manifest["Config"]).read())  # type: ignore[union-attr]
        files: dict[str, int] = {}
        for layer in manifest["Layers"]:
            data = outer.extractfile(layer).read()  # type: ignore[union-attr]
            with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                files.update({member.name: member.size for member in inner})
    assert manifest["RepoTags"] == [image_reference()]
    return config, files


def test_two_builds_of_one_checkout_are_the_same_bytes(archives: tuple[Path, Path]) -> None:
    cached, fresh = archives

    assert sha256(cached) == sha256(fresh)


def test_the_image_runs_citykit_as_a_numeric_non_root_user(archives: tuple[Path, Path]) -> None:
    config, files = image_files(archives[0])

    assert config["config"]["User"] == f"{USER_ID}:{USER_ID}"
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/citykit"]
    assert "usr/local/bin/citykit" in files
    assert "usr/bin/python3.11" in files
    assert any(name.endswith("citykit/controller/runner.py") for name in files)
    assert config["created"] == "1970-01-01T00:00:00Z"


def test_the_image_has_no_shell_compiler_or_pip_cache_and_is_small(
    archives: tuple[Path, Path],
) -> None:
    _, files = image_files(archives[0])
    unwanted = [name for name in files if any(part in f"/{name}" for part in NOT_AT_RUN_TIME)]

    assert unwanted == []
    assert sum(files.values()) < SIZE_GOAL
