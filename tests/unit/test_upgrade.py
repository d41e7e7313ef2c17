"""`citykit upgrade FILE --catalogue VERSION`: a city moves to a newer catalogue version.

Hangzhou (catalogue 1.0.0) is the happy path; variants of it are the refusals. Catalogues
with a removed initiative or parameter are written to a temporary folder beside the real
versions, and the pure upgrade is called with them.
"""

from __future__ import annotations

import difflib
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from citykit.core.load.errors import CitykitError
from citykit.core.load.source import load_file
from citykit.core.load.yamledit import replace_scalars
from citykit.core.model.catalogue import Catalogue, load_catalogue
from citykit.core.model.validation import validate, validate_file
from citykit.core.upgrade.blueprint import bumped_minor, upgrade_blueprint
from citykit.resources import catalogue_dir, example_cities_dir
from tests.conftest import LOCATED_LINE, run_cli

HANGZHOU = example_cities_dir() / "hangzhou.yaml"
TRAFFIC_SAMPLE_LINE = "        sampleIntervalSeconds: 30\n"  # adaptive-traffic-signals' own


@pytest.fixture
def hangzhou(tmp_path: Path) -> Path:
    """A copy of Hangzhou (blueprint 3.1.0 on catalogue 1.0.0) the test may change."""
    path = tmp_path / "hangzhou.yaml"
    shutil.copyfile(HANGZHOU, path)
    return path


def traffic_sampling(path: Path, seconds: int) -> None:
    """Set adaptive-traffic-signals' sampleIntervalSeconds in place (1.0.0 allows 10 and up,
    1.1.0 15 and up)."""
    lines = path.read_text().splitlines(keepends=True)
    start = lines.index("    - ref: mobility.adaptive-traffic-signals\n")
    at = lines.index(TRAFFIC_SAMPLE_LINE, start)
    lines[at] = f"        sampleIntervalSeconds: {seconds}\n"
    path.write_text("".join(lines))


def catalogue_with(tmp_path: Path, version: str, change: Any) -> Catalogue:
    """A copy of catalogue 1.1.0 as `version`, changed by `change(folder, index)`."""
    root = tmp_path / "catalogue"
    for shipped in ("1.0.0", "1.1.0"):
        shutil.copytree(catalogue_dir() / shipped, root / shipped)
    folder = root / version
    shutil.copytree(catalogue_dir() / "1.1.0", folder)
    index = yaml.safe_load((folder / "catalogue.yaml").read_text())
    index["version"] = version
    index["changes"] = [f"Test version {version}."]
    change(folder, index)
    (folder / "catalogue.yaml").write_text(yaml.safe_dump(index, sort_keys=False))
    return load_catalogue(version, root)


def test_hangzhou_upgrades_to_1_1_0_with_its_pin_and_a_minor_version_bump(
    hangzhou: Path,
) -> None:
    result = run_cli("upgrade", str(hangzhou), "--catalogue", "1.1.0")
    assert result.exit_code == 0, result.output
    spec = yaml.safe_load(hangzhou.read_text())["spec"]
    assert (spec["version"], spec["catalogueVersion"]) == ("3.2.0", "1.1.0")
    assert validate_file(hangzhou).catalogue.version == "1.1.0"
    assert "~ version: 3.1.0 -> 3.2.0" in result.output
    assert "~ catalogue_version: 1.0.0 -> 1.1.0" in result.output
    assert "~ apps/v1/Deployment city-hangzhou/mobility-adaptive-traffic-signals-optimiser" in (
        result.output
    )
    assert "upgraded: blueprint 3.1.0 -> 3.2.0, catalogue 1.0.0 -> 1.1.0" in result.output


def test_an_upgrade_changes_only_the_two_values_and_keeps_every_comment(hangzhou: Path) -> None:
    before = hangzhou.read_text()
    assert run_cli("upgrade", str(hangzhou), "--catalogue", "1.1.0").exit_code == 0
    after = hangzhou.read_text()
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        "-  version: 3.1.0",
        "-  catalogueVersion: 1.0.0",
        "+  version: 3.2.0",
        "+  catalogueVersion: 1.1.0",
    ]
    assert "# ── mobility ──" in after  # comments, flow mappings and Chinese names stay


