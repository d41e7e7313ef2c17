"""The released wheel, as a new city meets it: built from the checkout as a release builds it,
installed into a fresh virtual environment, and run from an empty folder far from the checkout.

The wheel must carry every piece of data citykit reads (schemas, catalogue, policies, example
cities, the operator's chart, the playbooks, the Go modules the toolchain builds) and nothing
else; `citykit` from it must scaffold, validate and plan a city with no checkout in sight.
The wheel's dependencies are the ones of the environment the tests run in, whatever it is (a
virtualenv, a `--user` install, the base interpreter): the venv's site-packages names that
environment's site folders in a .pth file, after its own, so only the build backend is fetched,
as for any build. (`--system-site-packages` would not do: inside a virtualenv it means the base
interpreter's packages, not the virtualenv's.)
"""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from citykit import __version__
from tests.conftest import REPOSITORY

BUILD_TIMEOUT = 600
CLI_TIMEOUT = 300
# Paths that may come and go in the checkout while the tests run, whoever runs them.
RUNTIME_LITTER = ("__pycache__/", ".pytest_cache/", ".ruff_cache/", ".mypy_cache/")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    sdist: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def citykit(self) -> Path:
        return self.venv / "bin" / "citykit"


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPOSITORY, check=True, capture_output=True, text=True
    ).stdout


def checkout_state() -> tuple[str, list[str]]:
    """`git status --porcelain`, and the ignored paths a build in place would leave
    (build/, dist/, *.egg-info), which the plain status does not show."""
    ignored = [
        line
        for line in git("status", "--porcelain", "--ignored").splitlines()
        if line.startswith("!! ") and not line.endswith(RUNTIME_LITTER)
    ]
    return git("status", "--porcelain"), ignored


def copy_checkout(destination: Path) -> None:
    """The tracked and untracked (not ignored) files of the working tree, links kept as links."""
    listed = git("ls-files", "-co", "--exclude-standard", "-z").split("\0")
    for relative in filter(None, listed):
        source = REPOSITORY / relative
        target = destination / relative
        if source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(source))
        elif source.is_file():  # a tracked file deleted in the working tree is left out
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def clean_env() -> dict[str, str]:
    """The environment without anything that would point citykit back at the checkout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "CITYKIT_BLUEPRINTS", "VIRTUAL_ENV"}
    }
    env["COLUMNS"] = "200"  # rich tables at full width on a pipe
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(*args: str | Path, cwd: Path, timeout: int = CLI_TIMEOUT) -> str:
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=clean_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"{args} exit {result.returncode}:\n{result.stdout}{result.stderr}"
    )
    return result.stdout


def environment_site_dirs() -> list[str]:
    """Where this interpreter finds its installed distributions, in its own order: the user
    site (a `--user` install), then the environment's site-packages (a virtualenv's, with the
    base interpreter's after them if it includes those, or the base interpreter's own)."""
    paths = sysconfig.get_paths()
    sites = {*site.getsitepackages(), site.getusersitepackages(), paths["purelib"]}
    sites.add(paths["platlib"])
    return [entry for entry in dict.fromkeys(sys.path) if entry in sites and Path(entry).is_dir()]


# Run by the wheel's venv: which of the wheel's own dependencies it cannot find.
_MISSING_DEPENDENCIES = """
import importlib.metadata as metadata, re
for requirement in metadata.requires("citykit") or []:
    if "extra ==" in requirement:
        continue
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group()
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        print(requirement)
"""


def lend_dependencies(venv_python: Path, cwd: Path) -> None:
    """Makes the running environment's distributions importable in the venv, behind the venv's
    own (the wheel's citykit comes first). The folders are plain path lines, so the running
    environment's own .pth files (an editable citykit pointing at the checkout) stay unread."""
    purelib = run(
        venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=cwd
    ).strip()
    lines = "".join(f"{folder}\n" for folder in environment_site_dirs())
    Path(purelib, "citykit-test-environment.pth").write_text(lines)


@pytest.fixture(scope="module")
def before() -> tuple[str, list[str]]:
    return checkout_state()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, before: tuple[str, list[str]]) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    source, dist, venv = work / "source", work / "dist", work / "venv"
    copy_checkout(source)
    run(sys.executable, "-m", "build", "--outdir", dist, source, cwd=work, timeout=BUILD_TIMEOUT)
    [wheel] = dist.glob("citykit-*.whl")
    [sdist] = dist.glob("citykit-*.tar.gz")
    run(sys.executable, "-m", "venv", venv, cwd=work)
    run(
        venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index",
        "--disable-pip-version-check", "--quiet", wheel, cwd=work,
    )  # fmt: skip
    lend_dependencies(venv / "bin" / "python", work)
    missing = run(venv / "bin" / "python", "-c", _MISSING_DEPENDENCIES, cwd=work).splitlines()
    assert not missing, (
        f"the environment the tests run in ({sys.prefix}) lacks the wheel's dependencies"
        f" {missing}: install them there (pip install -e '.[test]')"
    )
    return Installed(wheel=wheel, sdist=sdist, venv=venv)


