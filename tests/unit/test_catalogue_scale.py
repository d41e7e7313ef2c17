"""Catalogue 1.2.0 at Hong Kong's scale, and the rules every catalogue version keeps: each
entry moves a KPI, each image is pinned to one release, and no two entries deploy the same
thing under different names."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from citykit.api.enums import Area
from citykit.core.load.errors import CitykitError
from citykit.core.model.catalogue import catalogue_versions, load_catalogue
from citykit.resources import catalogue_dir
from tests.conftest import run_cli

SCALED = "1.2.0"
MOVING_TAGS = {"latest", "stable", "edge", "nightly", "main", "master"}


def images(version: str) -> dict[str, str]:
    """Where each image of a version is used -> the image."""
    catalogue = load_catalogue(version)
    found = {
        f"{entry.id} {component.name}": str(component.spec["image"])
        for entry in catalogue.entries.values()
        for component in entry.components
    }
    found.update(
        {f"platform service {s.id}": s.image for s in catalogue.platform_services.values()}
    )
    return found


def test_catalogue_1_2_0_has_at_least_110_initiatives_and_12_in_every_area() -> None:
    catalogue = load_catalogue(SCALED)
    per_area = Counter(entry.area for entry in catalogue.entries.values())

    assert len(catalogue.entries) >= 110
    assert {area.value: per_area[area.value] >= 12 for area in Area} == {
        area.value: True for area in Area
    }


@pytest.mark.parametrize("version", catalogue_versions())
def test_every_image_of_every_version_is_pinned_to_a_release(version: str) -> None:
    unpinned = {
        where: image
        for where, image in images(version).items()
        if ":" not in image or image.rsplit(":", 1)[1].lower() in MOVING_TAGS
    }
    assert unpinned == {}


@pytest.mark.parametrize("version", catalogue_versions())
def test_every_entry_moves_a_kpi_of_its_index(version: str) -> None:
    catalogue = load_catalogue(version)
    assert [entry.id for entry in catalogue.entries.values() if not entry.kpis] == []


@pytest.mark.parametrize("version", catalogue_versions())
def test_no_two_entries_of_a_version_render_the_same_components_and_parameters(
    version: str,
) -> None:
    """Two ids with the same workloads and the same parameters would be one initiative
    deployed twice under different names."""

    def shape(entry_id: str) -> str:
        entry = load_catalogue(version).entries[entry_id]
        components = sorted(
            repr(sorted((k, repr(v)) for k, v in component.spec.items() if k != "description"))
            for component in entry.components
        )
        return repr((components, sorted(entry.parameter_schema["properties"])))

    ids = sorted(load_catalogue(version).entries)
    seen: dict[str, str] = {}
    twins = []
    for entry_id in ids:
        key = shape(entry_id)
        if key in seen:
            twins.append((seen[key], entry_id))
        seen.setdefault(key, entry_id)
    assert twins == []


def test_every_deprecated_entry_of_1_2_0_names_its_successor() -> None:
    catalogue = load_catalogue(SCALED)
    deprecated = {e.id: e.deprecated for e in catalogue.entries.values() if e.deprecated}
    assert deprecated, "1.2.0 still carries the deprecated operations centre"
    assert {
        id_: bool(d.successor and d.successor in catalogue.entries) for id_, d in deprecated.items()
    } == dict.fromkeys(deprecated, True)


def test_entries_carried_over_from_1_1_0_render_as_they_did() -> None:
    """Upgrading a city from 1.1.0 to 1.2.0 re-renders nothing it already runs."""
    old, new = load_catalogue("1.1.0"), load_catalogue(SCALED)
    changed = [
        id_
        for id_, entry in old.entries.items()
        if [c.spec for c in entry.components] != [c.spec for c in new.entries[id_].components]
        or entry.parameter_schema != new.entries[id_].parameter_schema
    ]
    assert changed == []
    assert {s.id: s.image for s in old.platform_services.values()} == {
        s.id: s.image for s in new.platform_services.values()
    }


def test_catalogue_diff_names_every_initiative_1_2_0_adds() -> None:
    old, new = load_catalogue("1.1.0"), load_catalogue(SCALED)
    result = run_cli("catalogue", "diff", "1.1.0", SCALED)

    assert result.exit_code == 0, result.output
    added = {
        line.split()[2].rstrip(":")
        for line in result.output.splitlines()
        if line.startswith("+ initiative ")
    }
    assert added == set(new.entries) - set(old.entries)
    assert not [line for line in result.output.splitlines() if line.startswith("~ image")]
    assert f"  catalogue {SCALED}: {len(added)} new initiatives" in result.output


# ── the schema refuses an entry that moves no KPI or runs an unpinned image ─────────────


def copied(tmp_path: Path) -> Path:
    root = tmp_path / "catalogue"
    shutil.copytree(catalogue_dir() / SCALED, root / SCALED)
    return root


def refused(root: Path) -> list[tuple[str, int, str, str]]:
    load_catalogue.cache_clear()
    try:
        with pytest.raises(CitykitError) as error:
            load_catalogue(SCALED, root)
    finally:
        load_catalogue.cache_clear()
    return [(Path(p.file).name, p.line, p.path, p.message) for p in error.value.problems]


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_an_entry_without_kpis_is_a_located_error(tmp_path: Path) -> None:
    root = copied(tmp_path)
    path = root / SCALED / "living" / "smart-lampposts.yaml"
    path.write_text(
        re.sub(r"^kpis: .*$", "kpis: []", path.read_text(), count=1, flags=re.MULTILINE)
    )

    ((name, line, field, message),) = refused(root)

    assert (name, line, field) == ("smart-lampposts.yaml", line_of(path, "kpis: []"), "kpis")
    assert message == "a list of 0 items; at least 1 allowed"


@pytest.mark.parametrize(
    "image", ["grafana/grafana", "grafana/grafana:latest", "grafana/grafana:stable"]
)
def test_an_entry_with_an_unpinned_image_is_a_located_error(tmp_path: Path, image: str) -> None:
    root = copied(tmp_path)
    path = root / SCALED / "mobility" / "traffic-data-analytics.yaml"
    path.write_text(path.read_text().replace("grafana/grafana:11.3.0", image))

    ((name, line, field, _),) = refused(root)

    assert (name, field) == ("traffic-data-analytics.yaml", "components[3].image")
    assert line == line_of(path, f"image: {image}")


def test_a_platform_service_on_latest_is_a_located_error(tmp_path: Path) -> None:
    root = copied(tmp_path)
    index = root / SCALED / "catalogue.yaml"
    index.write_text(index.read_text().replace("redis:7.4.0", "redis:latest"))

    ((name, line, field, _),) = refused(root)

    assert (name, line, field) == (
        "catalogue.yaml",
        line_of(index, "redis:latest"),
        "platformServices.cache.image",
    )
