"""Hostile and unlucky files (issue 24): every command that reads or writes a user's file, as
table tests. Each case ends in one line per problem and exit 1 (or works), and leaves every
file as it was except the one the command was asked to write, written whole.

Readers: validate, plan, diff (either side), kpi check, report --from-file, upgrade, images.
Writers: report -o, upgrade, new-city. A property test drives the one
writer (`citykit.cli.userfiles`) through random sequences of write failures.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citykit.cli import userfiles
from citykit.cli.main import main
from citykit.core.load.errors import CitykitError
from citykit.core.load.source import MAX_FILE_BYTES
from citykit.resources import example_cities_dir
from tests.conftest import run_cli

TALLINN = example_cities_dir() / "tallinn.yaml"
# One problem per line: `FILE:LINE:COL: field: message`, or `ARGUMENT: message` for one that
# is about an argument rather than a place in a file.
ONE_LINE = re.compile(r"^([^:\n]+:\d+:\d+: \S+: .+|[-A-Za-z/|]+: .+)$")


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file and link under `root`, by relative path: bytes, or `-> target` for a link."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[name] = path.read_bytes()
        elif path.is_dir():
            found[name] = "folder"
    return found


def refused(result: Result) -> list[str]:
    """Exit 1, no traceback, and every line of the errors one located problem (an upgrade
    shows its diff on standard output before it writes)."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.rstrip("\n").split("\n")
    assert lines and all(ONE_LINE.match(line) for line in lines), result.output
    return lines


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """RLIMIT_FSIZE for this process: a write past `limit` bytes fails with EFBIG (Python
    ignores SIGXFSZ), as on a quota or a full small disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


class Locks:
    """Folders made read-only (0555) for one test. Root is not bound by permissions, so
    under root the refusal the kernel would give is given by the two calls that create a
    file or folder in a folder (`tempfile.mkstemp`, `os.mkdir`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folders: set[Path] = set()
        if os.geteuid() != 0:
            return
        real_mkstemp, real_mkdir = tempfile.mkstemp, os.mkdir

        def mkstemp(*args: Any, dir: str | None = None, **kwargs: Any) -> tuple[int, str]:
            if self.locked(dir):
                raise PermissionError(errno.EACCES, "Permission denied", dir)
            return real_mkstemp(*args, dir=dir, **kwargs)  # type: ignore[no-any-return]

        def mkdir(path: str | os.PathLike[str], *args: Any, **kwargs: Any) -> None:
            if self.locked(Path(path).parent):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
        monkeypatch.setattr(os, "mkdir", mkdir)

    def locked(self, folder: str | os.PathLike[str] | None) -> bool:
        return Path(os.path.realpath(folder or ".")) in self.folders

    def lock(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o555)
        self.folders.add(Path(os.path.realpath(folder)))
        return folder

    def unlock(self, folder: Path) -> None:
        folder.chmod(0o755)
        self.folders.discard(Path(os.path.realpath(folder)))


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[Locks]:
    locks = Locks(monkeypatch)
    yield locks
    for folder in list(locks.folders):
        locks.unlock(folder)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that fills while a file is written: flushing it to disk fails with ENOSPC (as
    it does on a full disk with delayed allocation, or over NFS)."""

    def fsync(handle: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)


# Readers: each command given a hostile file where it expects a blueprint (or a KpiReport).

READERS: dict[str, Callable[[str, Path], tuple[str, ...]]] = {
    "validate": lambda file, tmp: ("validate", file),
    "plan": lambda file, tmp: ("plan", file),
    "diff OLD": lambda file, tmp: ("diff", file, str(TALLINN)),
    "diff NEW": lambda file, tmp: ("diff", str(TALLINN), file),
    "kpi check": lambda file, tmp: ("kpi", "check", file),
    "report --from-file": lambda file, tmp: (
        "report",
        "--from-file",
        file,
        "-o",
        str(tmp / "out.html"),
    ),
    "upgrade": lambda file, tmp: ("upgrade", file, "--catalogue", "1.2.0"),
    "images": lambda file, tmp: ("images", file),
}


def _write(tmp: Path, name: str, content: bytes) -> str:
    path = tmp / name
    path.write_bytes(content)
    return str(path)


def _link(tmp: Path, target: str) -> str:
    link = tmp / "link.yaml"
    link.symlink_to(target)
    return str(link)


# Each case: (the argument, given the test's folder), and what the one line says.
READ_CASES: dict[str, tuple[Callable[[Path], str], str]] = {
    "malformed": (
        lambda tmp: _write(tmp, "bad.yaml", b"apiVersion: v1\nspec: [unclosed\n"),
        r"invalid YAML",
    ),
    "huge": (
        lambda tmp: _write(tmp, "huge.yaml", b"# padding\n" * (MAX_FILE_BYTES // 10 + 1)),
        r"file is 2,097,160 bytes; citykit reads at most 2,097,152",
    ),
    "/dev/zero": (
        lambda tmp: "/dev/zero",
        r"/dev/zero:1:1: \(document\): input is more than 2,097,152 bytes",
    ),
    "binary": (lambda tmp: _write(tmp, "binary.yaml", bytes(range(256))), r"binary data"),
    "missing": (lambda tmp: str(tmp / "nowhere.yaml"), r"cannot read file: No such file"),
    "a folder": (lambda tmp: str(tmp) + "/", r"cannot read file: Is a directory"),
    "under a plain file": (
        lambda tmp: _write(tmp, "plain.yaml", b"a: 1\n") + "/city.yaml",
        r"cannot read file: Not a directory",
    ),
    "dangling symlink": (
        lambda tmp: _link(tmp, str(tmp / "gone.yaml")),
        r"link\.yaml:1:1: \(document\): cannot read file: No such file",
    ),
    "symlink to /dev/zero": (
        lambda tmp: _link(tmp, "/dev/zero"),
        r"input is more than 2,097,152 bytes",
    ),
    "control characters": (
        lambda tmp: _write(
            tmp,
            "osc.yaml",
            TALLINN.read_bytes().replace(b"name: Tallinn\n", b'name: "Tall\\e]0;owned\\ainn"\n'),
        ),
        r"holds the control character U\+001B|kind",
    ),
}


@pytest.mark.parametrize("case", sorted(READ_CASES))
@pytest.mark.parametrize("command", sorted(READERS))
def test_a_hostile_input_is_one_line_and_changes_nothing(
    tmp_path: Path, command: str, case: str
) -> None:
    make, expected = READ_CASES[case]
    argument = make(tmp_path)
    before = snapshot(tmp_path)
    lines = refused(run_cli(*READERS[command](argument, tmp_path)))
    assert any(re.search(expected, line) for line in lines), lines
    assert "\x1b" not in "".join(lines) and "\x07" not in "".join(lines)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["validate", "kpi check"])
def test_standard_input_is_read_at_most_to_the_limit(command: str) -> None:
    args = ("validate", "-") if command == "validate" else ("kpi", "check", "-")
    result = CliRunner().invoke(main, list(args), input=b"#" * (MAX_FILE_BYTES + 10))
    assert refused(result) == [
        "-:1:1: (document): input is more than 2,097,152 bytes; citykit reads at most 2,097,152"
    ]


def test_a_blueprint_on_standard_input_validates() -> None:
    result = CliRunner().invoke(main, ["validate", "-"], input=TALLINN.read_bytes())
    assert result.exit_code == 0, result.output
    assert result.output.startswith("-: ok")


@pytest.mark.parametrize("command", ["validate", "plan", "report --from-file", "images"])
def test_a_symlinked_blueprint_is_read_through_its_link(tmp_path: Path, command: str) -> None:
    link = _link(tmp_path, str(TALLINN))
    result = run_cli(*READERS[command](link, tmp_path))
    assert result.exit_code == 0, result.output


def test_diff_takes_city_names_as_validate_does() -> None:
    result = run_cli("diff", "tallinn", "hangzhou")
    assert result.exit_code == 0, result.output
    assert "+ initiative" in result.output


# Writers: the file the command was asked to write is written whole, or left as it was.


def _report(tmp: Path, output: Path) -> tuple[str, ...]:
    return ("report", "--from-file", str(tmp / "city.yaml"), "-o", str(output))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A city project with Tallinn's blueprint at blueprints/cities/city.yaml and at city.yaml,
    and a good report already written at keep.html."""
    (tmp_path / "city.yaml").write_bytes(TALLINN.read_bytes())
    cities = tmp_path / "blueprints" / "cities"
    cities.mkdir(parents=True)
    (cities / "city.yaml").write_bytes(TALLINN.read_bytes())
    (tmp_path / "keep.html").write_text("<p>the previous report</p>\n")
    return tmp_path


WRITE_FAILURES: dict[str, tuple[str, Callable[..., tuple[str, ...]], str]] = {
    # name: (what is broken, the command given the project, what the one line says)
    "report -o in a read-only folder": (
        "read-only",
        lambda tmp: _report(tmp, tmp / "locked" / "r.html"),
        r"locked/r\.html:1:1: \(document\): cannot write file: Permission denied",
    ),
    "report -o /dev/full": (
        "",
        lambda tmp: _report(tmp, Path("/dev/full")),
        r"^/dev/full:1:1: \(document\): cannot write file: No space left on device$",
    ),
    "report -o in a missing folder": (
        "",
        lambda tmp: _report(tmp, tmp / "missing" / "r.html"),
        r"cannot write file: No such file or directory",
    ),
    "report -o under a plain file": (
        "",
        lambda tmp: _report(tmp, tmp / "keep.html" / "r.html"),
        r"cannot write file: Not a directory",
    ),
    "report -o over its input": (
        "",
        lambda tmp: _report(tmp, tmp / "city.yaml"),
        r"city\.yaml:1:1: \(document\): is an input of this command",
    ),
    "report -o over a link to its input": (
        "link",
        lambda tmp: _report(tmp, tmp / "link.yaml"),
        r"link\.yaml:1:1: \(document\): is an input of this command",
    ),
    "report -o over a read-only file": (
        "read-only file",
        lambda tmp: _report(tmp, tmp / "keep.html"),
        r"keep\.html:1:1: \(document\): is read-only \(mode 0444\)",
    ),
    "report -o a folder": (
        "",
        lambda tmp: _report(tmp, tmp / "blueprints"),
        r"blueprints:1:1: \(document\): is a folder",
    ),
    "report -o over a good report, the disk filling": (
        "full disk",
        lambda tmp: _report(tmp, tmp / "keep.html"),
        r"keep\.html:1:1: \(document\): cannot write file: No space left on device",
    ),
    "report -o over a good report, past the file-size limit": (
        "file-size limit",
        lambda tmp: _report(tmp, tmp / "keep.html"),
        r"keep\.html:1:1: \(document\): cannot write file: File too large",
    ),
    "upgrade in a read-only folder": (
        "read-only",
        lambda tmp: ("upgrade", str(tmp / "locked" / "city.yaml"), "--catalogue", "1.2.0"),
        r"city\.yaml:1:1: \(document\): cannot write file: Permission denied",
    ),
    "upgrade a read-only blueprint": (
        "read-only file",
        lambda tmp: ("upgrade", str(tmp / "city.yaml"), "--catalogue", "1.2.0"),
        r"city\.yaml:1:1: \(document\): is read-only",
    ),
    "upgrade, the disk filling": (
        "full disk",
        lambda tmp: ("upgrade", "city", "--catalogue", "1.2.0", "--dir", str(tmp)),
        r"cannot write file: No space left on device",
    ),
    "upgrade past the file-size limit": (
        "file-size limit",
        lambda tmp: ("upgrade", str(tmp / "city.yaml"), "--catalogue", "1.2.0"),
        r"city\.yaml:1:1: \(document\): cannot write file: File too large",
    ),
    "new-city with a read-only infra folder": (
        "read-only infra",
        lambda tmp: _new_city(tmp),
        r"Pulumi\.nairobi\.yaml:1:1: \(document\): cannot write file: Permission denied",
    ),
    "new-city in a read-only project": (
        "read-only",
        lambda tmp: _new_city(tmp / "locked"),
        r"cannot write file: Permission denied",
    ),
    "new-city with infra a plain file": (
        "infra file",
        lambda tmp: _new_city(tmp),
        r"Pulumi\.nairobi\.yaml:1:1: \(document\): cannot write file: Not a directory",
    ),
    "new-city, the disk filling": (
        "full disk",
        lambda tmp: _new_city(tmp),
        r"cannot write file: No space left on device",
    ),
    "new-city cut off mid-scaffold (file-size limit)": (
        "file-size limit",
        lambda tmp: _new_city(tmp),
        r"all\.yml:1:1: \(document\): cannot write file: File too large",
    ),
    "new-city with a bad NAME": (
        "",
        lambda tmp: ("new-city", "../evil", "--jurisdiction", "gdpr", "--dir", str(tmp)),
        r"^NAME: '\.\./evil' is not a city id",
    ),
    "new-city with a country outside the profile": (
        "",
        lambda tmp: _new_city(tmp, country="KE"),
        r"^--country: city country KE is outside the gdpr profile",
    ),
    "new-city with an unknown --jurisdiction": (
        "",
        lambda tmp: _new_city(tmp, jurisdiction="nope"),
        r"^--jurisdiction: unknown jurisdiction profile 'nope' \(available: gdpr, ",
    ),
    "new-city with a --country that is no code": (
        "",
        lambda tmp: _new_city(tmp, country="kenya"),
        r"^--country: 'kenya' is not an ISO 3166-1 alpha-2 code",
    ),
}

FSIZE_LIMITS = {"report": 16_384, "upgrade": 4096, "new-city": 600}


def _new_city(root: Path, country: str = "EE", jurisdiction: str = "gdpr") -> tuple[str, ...]:
    return (
        "new-city",
        "nairobi",
        "--jurisdiction",
        jurisdiction,
        "--country",
        country,
        "--dir",
        str(root),
    )


def _break(tmp: Path, what: str, read_only: Locks, request: pytest.FixtureRequest) -> None:
    if what == "read-only":
        locked = tmp / "locked"
        locked.mkdir()
        (locked / "city.yaml").write_bytes(TALLINN.read_bytes())
        read_only.lock(locked)
    elif what == "read-only infra":
        read_only.lock(tmp / "infra")
    elif what == "infra file":
        (tmp / "infra").write_text("not a folder\n")
    elif what == "read-only file":
        (tmp / "keep.html").chmod(0o444)
        (tmp / "city.yaml").chmod(0o444)
    elif what == "link":
        (tmp / "link.yaml").symlink_to(tmp / "city.yaml")
    elif what == "full disk":
        request.getfixturevalue("full_disk")


@pytest.mark.parametrize("case", sorted(WRITE_FAILURES))
def test_a_failed_write_is_one_line_and_leaves_every_file_as_it_was(
    project: Path,
    read_only: Locks,
    request: pytest.FixtureRequest,
    case: str,
) -> None:
    what, command, expected = WRITE_FAILURES[case]
    _break(project, what, read_only, request)
    before = snapshot(project)
    args = command(project)
    if what == "file-size limit":
        with file_size_limit(FSIZE_LIMITS[args[0]]):
            result = run_cli(*args)
    else:
        result = run_cli(*args)
    lines = refused(result)
    assert any(re.search(expected, line) for line in lines), lines
    assert snapshot(project) == before  # nothing half-written, no temporary file left


def test_a_failed_new_city_can_be_run_again(project: Path) -> None:
    with file_size_limit(FSIZE_LIMITS["new-city"]):
        refused(run_cli(*_new_city(project)))
    result = run_cli(*_new_city(project))
    assert result.exit_code == 0, result.output
    assert (project / "infra" / "Pulumi.nairobi.yaml").is_file()


def test_report_through_a_symlink_writes_its_target_and_keeps_the_link(project: Path) -> None:
    (project / "link.html").symlink_to(project / "keep.html")
    result = run_cli(*_report(project, project / "link.html"))
    assert result.exit_code == 0, result.output
    assert (project / "link.html").is_symlink()
    assert (project / "keep.html").read_text().startswith("<!DOCTYPE html>")


def test_upgrade_through_a_symlink_upgrades_its_target_and_keeps_the_link(project: Path) -> None:
    (project / "link.yaml").symlink_to("city.yaml")
    result = run_cli("upgrade", str(project / "link.yaml"), "--catalogue", "1.2.0")
    assert result.exit_code == 0, result.output
    assert (project / "link.yaml").is_symlink()
    assert "catalogueVersion: 1.2.0" in (project / "city.yaml").read_text()


@pytest.mark.parametrize(
    "args",
    [("report", "--from-file", "city.yaml", "-o", "-"), ("upgrade", "-", "--catalogue", "1.2.0")],
)
def test_standard_input_is_never_written_as_a_file_named_dash(
    project: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.chdir(project)
    before = snapshot(project)
    result = CliRunner().invoke(main, list(args), input=TALLINN.read_bytes())
    assert refused(result) == [
        "-:1:1: (document): is standard input, not a file citykit can write: name a file"
    ]
    assert snapshot(project) == before


def test_report_keeps_the_mode_of_the_file_it_replaces(project: Path) -> None:
    (project / "keep.html").chmod(0o640)
    assert run_cli(*_report(project, project / "keep.html")).exit_code == 0
    assert (project / "keep.html").stat().st_mode & 0o777 == 0o640


# Numbers: a VALUE may be negative; KPI targets are bounded by their unit and finite.


@pytest.mark.parametrize("value", ["-1", "-0.5", "-1e3"])
def test_a_negative_kpi_value_is_an_argument_not_an_option(value: str) -> None:
    from citykit.cli.kpi import record

    context = record.make_context(
        "record", ["tallinn", "urban-heat-island-intensity", value, "--date", "2025-01-01"]
    )
    assert context.params["value"] == value


PM25 = "{ kpi: pm25-annual-mean, baseline: 6.1, target: 5, year: 2030, commitment: binding }"


@pytest.mark.parametrize(
    ("baseline", "target", "expected"),
    [
        ("1.0e+308", "-1.0e+308", r"kpiTargets\[0\]\.baseline: 1e\+308 is more than the max"),
        ("40", "1.0e+308", r"spec\.kpiTargets\[0\]\.target: 1e\+308 is more than the maximum"),
        ("40", "-5", r"spec\.kpiTargets\[0\]\.target: target -5 is outside"),
        ("-1", "0", r"spec\.kpiTargets\[0\]\.baseline: baseline -1 is outside"),
    ],
)
def test_an_extreme_kpi_target_is_refused(
    tmp_path: Path, baseline: str, target: str, expected: str
) -> None:
    text = TALLINN.read_text()
    assert PM25 in text
    edited = PM25.replace("baseline: 6.1", f"baseline: {baseline}").replace(
        "target: 5,", f"target: {target},"
    )
    path = tmp_path / "extreme.yaml"
    path.write_text(text.replace(PM25, edited))
    lines = refused(run_cli("validate", str(path)))
    assert any(re.search(expected, line) for line in lines), lines


def test_a_percent_target_over_100_is_refused(tmp_path: Path) -> None:
    text = TALLINN.read_text()
    line = "{ kpi: cycling-modal-share, baseline: 1.5, target: 11,"
    assert line in text
    path = tmp_path / "percent.yaml"
    path.write_text(text.replace(line, line.replace("target: 11", "target: 100.0000001")))
    lines = refused(run_cli("validate", str(path)))
    assert any("target 100.0000001 is outside percent (0..100)" in each for each in lines), lines


def test_a_percent_just_over_100_is_shown_as_written() -> None:
    from citykit.core.load.errors import number_text

    assert number_text(100.0000001) == "100.0000001"


# The one writer, driven through any sequence of failures.

FAULTS = ("none", "file-size limit", "read-only folder", "full disk", "output is input")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(FAULTS),
            st.lists(
                st.sampled_from(["a.txt", "b.txt", "sub/c.txt", "new.txt"]),
                min_size=1,
                max_size=3,
                unique=True,
            ),
            st.binary(min_size=0, max_size=3000),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_sequence_of_write_failures_leaves_every_file_byte_identical(
    read_only: Locks, steps: list[tuple[str, list[str], bytes]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "sub").mkdir()
        for name in ("a.txt", "b.txt", "sub/c.txt"):
            (root / name).write_bytes(name.encode() * 200)
        for fault, names, payload in steps:
            text = payload.decode("latin-1")
            contents = {root / name: text for name in names}
            before = snapshot(root)
            failed = False
            with contextlib.ExitStack() as stack:
                inputs: list[Path] = []
                if fault == "file-size limit":
                    stack.enter_context(file_size_limit(len(text.encode()) // 2))
                elif fault == "read-only folder":
                    read_only.lock(root)
                    read_only.lock(root / "sub")
                    stack.callback(read_only.unlock, root)
                    stack.callback(read_only.unlock, root / "sub")
                elif fault == "full disk":
                    patch = pytest.MonkeyPatch()
                    patch.setattr(os, "fsync", _no_space)
                    stack.callback(patch.undo)
                elif fault == "output is input":
                    inputs = [root / names[0]]
                try:
                    userfiles.write_files(contents, inputs=inputs, make_folders=True)
                except CitykitError as error:
                    failed = True
                    assert all(ONE_LINE.match(str(problem)) for problem in error.problems)
            if failed or (fault != "none" and (fault != "file-size limit" or text)):
                assert failed
                assert snapshot(root) == before
            else:
                for path in contents:
                    assert path.read_bytes() == text.encode()
                assert not [p for p in root.rglob("*.tmp")]


def _no_space(handle: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


# Errors that point at the right place.


def test_upgrade_of_a_folder_is_refused_as_a_folder(tmp_path: Path) -> None:
    result = run_cli("upgrade", ".", "--catalogue", "1.2.0", "--dir", str(tmp_path))
    assert refused(result) == [".:1:1: (document): cannot read file: Is a directory"]


def test_a_pin_inside_a_merge_key_is_refused_at_its_mapping() -> None:
    from citykit.core.load.yamledit import replace_scalars

    text = "base: &b\n  pin: 1.0.0\nspec:\n  <<: *b\n  other: x\n"
    with pytest.raises(CitykitError) as refusal:
        replace_scalars("b.yaml", text, {("spec", "pin"): "2.0.0"})
    assert str(refusal.value).startswith("b.yaml:4:3: spec.pin: not written here as a scalar")


# What is shown: status names a failed revision and the last good one; a chart is finite.


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        ({"revision": "r3"}, "r3"),
        ({"revision": "r3", "candidateRevision": "r4"}, "r3 -> r4"),
        (
            {"revision": "r3", "failedRevision": "r4", "lastGood": {"revision": "r3"}},
            "r3 (r4 failed)",
        ),
        ({"revision": "r4", "lastGood": {"revision": "r3"}}, "r4 (last good r3)"),
        ({"revision": "r3\x1b]0;owned\x07"}, "r3\\x1b]0;owned\\x07"),
        ({}, "-"),
    ],
)
def test_status_shows_failed_and_last_good_revisions(status: dict[str, Any], shown: str) -> None:
    from citykit.cli.statusview import revision_text

    assert revision_text(status) == shown


@pytest.mark.parametrize(
    ("baseline", "target", "value"),
    [(1e308, -1e308, 1e308), (1e308, 0.0, float("inf")), (5.0, 4.0, float("nan"))],
)
def test_a_kpi_chart_never_draws_a_number_that_is_not_finite(
    baseline: float, target: float, value: float
) -> None:
    import datetime

    from citykit.core.office.svg import Point, kpi_chart

    kpi = {
        "kpi": "pm25-annual-mean",
        "baseline": baseline,
        "baselineYear": 2020,
        "target": target,
        "year": 2030,
        "expected": baseline,
        "verdict": "off-track",
        "commitment": "binding",
        "unit": "µg/m³",
        "better": "lower",
    }
    day = datetime.date(2025, 6, 30)
    svg = kpi_chart(kpi, [Point(day, value, "2025-06-30")], datetime.date(2026, 1, 1), "k")
    assert not re.search(r"\b(nan|inf)\b", svg.lower())
