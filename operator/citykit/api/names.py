"""The citykit.io names: group, version, kinds, label and annotation keys, object names.

One home for every string that names something in the cluster, so the renderer, the
operator, the CLI and the Pulumi program agree by construction.
"""

from __future__ import annotations

GROUP = "citykit.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CITY_BLUEPRINT = "CityBlueprint"
INITIATIVE = "Initiative"
KPI_REPORT = "KpiReport"

# The field manager of every server-side apply citykit makes.
FIELD_MANAGER = "citykit"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = {MANAGED_BY_LABEL: "citykit"}
CITY_LABEL = f"{GROUP}/city"
AREA_LABEL = f"{GROUP}/area"
INITIATIVE_LABEL = f"{GROUP}/initiative"
WAVE_LABEL = f"{GROUP}/wave"
PLATFORM_SERVICE_LABEL = f"{GROUP}/platform-service"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"
# The annotation a gate with `approval: manual` waits for; its value names the approver.
APPROVED_BY_ANNOTATION = f"{GROUP}/approved-by"
# Next to it for an upgrade: the candidate revision that approval lets go citywide (an
# approval of the first rollout, or of an earlier upgrade, does not approve a new revision).
APPROVED_REVISION_ANNOTATION = f"{GROUP}/approved-revision"
# On an initiative's Deployments and ConfigMap: the revision (a hash of the rendered
# workloads) they run; the candidate of an upgrade also carries CANDIDATE_LABEL.
REVISION_LABEL = f"{GROUP}/revision"
CANDIDATE_LABEL = f"{GROUP}/candidate"
# The name suffix of a candidate's objects, beside the citywide ones of the same names.
CANDIDATE_SUFFIX = "-candidate"

# A city's history: one apps/v1 ControllerRevision per applied blueprint spec, in the city
# namespace (the format is citykit.core.rollout.history's docstring).
REVISION_API_VERSION = "apps/v1"
CONTROLLER_REVISION = "ControllerRevision"
BLUEPRINT_LABEL = f"{GROUP}/blueprint"
BLUEPRINT_VERSION_ANNOTATION = f"{GROUP}/blueprint-version"
CATALOGUE_VERSION_ANNOTATION = f"{GROUP}/catalogue-version"
APPLIED_AT_ANNOTATION = f"{GROUP}/applied-at"
OUTCOME_ANNOTATION = f"{GROUP}/outcome"
OUTCOME_AT_ANNOTATION = f"{GROUP}/outcome-at"
OUTCOME_REASON_ANNOTATION = f"{GROUP}/outcome-reason"
# On a CityBlueprint `citykit rollback` applied, and on the revision recording it: the
# revision number it restored.
RESTORED_FROM_ANNOTATION = f"{GROUP}/restored-from"


def city_namespace(city: str) -> str:
    """The namespace a city's initiatives and workloads live in."""
    return f"city-{city}"


def namespace_city(namespace: str) -> str | None:
    """The city whose namespace `namespace` is (`city_namespace` reversed), or None."""
    return namespace.removeprefix("city-") if namespace.startswith("city-") else None


def revision_name(blueprint: str, revision: int) -> str:
    """The ControllerRevision holding revision `revision` of blueprint `blueprint`."""
    return f"{blueprint}-r{revision}"


def object_name(ref: str) -> str:
    """`mobility.adaptive-traffic-signals` -> `mobility-adaptive-traffic-signals`."""
    return ref.replace(".", "-")


def area_of(ref: str) -> str:
    """`mobility.adaptive-traffic-signals` -> `mobility`."""
    return ref.split(".", 1)[0]


def city_labels(city: str) -> dict[str, str]:
    return {**MANAGED_BY, CITY_LABEL: city}


def initiative_labels(city: str, ref: str) -> dict[str, str]:
    return {**city_labels(city), AREA_LABEL: area_of(ref), INITIATIVE_LABEL: object_name(ref)}
