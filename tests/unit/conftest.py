"""Unit tests keep citykit's user cache (checked catalogues) in a folder of the session's own,
never in the user's home: the commands they run in process and in subprocesses find it through
CITYKIT_CACHE."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CITYKIT_CACHE", str(tmp_path_factory.mktemp("citykit-cache")))
        yield
