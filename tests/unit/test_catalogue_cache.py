"""A checked catalogue is kept in the user's cache and read back by the next command: the same
catalogue, unless any byte it was checked from changed; a damaged copy or a cache that cannot be
written never changes an answer or stops a command."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from citykit.cli.cataloguecache import MAX_FILES, UserCatalogueCache
from citykit.core.load.errors import CitykitError, Problem
from citykit.core.model import catalogue as catalogue_module
from citykit.core.model.catalogue import Catalogue, load_catalogue
from citykit.core.model.cataloguestore import keep_catalogues_in
from citykit.resources import catalogue_dir, example_cities_dir
from tests.conftest import run_cli

VERSION = "1.2.0"


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    """Each load as in a new process: nothing remembered in memory, no place given."""
    load_catalogue.cache_clear()
    keep_catalogues_in(None)
    yield
    load_catalogue.cache_clear()
    keep_catalogues_in(None)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A city's own copy of catalogue 1.2.0, which it may edit."""
    copied = tmp_path / "catalogue"
    shutil.copytree(catalogue_dir() / VERSION, copied / VERSION)
    return copied


@pytest.fixture
def cache(tmp_path: Path) -> UserCatalogueCache:
    return UserCatalogueCache(tmp_path / "cache")


def load(root: Path, cache: UserCatalogueCache | None) -> Catalogue:
    """Catalogue VERSION under `root` as a new `citykit` process loads it."""
    load_catalogue.cache_clear()
    keep_catalogues_in(cache)
    return load_catalogue(VERSION, root)


def problems(root: Path, cache: UserCatalogueCache | None) -> list[Problem]:
    with pytest.raises(CitykitError) as error:
        load(root, cache)
    return error.value.problems


def kept_files(cache: UserCatalogueCache) -> list[Path]:
    folder = cache.folder()
    assert folder is not None
    return sorted(folder.glob("*.json"))


def never_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("checked again although a kept copy was good")

    monkeypatch.setattr(catalogue_module, "_checked", refuse)


def test_a_kept_catalogue_equals_a_freshly_checked_one(
    root: Path, cache: UserCatalogueCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = load(root, None)
    first = load(root, cache)  # checked, then kept
    assert len(kept_files(cache)) == 1
    never_checked(monkeypatch)

    kept = load(root, cache)

    assert kept == first == fresh
    assert repr(kept) == repr(fresh)  # the same types too: 1 and 1.0, true and 1
    assert [entry.source for entry in kept.entries.values()] == [
        entry.source for entry in fresh.entries.values()
    ]


def test_an_edited_entry_is_checked_again(root: Path, cache: UserCatalogueCache) -> None:
    load(root, cache)
    path = root / VERSION / "living" / "smart-lampposts.yaml"
    edited = re.sub(r"^title: .*$", "title: Edited", path.read_text(), count=1, flags=re.M)
    path.write_text(edited)

    assert load(root, cache).entries["living.smart-lampposts"].title == "Edited"


def test_an_edit_that_breaks_an_entry_is_reported_every_time(
    root: Path, cache: UserCatalogueCache
) -> None:
    load(root, cache)
    path = root / VERSION / "living" / "smart-lampposts.yaml"
    path.write_text(re.sub(r"^kpis: .*$", "kpis: []", path.read_text(), count=1, flags=re.M))
    expected = problems(root, None)

    assert problems(root, cache) == expected
    assert problems(root, cache) == expected  # a catalogue with problems is never kept
    assert [(Path(p.file).name, p.path) for p in expected] == [("smart-lampposts.yaml", "kpis")]


def test_an_added_entry_file_is_checked_again(root: Path, cache: UserCatalogueCache) -> None:
    load(root, cache)
    shutil.copy(
        root / VERSION / "living" / "smart-lampposts.yaml",
        root / VERSION / "living" / "copied-lampposts.yaml",
    )

    assert [p.path for p in problems(root, cache)] == ["id"]


def test_a_damaged_kept_copy_is_passed_over_and_replaced(
    root: Path, cache: UserCatalogueCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = load(root, None)
    load(root, cache)
    (kept,) = kept_files(cache)
    whole = kept.read_bytes()
    damaged = {
        "truncated": whole[: len(whole) // 2],
        "empty": b"",
        "a byte changed": whole.replace(b'"title":"', b'"title":"X', 1),
        "not text": b"\xff\xfe\x00garbage",
        "no checksum": whole.partition(b"\n")[2],
    }
    for what, data in damaged.items():
        kept.write_bytes(data)
        assert load(root, cache) == fresh, what
        assert kept.read_bytes() == whole, what  # written anew, whole
    never_checked(monkeypatch)
    assert load(root, cache) == fresh


def test_a_kept_copy_of_another_shape_is_passed_over(root: Path, cache: UserCatalogueCache) -> None:
    """A copy whose checksum holds but whose content is not a catalogue (a later citykit's
    format under the same name, say) is checked again, not trusted."""
    fresh = load(root, None)
    load(root, cache)
    (kept,) = kept_files(cache)
    key = re.search(rb'"key":"([0-9a-f]+)"', kept.read_bytes())
    assert key is not None
    for body in ('{"format":1,"key":"%s","index":[],"entries":7}', '{"format":1,"key":"%s"}'):
        text = body % key.group(1).decode()
        kept.write_text(f"{catalogue_module.hashlib.sha256(text.encode()).hexdigest()}\n{text}")
        assert load(root, cache) == fresh


def test_a_cache_folder_that_cannot_be_made_is_passed_over(root: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    cache = UserCatalogueCache(tmp_path / "a-file" / "cache")

    assert load(root, cache) == load(root, None)
    assert load(root, cache) == load(root, None)


def test_validate_keeps_the_catalogue_in_the_user_cache_and_answers_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYKIT_CACHE", str(tmp_path / "cache"))
    city = str(example_cities_dir() / "hong-kong.yaml")
    first = run_cli("validate", city)
    load_catalogue.cache_clear()

    second = run_cli("validate", city)

    assert first.exit_code == second.exit_code == 0
    assert first.output == second.output
    assert [path.name.split("-")[0] for path in (tmp_path / "cache" / "catalogue").iterdir()] == [
        VERSION
    ]


def test_validate_with_an_unwritable_cache_still_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("CITYKIT_CACHE", str(tmp_path / "a-file" / "cache"))

    result = run_cli("validate", str(example_cities_dir() / "hong-kong.yaml"))

    assert result.exit_code == 0
    assert ": ok — Hong Kong" in result.output


def test_without_a_home_folder_nothing_is_kept(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CITYKIT_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", no_home)
    cache = UserCatalogueCache()

    assert cache.folder() is None
    assert load(root, cache) == load(root, None)


def test_a_relative_cache_folder_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Else a command would write a cache into whichever folder it runs in."""
    monkeypatch.delenv("CITYKIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")

    assert UserCatalogueCache().folder() is None


def test_the_cache_keeps_at_most_max_files(cache: UserCatalogueCache) -> None:
    for number in range(MAX_FILES + 3):
        cache.write(f"{number}", "{}")

    assert len(kept_files(cache)) == MAX_FILES