def test_upgrading_to_the_version_already_pinned_changes_nothing(hangzhou: Path) -> None:
    assert run_cli("upgrade", str(hangzhou), "--catalogue", "1.1.0").exit_code == 0
    once = hangzhou.read_bytes()
    again = run_cli("upgrade", str(hangzhou), "--catalogue", "1.1.0")
    assert again.exit_code == 0
    assert "already on catalogue 1.1.0; nothing to change" in again.output
    assert hangzhou.read_bytes() == once


def test_a_deprecated_initiative_is_a_warning_that_names_its_successor(hangzhou: Path) -> None:
    result = run_cli("upgrade", str(hangzhou), "--catalogue", "1.1.0")
    assert result.exit_code == 0
    (warning,) = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert re.match(r"warning: .*hangzhou\.yaml:106:7: spec\.initiatives\[8\]\.ref: ", warning)
    assert "government.integrated-operations-centre is deprecated since catalogue 1.1.0" in (
        warning
    )
    assert warning.endswith("move to government.city-digital-twin")


def test_a_parameter_the_new_version_refuses_stops_the_upgrade_and_names_the_fix(
    hangzhou: Path,
) -> None:
    traffic_sampling(hangzhou, 10)
    before = hangzhou.read_bytes()
    result = run_cli("upgrade", str(hangzhou), "--catalogue", "1.1.0")
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert re.match(LOCATED_LINE, line)
    assert line.startswith(
        f"{hangzhou}:122:9: spec.initiatives[9].parameters.sampleIntervalSeconds: "
        "under catalogue 1.1.0, 10 is less than the minimum of 15; "
        "set a value catalogue 1.1.0 accepts, or remove it to take the default 60"
    )
    assert "IoT Agent JSON 3.4 batches detector counts per 15 s" in line  # the catalogue's note
    assert hangzhou.read_bytes() == before


def test_a_value_the_new_version_accepts_upgrades(hangzhou: Path) -> None:
    traffic_sampling(hangzhou, 15)
    assert run_cli("upgrade", str(hangzhou), "--catalogue", "1.1.0").exit_code == 0


def test_an_initiative_the_new_version_removed_stops_the_upgrade_and_names_the_successor(
    tmp_path: Path,
) -> None:
    def remove_the_operations_centre(folder: Path, index: dict[str, Any]) -> None:
        (folder / "government" / "integrated-operations-centre.yaml").unlink()
        index["removed"] = {
            "government.integrated-operations-centre": {
                "reason": "Replaced by the city digital twin.",
                "successor": "government.city-digital-twin",
            }
        }

    target = catalogue_with(tmp_path, "1.2.0", remove_the_operations_centre)
    current = validate_file(HANGZHOU)
    with pytest.raises(CitykitError) as refused:
        upgrade_blueprint(current, HANGZHOU.read_text(), target)
    (problem,) = refused.value.problems
    assert (problem.line, problem.column, problem.path) == (106, 7, "spec.initiatives[8].ref")
    assert problem.message == (
        "catalogue 1.2.0 no longer has government.integrated-operations-centre: Replaced by the "
        "city digital twin; replace it with government.city-digital-twin (`citykit catalogue "
        "show government.city-digital-twin --version 1.2.0`) before upgrading"
    )


def test_a_parameter_the_new_version_dropped_is_refused_with_remove_it(tmp_path: Path) -> None:
    def drop_map_refresh(folder: Path, index: dict[str, Any]) -> None:
        path = folder / "government" / "integrated-operations-centre.yaml"
        entry = yaml.safe_load(path.read_text())
        del entry["parameters"]["properties"]["mapRefreshSeconds"]
        path.write_text(yaml.safe_dump(entry, sort_keys=False))

    target = catalogue_with(tmp_path, "1.2.0", drop_map_refresh)
    with pytest.raises(CitykitError) as refused:
        upgrade_blueprint(validate_file(HANGZHOU), HANGZHOU.read_text(), target)
    (problem,) = refused.value.problems
    assert problem.path == "spec.initiatives[8].parameters.mapRefreshSeconds"
    assert "remove it: government.integrated-operations-centre has no parameter" in (
        problem.message
    )


