"""Where citykit's data lives: schemas, catalogue, jurisdiction profiles, example cities, the
operator's Helm chart, the Ansible playbooks and the Go modules the toolchain builds.

All of it ships inside the package under `citykit/data/` and is found with
`importlib.resources`, so an installed wheel works from any folder. In a source checkout
those entries are links to the top-level `blueprints/`, `charts/`, `playbooks/` and `gomodules/`
folders, which stay the one source the build copies. `CITYKIT_BLUEPRINTS` points the
blueprint data elsewhere (a city's own catalogue fork, the tests).
Nothing here is ever written to: a city's own files live in the city's folder, and what citykit
can make again in the user's cache (`cache_root`).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def data_root() -> Path:
    """The package's data folder; a wheel is installed unzipped, so this is a real folder."""
    return Path(str(resources.files("citykit") / "data"))


def blueprints_root() -> Path:
    configured = os.environ.get("CITYKIT_BLUEPRINTS")
    return Path(configured) if configured else data_root() / "blueprints"


def schema_dir() -> Path:
    return blueprints_root() / "schema"


def catalogue_dir() -> Path:
    """The catalogue: one folder per version (`1.0.0/`, `1.1.0/`), each an index
    (`catalogue.yaml`) and one file per initiative (`<area>/<slug>.yaml`)."""
    return blueprints_root() / "catalogue"


def policies_dir() -> Path:
    return blueprints_root() / "policies"


def example_cities_dir() -> Path:
    """The example cities (`--from hangzhou`, `citykit demo`): read, never written."""
    return blueprints_root() / "cities"


def example_cities() -> dict[str, Path]:
    """The example cities by name, in name order."""
    return {path.stem: path for path in sorted(example_cities_dir().glob("*.yaml"))}


def chart_dir() -> Path:
    """The operator's Helm chart, with the CRDs generated from the schemas."""
    return data_root() / "chart"


def playbooks_dir() -> Path:
    """The Ansible roles whose argument specs say what a city's inventory must give."""
    return data_root() / "playbooks"


def cache_root() -> Path:
    """Where citykit keeps what it can make again (built binaries, images, checked
    catalogues): `$CITYKIT_CACHE`, else `$XDG_CACHE_HOME/citykit`, else `~/.cache/citykit`."""
    explicit = os.environ.get("CITYKIT_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "citykit"


def go_module(name: str) -> Path:
    """A wrapper Go module citykit builds a tool from (`local-cluster`, `pulumi-engine`)."""
    return data_root() / "gomodules" / name
