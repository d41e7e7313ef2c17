"""`citykit cluster up | down | status | env`: a real local control plane for tests and demos.

Progress and tables go to stderr; `up` and `env` print only `export ...` lines on stdout,
so `eval "$(citykit cluster up)"` works.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from citykit.localcluster import control_plane
from citykit.localcluster.errors import ClusterError
from citykit.localcluster.state import LocalCluster, load
from citykit.toolchain.locations import state_dir

_stderr = Console(stderr=True, log_path=False)
_name_option = click.option(
    "--name",
    default="citykit",
    show_default=True,
    help="Cluster name; its files live in "
    "~/.cache/citykit/clusters/NAME unless $CITYKIT_STATE says otherwise.",
)


def _exports(cluster: LocalCluster) -> str:
    kubeconfig = shlex.quote(str(cluster.kubeconfig))
    bin_dir = shlex.quote(str(cluster.layout.bin))
    return f'export KUBECONFIG={kubeconfig}\nexport PATH={bin_dir}:"$PATH"'


def _running(name: str) -> LocalCluster:
    cluster = load(state_dir(name))
    if cluster is None:
        raise ClusterError(
            f"no cluster {name!r} (looked in {state_dir(name)}); run `citykit cluster up`"
        )
    return cluster


@click.group()
def cluster() -> None:
    """Run a local Kubernetes control plane (etcd, kube-apiserver, controller-manager,
    scheduler) with KWOK's simulated nodes, all built from Go modules."""


def start_with_progress(
    name: str, api_port: int | None = None, real_node: bool = False
) -> LocalCluster:
    """Starts (or finds) the named cluster, showing build and start progress on stderr."""
    started = time.monotonic()
    with _stderr.status("starting", spinner="dots") as spinner:

        def report(message: str) -> None:
            _stderr.log(message)
            spinner.update(message)

        def on_package(package: str) -> None:
            spinner.update(f"compiling {package}")

        running = control_plane.up(
            name, state_dir(name), api_port, report, on_package, real_node=real_node
        )
    elapsed = time.monotonic() - started
    _stderr.print(f"cluster {name!r} is ready at {running.server} ({elapsed:.1f}s)")
    return running


@cluster.command()
@_name_option
@click.option("--api-port", type=int, help="Serve the API on this port instead of a free one.")
@click.option(
    "--real-node",
    is_flag=True,
    help="Add a real node (kubelet, containerd, runc) with the operator image imported, "
    "built if needed; needs root (docs/operator-image.md).",
)
def up(name: str, api_port: int | None, real_node: bool) -> None:
    """Build the binaries if needed, start the cluster (or what of it is not running: same
    ports, data and credentials) and print `export KUBECONFIG=...`."""
    click.echo(_exports(start_with_progress(name, api_port, real_node)))


@cluster.command()
@_name_option
@click.option(
    "--purge",
    is_flag=True,
    help="Also delete the cluster's data: etcd (every object), certificates, kubeconfigs, logs.",
)
def down(name: str, purge: bool) -> None:
    """Stop every process of the cluster. Its data, certificates, kubeconfig and ports stay,
    and the next `up` starts the same cluster again; --purge deletes them."""
    if not control_plane.down(state_dir(name), purge=purge):
        _stderr.print(f"no cluster {name!r} to stop")
    elif purge:
        _stderr.print(f"cluster {name!r} stopped and its files deleted")
    else:
        _stderr.print(
            f"cluster {name!r} stopped; its data stays in {state_dir(name)} for the next"
            " `citykit cluster up` (`down --purge` deletes it)"
        )


@cluster.command()
@_name_option
def status(name: str) -> None:
    """Show each component's pid and whether it runs, and whether the API is ready."""
    running = _running(name)
    table = Table("component", "pid", "running", "log")
    components = control_plane.health(running)
    for component in components:
        table.add_row(
            component.name,
            str(component.pid),
            "yes" if component.alive else "NO",
            str(component.log),
        )
    _stderr.print(table)
    api_ready = control_plane.api_ready(running)
    _stderr.print(f"API {running.server}: {'ready' if api_ready else 'NOT ready'}")
    down_names = [c.name for c in components if not c.alive]
    if down_names or not api_ready:
        problem = f"{', '.join(down_names)} not running" if down_names else "API not ready"
        raise ClusterError(f"cluster {name!r} is unhealthy: {problem}")


@cluster.command()
@_name_option
def env(name: str) -> None:
    """Print `export` lines for KUBECONFIG and PATH: eval "$(citykit cluster env)"."""
    running = _running(name)
    if not Path(running.kubeconfig).is_file():
        raise ClusterError(f"cluster {name!r} has no kubeconfig; run `citykit cluster up`")
    click.echo(_exports(running))
