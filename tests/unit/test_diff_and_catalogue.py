"""`citykit diff` between blueprint versions, and `citykit catalogue`: its versions side by
side, each loaded on its own, and `catalogue diff` between them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from citykit.core.load.errors import CitykitError
from citykit.core.model.catalogue import catalogue_versions, load_catalogue
from citykit.resources import catalogue_dir, example_cities_dir
from tests.conftest import run_cli


def test_diff_of_a_blueprint_with_itself_is_empty() -> None:
    city = str(example_cities_dir() / "tallinn.yaml")
    result = run_cli("diff", city, city)
    assert result.exit_code == 0
    assert result.output == "no changes\n"


def test_diff_names_added_removed_and_changed_initiatives(
    city_variant: Callable[..., Path],
) -> None:
    def next_version(data: dict[str, Any]) -> None:
        spec = data["spec"]
        spec["version"] = "1.3.0"
        removed = spec["initiatives"].pop()
        for item in spec["initiatives"]:
            item["dependsOn"] = [d for d in item.get("dependsOn", []) if d != removed["ref"]]
        spec["dataSharing"] = [
            a
            for a in spec.get("dataSharing", [])
            if removed["ref"] not in (a["producer"], a["consumer"])
        ]
        spec["kpiTargets"] = []
        spec["initiatives"][0]["gate"] = {"healthyFor": "77d", "approval": "manual"}

    old = example_cities_dir() / "tallinn.yaml"
    result = run_cli("diff", str(old), str(city_variant("tallinn", next_version)))
    assert result.exit_code == 0, result.output
    assert "~ version: 1.2.0 -> 1.3.0" in result.output
    assert "- initiative " in result.output
    first = result.output.split("~ initiative ")[1].splitlines()[0]
    assert "gate" in first
    assert "- apps/v1/Deployment city-tallinn/" in result.output
    assert "to delete" in result.output


def test_catalogue_list_filters_by_area() -> None:
    result = run_cli("catalogue", "list", "--area", "mobility")
    assert result.exit_code == 0
    assert "mobility.adaptive-traffic-signals" in result.output
    assert "government." not in result.output


def test_catalogue_show_prints_the_entry_and_refuses_unknown_ids() -> None:
    shown = run_cli("catalogue", "show", "environment.flood-sensing")
    assert shown.exit_code == 0
    assert "id: environment.flood-sensing" in shown.output
    missing = run_cli("catalogue", "show", "environment.nope")
    assert missing.exit_code == 1
    assert missing.output == (
        f"ID: unknown initiative 'environment.nope' in catalogue {catalogue_versions()[-1]}"
        " (see `citykit catalogue list`)\n"
    )


# ── catalogue versions side by side ─────────────────────────────────────────────────────


def test_the_catalogue_ships_versions_side_by_side_each_loaded_on_its_own() -> None:
    assert catalogue_versions() == ("1.0.0", "1.1.0", "1.2.0")
    old, new = load_catalogue("1.0.0"), load_catalogue("1.1.0")
    assert load_catalogue().version == "1.2.0"  # the newest, what new cities pin
    assert "government.city-digital-twin" not in old.entries
    assert "government.city-digital-twin" in new.entries
    assert old.platform_services["context-broker"].image == "fiware/orion-ld:1.6.0"
    assert new.platform_services["context-broker"].image == "fiware/orion-ld:1.7.1"
    operations = "government.integrated-operations-centre"
    assert old.entries[operations].deprecated is None
    deprecation = new.entries[operations].deprecated
    assert deprecation is not None
    assert (deprecation.since, deprecation.successor) == ("1.1.0", "government.city-digital-twin")
    assert new.entries[operations].source.endswith(
        "catalogue/1.1.0/government/" + operations.split(".")[1] + ".yaml"
    )


def test_a_blueprint_is_validated_against_the_catalogue_version_it_pins(
    city_variant: Callable[..., Path],
) -> None:
    def with_twin(pin: str) -> Callable[[dict[str, Any]], None]:
        def edit(data: dict[str, Any]) -> None:
            data["spec"]["catalogueVersion"] = pin
            data["spec"]["initiatives"].append(
                {
                    "ref": "government.city-digital-twin",
                    "gate": {"healthyFor": "1h", "approval": "auto"},
                }
            )

        return edit

    on_old = run_cli("validate", str(city_variant("tallinn", with_twin("1.0.0"))))
    assert on_old.exit_code == 1
    assert "unknown catalogue initiative 'government.city-digital-twin'" in on_old.output
    on_new = run_cli("validate", str(city_variant("tallinn", with_twin("1.1.0"))))
    assert on_new.exit_code == 0, on_new.output


def test_an_unknown_pin_is_located_and_names_the_versions_shipped(
    city_variant: Callable[..., Path],
) -> None:
    def pin(data: dict[str, Any]) -> None:
        data["spec"]["catalogueVersion"] = "1.5.0"

    path = city_variant("tallinn", pin)
    result = run_cli("validate", str(path))
    assert result.exit_code == 1
    line = next(line for line in path.read_text().splitlines() if "catalogueVersion" in line)
    number = path.read_text().splitlines().index(line) + 1
    assert result.output == (
        f"{path}:{number}:3: spec.catalogueVersion: blueprint pins catalogue 1.5.0, which this "
        "citykit does not ship (available: 1.0.0, 1.1.0, 1.2.0)\n"
    )


def test_catalogue_diff_prints_initiatives_images_parameters_and_notes() -> None:
    result = run_cli("catalogue", "diff", "1.0.0", "1.1.0")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "catalogue 1.0.0 -> 1.1.0"
    assert "+ initiative government.city-digital-twin: City digital twin" in lines
    deprecated = next(line for line in lines if line.startswith("! deprecated "))
    assert deprecated.startswith(
        "! deprecated government.integrated-operations-centre (since 1.1.0)"
    )
    assert deprecated.endswith("; successor: government.city-digital-twin")
    assert (
        "~ image platform service context-broker: fiware/orion-ld:1.6.0 -> fiware/orion-ld:1.7.1"
        in lines
    )
    assert (
        "~ image mobility.adaptive-traffic-signals dashboards: grafana/grafana:11.2.0 -> "
        "grafana/grafana:11.3.0" in lines
    )
    assert "+ parameter mobility.adaptive-traffic-signals cyclistGreenWave (default false)" in lines
    assert (
        "~ parameter mobility.adaptive-traffic-signals sampleIntervalSeconds: minimum 10 -> 15"
        in lines
    )
    notes = lines[lines.index("notes:") + 1 :]
    assert any(
        note.startswith("  catalogue 1.1.0: New initiative government.city-digital-twin")
        for note in notes
    )
    assert any(
        note.startswith("  mobility.adaptive-traffic-signals: sampleIntervalSeconds")
        for note in notes
    )


def test_catalogue_diff_of_a_version_with_itself_is_empty() -> None:
    result = run_cli("catalogue", "diff", "1.1.0", "1.1.0")
    assert result.output == "catalogue 1.1.0 -> 1.1.0\nno changes\n"


def test_catalogue_diff_refuses_a_version_not_shipped() -> None:
    result = run_cli("catalogue", "diff", "1.0.0", "2.0.0")
    assert result.exit_code == 1
    assert result.output == (
        "NEW: unknown catalogue version '2.0.0' (available: 1.0.0, 1.1.0, 1.2.0)\n"
    )


def test_catalogue_list_and_show_take_a_version() -> None:
    old = run_cli("catalogue", "list", "--area", "government", "--version", "1.0.0")
    assert "citykit catalogue 1.0.0" in old.output
    assert "city-digital-twin" not in old.output
    new = run_cli("catalogue", "list", "--area", "government")
    assert "citykit catalogue 1.2.0" in new.output
    assert "(deprecated: use government.city-digital-twin)" in new.output
    missing = run_cli("catalogue", "show", "government.city-digital-twin", "--version", "1.0.0")
    assert missing.exit_code == 1
    assert "unknown initiative 'government.city-digital-twin' in catalogue 1.0.0" in missing.output
    versions = run_cli("catalogue", "versions")
    assert versions.output == (
        "1.0.0: 44 initiatives\n1.1.0: 45 initiatives, 1 deprecated\n"
        "1.2.0: 134 initiatives, 1 deprecated\n"
    )


def shipped_copy(tmp_path: Path) -> Path:
    root = tmp_path / "catalogue"
    shutil.copytree(catalogue_dir() / "1.1.0", root / "1.1.0")
    return root


def test_an_index_in_the_wrong_version_folder_is_a_located_error(tmp_path: Path) -> None:
    root = shipped_copy(tmp_path)
    (root / "1.1.0").rename(root / "1.2.0")
    with pytest.raises(CitykitError) as error:
        load_catalogue("1.2.0", root)
    (problem,) = error.value.problems
    assert problem.path == "version"
    assert problem.message == "the index says 1.1.0 but sits in folder 1.2.0"
    assert problem.file.endswith("1.2.0/catalogue.yaml")


def test_a_successor_must_be_a_current_initiative_of_the_same_version(tmp_path: Path) -> None:
    root = shipped_copy(tmp_path)
    path = root / "1.1.0" / "government" / "integrated-operations-centre.yaml"
    path.write_text(
        path.read_text().replace(
            "successor: government.city-digital-twin", "successor: government.hologram-city"
        )
    )
    with pytest.raises(CitykitError) as error:
        load_catalogue("1.1.0", root)
    (problem,) = error.value.problems
    assert problem.path == "deprecated.successor"
    assert "'government.hologram-city' must be an initiative of this catalogue version" in (
        problem.message
    )


def test_a_removed_initiative_must_be_gone(tmp_path: Path) -> None:
    root = shipped_copy(tmp_path)
    index = root / "1.1.0" / "catalogue.yaml"
    index.write_text(
        index.read_text()
        + "removed:\n  mobility.bike-share: { reason: Run by the transit operator now. }\n"
    )
    with pytest.raises(
        CitykitError, match=r"mobility\.bike-share is listed as removed but is still here"
    ):
        load_catalogue("1.1.0", root)


def test_validate_says_when_a_newer_catalogue_version_is_out(
    city_variant: Callable[..., Path],
) -> None:
    old = run_cli("validate", "tallinn")
    assert old.exit_code == 0
    assert old.output.rstrip().endswith(
        "catalogue 1.0.0 (1.2.0 is out: `citykit catalogue diff 1.0.0 1.2.0`, `citykit upgrade`)"
    )

    def newest(data: dict[str, Any]) -> None:
        data["spec"]["catalogueVersion"] = "1.2.0"

    new = run_cli("validate", str(city_variant("tallinn", newest)))
    assert new.exit_code == 0, new.output
    assert new.output.rstrip().endswith("under gdpr, catalogue 1.2.0")
