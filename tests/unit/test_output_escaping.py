"""Every line citykit prints for a person is one honest line (issue 24, item 5): a path or a
text from a user's file or argument holding a terminal escape (`ESC ] 0 ; owned BEL` retitles
the window), a bidi override (U+202E) or a zero-width character is printed escaped, on
success lines as on error lines, on standard output as on standard error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from citykit.cli.blueprint import echo_blueprint_diff, echo_catalogue_diff
from citykit.core.model.catalogue import Removal
from citykit.core.render.diff import BlueprintDiff, RevisionChange
from citykit.core.upgrade.catalogue_diff import CatalogueDiff
from citykit.resources import example_cities_dir
from tests.conftest import run_cli

OSC = "\x1b]0;owned\x07"  # a path holds it
OSC_SHOWN = "\\x1b]0;owned\\x07"
RLO = "\u202e"  # a city name holds it (the schema refuses only C0/C1 controls)
RLO_SHOWN = "\\u202e"
TALLINN = example_cities_dir() / "tallinn.yaml"
KPI_REPORT = (
    "apiVersion: citykit.io/v1alpha1\nkind: KpiReport\nmetadata:\n  name: r\nspec:\n"
    "  kpi: pm25-annual-mean\n  date: '2025-01-01'\n  value: 10\n  source: a sensor\n"
)


def hostile_city(folder: Path, name: str = "city.yaml") -> Path:
    """Tallinn's blueprint under a folder whose name holds OSC, its city name holding RLO."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(TALLINN.read_text().replace("name: Tallinn\n", f"name: Tall{RLO}inn\n"))
    return path


def _validate(tmp: Path) -> tuple[str, ...]:
    return ("validate", str(hostile_city(tmp / OSC)))


def _kpi_check(tmp: Path) -> tuple[str, ...]:
    folder = tmp / OSC
    folder.mkdir()
    (folder / "report.yaml").write_text(KPI_REPORT)
    return ("kpi", "check", str(folder / "report.yaml"))


def _report(tmp: Path) -> tuple[str, ...]:
    city = hostile_city(tmp / OSC)
    return ("report", "--from-file", str(city), "-o", str(city.parent / f"r{RLO}.html"))


def _upgrade_dry_run(tmp: Path) -> tuple[str, ...]:
    return ("upgrade", str(hostile_city(tmp / OSC)), "--catalogue", "1.2.0", "--dry-run")


def _upgrade(tmp: Path) -> tuple[str, ...]:
    return ("upgrade", str(hostile_city(tmp / OSC)), "--catalogue", "1.2.0")


def _new_city(tmp: Path) -> tuple[str, ...]:
    project = str(tmp / OSC)
    return ("new-city", "nairobi", "--jurisdiction", "gdpr", "--country", "EE", "--dir", project)


def _diff(tmp: Path) -> tuple[str, ...]:
    old = hostile_city(tmp / OSC, "old.yaml")
    new = hostile_city(tmp / OSC, "new.yaml")
    new.write_text(new.read_text().replace("catalogueVersion: 1.0.0", "catalogueVersion: 1.2.0"))
    return ("diff", str(old), str(new))


# command: (its arguments, given the test's folder; what must show escaped, if it prints any)
COMMANDS: dict[str, tuple[Callable[[Path], tuple[str, ...]], tuple[str, ...]]] = {
    "validate": (_validate, (OSC_SHOWN, RLO_SHOWN)),
    "kpi check": (_kpi_check, (OSC_SHOWN,)),
    "report --from-file -o": (_report, (OSC_SHOWN, RLO_SHOWN)),
    "upgrade --dry-run": (_upgrade_dry_run, (OSC_SHOWN,)),
    "upgrade": (_upgrade, (OSC_SHOWN,)),
    "new-city": (_new_city, (OSC_SHOWN,)),
    # diff prints no path, and no blueprint text the schema leaves free: escaped if it did
    "diff": (_diff, ()),
}


def unprintable(output: str) -> list[str]:
    """The lines of `output` holding a character that is not printable."""
    return [line for line in output.split("\n") if not line.isprintable()]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_line_a_command_prints_is_printable(tmp_path: Path, command: str) -> None:
    arguments, escaped = COMMANDS[command]
    result = run_cli(*arguments(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout
    assert unprintable(result.stdout) == []
    assert unprintable(result.stderr) == []
    for shown in escaped:
        assert shown in result.stdout, result.stdout


def test_a_blueprint_diff_prints_hostile_values_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    echo_blueprint_diff(
        BlueprintDiff(
            settings={"city": (f"Tall{RLO}inn", f"x{OSC}")},
            added=(f"new{OSC}",),
            removed=(f"old{RLO}",),
            changed={f"ref{OSC}": ("parameters",)},
            create=(("ConfigMap", f"ns{RLO}", "name"),),
            update=(),
            delete=(),
            upgraded=(RevisionChange(f"ref{OSC}", "a", "b", (f"district{RLO}",)),),
        )
    )
    out, err = capsys.readouterr()
    assert unprintable(out + err) == []
    assert OSC_SHOWN in out and RLO_SHOWN in out


def test_a_catalogue_diff_prints_hostile_values_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    echo_catalogue_diff(
        CatalogueDiff(
            old="1.0.0",
            new="1.2.0",
            added=(),
            removed=((f"gone{OSC}", Removal(f"because{RLO}", None)),),
            deprecated=(),
            images=(),
            parameters=(),
            fields={},
            services=(),
            kpis=(),
            notes=(("1.2.0", f"a note\nforging{OSC} a line"),),
        )
    )
    out, err = capsys.readouterr()
    assert unprintable(out + err) == []
    assert OSC_SHOWN in out and RLO_SHOWN in out and "a note\\nforging" in out
