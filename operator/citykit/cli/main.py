"""The `citykit` command line: thin commands over the pure core.

Every user-caused error becomes `CitykitError`, printed one problem per line, exit code 1,
never a traceback. A command's module is imported only when that command runs, so
`citykit validate` starts without the Kubernetes client, kopf or Pulumi
(benchmarks/cli_startup_bench.py measures it).
"""

from __future__ import annotations

import sys

import click

from citykit import __version__
from citykit.cli.cataloguecache import UserCatalogueCache
from citykit.cli.lazygroup import LazyCommand, LazyGroup
from citykit.cli.say import say
from citykit.core.load.errors import CitykitError
from citykit.core.model.cataloguestore import keep_catalogues_in

# Each subcommand: where it lives, and the one line `citykit --help` shows for it without
# importing it (tests/unit/test_cli_imports.py holds these equal to the commands' docstrings).
COMMANDS = {
    "validate": LazyCommand(
        "citykit.cli.blueprint:validate",
        "Check blueprints, given as FILE paths or CITY names: schema, references, cycles, "
        "parameters and jurisdiction policy.",
    ),
    "plan": LazyCommand(
        "citykit.cli.blueprint:plan",
        "Print every Kubernetes object the operator will create for blueprint FILE or city CITY.",
    ),
    "diff": LazyCommand(
        "citykit.cli.blueprint:diff",
        "Show what changes from blueprint OLD to blueprint NEW; exits 0 either way.",
    ),
    "catalogue": LazyCommand(
        "citykit.cli.blueprint:catalogue", "Browse the initiative catalogue (default: list)."
    ),
    "upgrade": LazyCommand(
        "citykit.cli.upgrade:upgrade",
        "Move blueprint FILE (or city CITY) to catalogue VERSION: rewrite the pin, bump the "
        "blueprint's minor version, keep every comment, and show what changes.",
    ),
    "history": LazyCommand(
        "citykit.cli.history:history",
        "List the blueprint revisions the operator applied to CITY: version, catalogue, time "
        "and outcome.",
    ),
    "rollback": LazyCommand(
        "citykit.cli.history:rollback",
        "Re-apply an earlier blueprint revision of CITY: the last one that reached Live, or "
        "--to VERSION.",
    ),
    "install": LazyCommand(
        "citykit.cli.operate:install",
        "Install (or update) the citykit CRDs; returns once the API serves their kinds.",
    ),
    "apply": LazyCommand(
        "citykit.cli.operate:apply",
        "Validate blueprint FILE, then server-side apply it as a CityBlueprint.",
    ),
    "status": LazyCommand(
        "citykit.cli.operate:status",
        "Show each initiative's rollout: phase, wave, ready replicas, age.",
    ),
    "approve": LazyCommand(
        "citykit.cli.operate:approve",
        "Approve INITIATIVE (catalogue id) of CITY to go citywide after its pilot.",
    ),
    "kpi": LazyCommand(
        "citykit.cli.kpi:kpi_group",
        "Record and check a city's measured KPI values (KpiReports).",
    ),
    "report": LazyCommand(
        "citykit.cli.report:report",
        "Write CITY's rollout and KPI report as one self-contained HTML file.",
    ),
    "operator": LazyCommand("citykit.cli.operate:operator_group", "Run the citykit operator."),
    "demo": LazyCommand(
        "citykit.cli.demo:demo",
        "Start the local cluster if needed, run the operator, and roll an example city out "
        "to Live.",
    ),
    "new-city": LazyCommand(
        "citykit.cli.city:new_city",
        "Scaffold city NAME in the project folder: blueprint, Pulumi stack settings and "
        "Ansible inventory.",
    ),
    "up": LazyCommand(
        "citykit.cli.city:up",
        "Provision CITY's platform on the current cluster (KUBECONFIG): namespace, operator, "
        "shared platform services and the CityBlueprint.",
    ),
    "images": LazyCommand(
        "citykit.cli.images:images",
        "List every image city CITY (or blueprint FILE) runs, pinned, one per line: the "
        "operator's, its initiatives' and its platform services'; -o json says who uses each.",
    ),
    "image": LazyCommand(
        "citykit.cli.image:image", "Build the operator image (an OCI archive) without Docker."
    ),
    "cluster": LazyCommand(
        "citykit.cli.cluster:cluster",
        "Run a local Kubernetes control plane (etcd, kube-apiserver, controller-manager, "
        "scheduler) with KWOK's simulated nodes, all built from Go modules.",
    ),
}

# The errors of the Kubernetes client (an API refusal, a bad kubeconfig, an unreachable
# server), by module and name: an instance can exist only once its module is imported, so
# looking the types up in sys.modules recognises them without importing the client here.
KUBERNETES_ERRORS = (
    ("kubernetes.client.exceptions", "ApiException"),
    ("kubernetes.config.config_exception", "ConfigException"),
    ("urllib3.exceptions", "HTTPError"),
)


def is_kubernetes_error(error: BaseException) -> bool:
    """Whether `error` is one of KUBERNETES_ERRORS (or a subclass), importing nothing."""
    for module_name, type_name in KUBERNETES_ERRORS:
        module = sys.modules.get(module_name)
        error_type = getattr(module, type_name, None) if module else None
        if isinstance(error_type, type) and isinstance(error, error_type):
            return True
    return False


class _CitykitGroup(LazyGroup):
    """Turns user errors raised anywhere below into located one-line messages and exit 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CitykitError as error:
            for problem in error.problems:
                say(str(problem), err=True)
            sys.exit(1)
        except Exception as error:
            if not is_kubernetes_error(error):
                raise
            reason = getattr(error, "reason", None) or str(error).splitlines()[0]
            say(f"citykit: the Kubernetes API refused or could not be reached: {reason}", err=True)
            sys.exit(1)


@click.group(cls=_CitykitGroup, lazy=COMMANDS)
@click.version_option(__version__, prog_name="citykit")
def main() -> None:
    """citykit: export a smart city, turnkey."""
    # A command checks a catalogue version once; later commands read it back, checked
    # (`citykit operator run` keeps catalogues in memory instead).
    keep_catalogues_in(UserCatalogueCache())