@pytest.fixture(scope="module")
def city_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty folder outside the checkout: a new city's own repository."""
    folder = tmp_path_factory.mktemp("city-project")
    assert not folder.resolve().is_relative_to(REPOSITORY)
    assert not any(folder.iterdir())
    return folder


def wheel_names(installed: Installed) -> set[str]:
    with zipfile.ZipFile(installed.wheel) as wheel:
        return set(wheel.namelist())


def test_wheel_and_sdist_are_the_package_version(installed: Installed) -> None:
    assert installed.wheel.name == f"citykit-{__version__}-py3-none-any.whl"
    assert installed.sdist.name == f"citykit-{__version__}.tar.gz"


def test_twine_accepts_the_distributions(installed: Installed) -> None:
    """The metadata is valid and the README renders on the package index."""
    output = run(
        sys.executable, "-m", "twine", "check", "--strict", installed.wheel, installed.sdist,
        cwd=installed.venv,
    )  # fmt: skip
    assert output.count("PASSED") == 2, output


def test_wheel_carries_all_the_data_citykit_reads(installed: Installed) -> None:
    names = wheel_names(installed)
    data = "citykit/data/"
    expected = {
        # every schema, catalogue entry, jurisdiction profile and example city of the checkout
        *(
            data + str(path.relative_to(REPOSITORY))
            for folder in ("schema", "catalogue", "policies", "cities")
            for path in (REPOSITORY / "blueprints" / folder).rglob("*.yaml")
        ),
        # the chart, whole: what `helm` and the Pulumi program install
        *(
            data + "chart/" + str(path.relative_to(REPOSITORY / "charts" / "citykit-operator"))
            for path in (REPOSITORY / "charts" / "citykit-operator").rglob("*")
            if path.is_file()
        ),
        # the playbooks and every role file, argument specs included
        *(
            data + str(path.relative_to(REPOSITORY))
            for pattern in ("*.yml", "ansible.cfg", "group_vars/*.yml", "roles/*/*/*")
            for path in (REPOSITORY / "playbooks").glob(pattern)
        ),
        # the Go modules the local cluster and the Pulumi engine are built from
        *(
            data + "gomodules/" + str(path.relative_to(REPOSITORY / "gomodules"))
            for module in ("local-cluster", "pulumi-engine")
            for path in (REPOSITORY / "gomodules" / module).rglob("*")
            if path.name in {"go.mod", "go.sum"} or path.suffix in {".go", ".yaml"}
        ),
    }
    assert len(expected) > 100
    assert expected - names == set()
    for must in (
        "blueprints/catalogue/1.0.0/catalogue.yaml",
        "blueprints/schema/cityblueprint.schema.yaml",
        "blueprints/policies/gdpr.yaml",
        "blueprints/cities/tallinn.yaml",
        "chart/Chart.yaml",
        "chart/values.schema.json",
        "chart/crds/cityblueprints.citykit.io.yaml",
        "chart/templates/deployment.yaml",
        "chart/templates/_helpers.tpl",
        "playbooks/site.yml",
        "playbooks/roles/k8s_airgap/meta/argument_specs.yml",
        "playbooks/roles/host_prep/templates/nftables.conf.j2",
        "gomodules/local-cluster/go.mod",
        "gomodules/local-cluster/go.sum",
        "gomodules/local-cluster/cmd/kube-apiserver/main.go",
        "gomodules/local-cluster/etcd/go.mod",
        "gomodules/local-cluster/kwok/pod-stages.yaml",
        "gomodules/local-cluster/audit-policy.yaml",
        "gomodules/pulumi-engine/cli/go.sum",
    ):
        assert data + must in names, must
    assert "citykit/templates/report.html.j2" in names  # citykit report's page


def test_wheel_carries_no_junk(installed: Installed) -> None:
    names = wheel_names(installed)
    junk = [
        name
        for name in names
        if re.search(
            r"__pycache__|\.pyc$|/\.ansible/|/inventories/|/credentials/|\.egg-info/|/\.git",
            name,
        )
    ]
    assert junk == []
    # code outside the package (tests, benchmarks, the Pulumi project's __main__) stays out
    assert {name.split("/")[0] for name in names} == {"citykit", f"citykit-{__version__}.dist-info"}