def test_every_reason_to_refuse_is_reported_at_once(tmp_path: Path) -> None:
    def both(folder: Path, index: dict[str, Any]) -> None:
        (folder / "mobility" / "bike-share.yaml").unlink()
        index["removed"] = {"mobility.bike-share": {"reason": "Run by the transit operator."}}

    target = catalogue_with(tmp_path, "1.2.0", both)
    text = HANGZHOU.read_text().replace(
        TRAFFIC_SAMPLE_LINE, "        sampleIntervalSeconds: 10\n", 1
    )
    path = tmp_path / "hangzhou.yaml"
    path.write_text(text)
    with pytest.raises(CitykitError) as refused:
        upgrade_blueprint(validate_file(path), text, target)
    messages = [problem.message for problem in refused.value.problems]
    assert len(messages) == 2
    assert any(
        "no longer has mobility.bike-share: Run by the transit operator; remove it" in m
        for m in messages
    )
    assert any("10 is less than the minimum of 15" in m for m in messages)


def test_going_back_to_an_older_catalogue_is_refused(hangzhou: Path) -> None:
    assert run_cli("upgrade", str(hangzhou), "--catalogue", "1.1.0").exit_code == 0
    upgraded = hangzhou.read_bytes()
    result = run_cli("upgrade", str(hangzhou), "--catalogue", "1.0.0")
    assert result.exit_code == 1
    assert f"{hangzhou}:15:3: spec.catalogueVersion: pins catalogue 1.1.0, newer than 1.0.0" in (
        result.output
    )
    assert "citykit rollback" in result.output
    assert hangzhou.read_bytes() == upgraded


def test_an_unknown_catalogue_version_is_refused_naming_those_shipped(hangzhou: Path) -> None:
    before = hangzhou.read_bytes()
    result = run_cli("upgrade", str(hangzhou), "--catalogue", "1.9.0")
    assert result.exit_code == 1
    assert result.output == (
        "--catalogue: unknown catalogue version '1.9.0' (available: 1.0.0, 1.1.0, 1.2.0)\n"
    )
    assert hangzhou.read_bytes() == before


def test_a_dry_run_shows_the_diff_and_writes_nothing(hangzhou: Path) -> None:
    before = hangzhou.read_bytes()
    result = run_cli("upgrade", str(hangzhou), "--catalogue", "1.1.0", "--dry-run")
    assert result.exit_code == 0
    assert "~ catalogue_version: 1.0.0 -> 1.1.0" in result.output
    assert "would upgrade: blueprint 3.1.0 -> 3.2.0" in result.output
    assert hangzhou.read_bytes() == before


def test_a_file_that_does_not_validate_now_is_not_upgraded(hangzhou: Path) -> None:
    hangzhou.write_text(hangzhou.read_text().replace("jurisdiction: pipl", "jurisdiction: nowhere"))
    before = hangzhou.read_bytes()
    result = run_cli("upgrade", str(hangzhou), "--catalogue", "1.1.0")
    assert result.exit_code == 1
    assert "spec.jurisdiction: unknown jurisdiction profile 'nowhere'" in result.output
    assert hangzhou.read_bytes() == before


def test_the_upgraded_blueprint_runs_the_digital_twin(hangzhou: Path) -> None:
    assert run_cli("upgrade", str(hangzhou), "--catalogue", "1.1.0").exit_code == 0
    data = yaml.safe_load(hangzhou.read_text())
    data["spec"]["initiatives"].append(
        {
            "ref": "government.city-digital-twin",
            "pilotDistricts": ["shangcheng"],
            "gate": {"healthyFor": "10m", "approval": "manual"},
            "parameters": {"srid": 4547, "escalationMinutes": 3},
        }
    )
    hangzhou.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    plan = run_cli("plan", str(hangzhou))
    assert plan.exit_code == 0, plan.output
    assert "image: 3dcitydb/3dcitydb-pg:15-3.3-4.4.0" in plan.output
    assert "image: tumgis/3dcitydb-web-map:v1.9.1" in plan.output