def test_the_venv_runs_the_installed_wheel_not_the_checkout(
    installed: Installed, city_folder: Path
) -> None:
    located = run(
        installed.python, "-c",
        "import citykit, citykit.resources as r; print(citykit.__file__); print(r.data_root())",
        cwd=city_folder,
    ).split()  # fmt: skip
    venv = installed.venv.resolve()
    for path in located:
        assert Path(path).resolve().is_relative_to(venv), path
        assert not Path(path).resolve().is_relative_to(REPOSITORY), path
    # the data is real files in site-packages, not links into the checkout
    assert not Path(located[1]).joinpath("blueprints").is_symlink()
    # the console script runs the venv's interpreter
    assert f"{installed.venv}/bin/python" in installed.citykit.read_text()[:1000]


def test_citykit_from_the_wheel_in_an_empty_city_folder(
    installed: Installed, city_folder: Path, before: tuple[str, list[str]]
) -> None:
    citykit = installed.citykit

    version = run(citykit, "--version", cwd=city_folder)
    assert version.split()[-1] == __version__

    listing = run(citykit, "catalogue", "list", cwd=city_folder)
    # `catalogue list` shows the newest catalogue version (one folder per version)
    newest = max(
        (REPOSITORY / "blueprints" / "catalogue").iterdir(),
        key=lambda folder: tuple(int(part) for part in folder.name.split(".")),
    )
    catalogue = sorted(newest.glob("*/*.yaml"))
    ids = {yaml.safe_load(path.read_text())["id"] for path in catalogue}
    assert ids, "the checkout's catalogue is empty"
    assert ids <= set(re.findall(r"[a-z]+\.[a-z0-9-]+", listing)), listing

    created = run(
        citykit, "new-city", "testville", "--jurisdiction", "gdpr", "--country", "EE",
        cwd=city_folder,
    )  # fmt: skip
    for path in (
        "blueprints/cities/testville.yaml",
        "infra/Pulumi.testville.yaml",
        "playbooks/inventories/testville/hosts.yml",
        "playbooks/inventories/testville/group_vars/all.yml",
    ):
        assert path in created
        assert (city_folder / path).is_file(), path

    validated = run(citykit, "validate", "blueprints/cities/testville.yaml", cwd=city_folder)
    assert "testville.yaml: ok" in validated
    assert "gdpr" in validated

    # a city of the project folder goes by its name too
    assert "testville.yaml: ok" in run(citykit, "validate", "testville", cwd=city_folder)

    plan = run(citykit, "plan", "blueprints/cities/testville.yaml", cwd=city_folder)
    objects = [document for document in yaml.safe_load_all(plan) if document]
    kinds = {document["kind"] for document in objects}
    assert {"Namespace", "Deployment", "NetworkPolicy"} <= kinds, kinds
    assert "kind: Deployment" in plan

    run(
        citykit, "new-city", "tartu", "--jurisdiction", "gdpr", "--from", "tallinn", cwd=city_folder
    )
    tartu = yaml.safe_load((city_folder / "blueprints" / "cities" / "tartu.yaml").read_text())
    tallinn = yaml.safe_load((REPOSITORY / "blueprints" / "cities" / "tallinn.yaml").read_text())
    assert tartu["metadata"]["name"] == "tartu"
    assert len(tartu["spec"]["initiatives"]) == len(tallinn["spec"]["initiatives"]) > 1
    validated = run(citykit, "validate", "blueprints/cities/tartu.yaml", cwd=city_folder)
    assert "tartu.yaml: ok" in validated

    # the city's folder holds the city's files only; the checkout is as it was
    files = {
        str(path.relative_to(city_folder)) for path in city_folder.rglob("*") if path.is_file()
    }
    assert files == {
        path
        for city in ("testville", "tartu")
        for path in (
            f"blueprints/cities/{city}.yaml",
            f"infra/Pulumi.{city}.yaml",
            f"playbooks/inventories/{city}/hosts.yml",
            f"playbooks/inventories/{city}/group_vars/all.yml",
        )
    }
    after = checkout_state()
    appeared = sorted({*after[0].splitlines(), *after[1]} - {*before[0].splitlines(), *before[1]})
    gone = sorted({*before[0].splitlines(), *before[1]} - {*after[0].splitlines(), *after[1]})
    assert after == before, f"the checkout changed: new {appeared}, gone {gone}"