@pytest.mark.parametrize(
    ("version", "bumped"),
    [("3.1.0", "3.2.0"), ("3.1.4", "3.2.0"), ("0.9.0", "0.10.0"), ("2.0.0-rc.1", "2.1.0")],
)
def test_the_blueprint_version_moves_up_one_minor(version: str, bumped: str) -> None:
    assert bumped_minor(version) == bumped


def test_values_are_replaced_in_their_own_quoting_and_nothing_else_moves() -> None:
    text = "spec: { version: \"1.0.0\", catalogueVersion: '1.0.0' }  # pinned\r\nother: 1.0.0\r\n"
    replaced = replace_scalars(
        "x.yaml",
        text,
        {("spec", "version"): "1.1.0", ("spec", "catalogueVersion"): "1.1.0"},
    )
    assert replaced == (
        "spec: { version: \"1.1.0\", catalogueVersion: '1.1.0' }  # pinned\r\nother: 1.0.0\r\n"
    )


def test_a_value_written_as_an_alias_is_refused_in_place() -> None:
    text = "common: &v 1.0.0\nspec:\n  catalogueVersion: *v\n"
    with pytest.raises(CitykitError) as refused:
        replace_scalars("x.yaml", text, {("spec", "catalogueVersion"): "1.1.0"})
    (problem,) = refused.value.problems
    assert (problem.line, problem.column, problem.path) == (3, 21, "spec.catalogueVersion")


def test_the_upgraded_text_validates_as_the_file_would(hangzhou: Path) -> None:
    current = validate(load_file(hangzhou))
    result = upgrade_blueprint(current, hangzhou.read_text(), load_catalogue("1.1.0"))
    assert result.changed
    assert result.after.blueprint.version == "3.2.0"
    assert result.after.document.source == str(hangzhou)


def test_an_example_city_named_is_never_written(tmp_path: Path) -> None:
    before = HANGZHOU.read_bytes()
    result = run_cli("upgrade", "hangzhou", "--catalogue", "1.1.0", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert "'hangzhou' is an example city citykit ships, never written to" in result.output
    assert "citykit new-city NAME --from hangzhou" in result.output
    assert HANGZHOU.read_bytes() == before
    dry = run_cli(
        "upgrade", "hangzhou", "--catalogue", "1.1.0", "--dir", str(tmp_path), "--dry-run"
    )
    assert dry.exit_code == 0
    assert HANGZHOU.read_bytes() == before


def test_a_city_of_the_project_folder_is_upgraded_by_name(tmp_path: Path) -> None:
    own = tmp_path / "blueprints" / "cities" / "hangzhou.yaml"
    own.parent.mkdir(parents=True)
    shutil.copyfile(HANGZHOU, own)
    result = run_cli("upgrade", "hangzhou", "--catalogue", "1.1.0", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "catalogueVersion: 1.1.0" in own.read_text()
    assert HANGZHOU.read_text().count("catalogueVersion: 1.0.0") == 1


def test_a_diff_across_several_versions_carries_every_version_notes_and_removals(
    tmp_path: Path,
) -> None:
    from citykit.core.upgrade.catalogue_diff import diff_catalogues

    def remove_bike_share(folder: Path, index: dict[str, Any]) -> None:
        (folder / "mobility" / "bike-share.yaml").unlink()
        index["removed"] = {"mobility.bike-share": {"reason": "Run by the transit operator."}}

    newest = catalogue_with(tmp_path, "1.2.0", remove_bike_share)
    root = tmp_path / "catalogue"
    result = diff_catalogues(load_catalogue("1.0.0", root), newest, [load_catalogue("1.1.0", root)])
    assert [entry.id for entry in result.added] == ["government.city-digital-twin"]
    ((removed, removal),) = result.removed
    assert removed == "mobility.bike-share"
    assert removal is not None and removal.reason == "Run by the transit operator."
    wheres = {where for where, _ in result.notes}
    assert {"catalogue 1.1.0", "catalogue 1.2.0"} <= wheres
    backwards = diff_catalogues(newest, load_catalogue("1.0.0", root))
    assert backwards.notes == ()  # going back carries no notes
    assert backwards.removed == (("government.city-digital-twin", None),)
    assert [entry.id for entry in backwards.added] == ["mobility.bike-share"]
