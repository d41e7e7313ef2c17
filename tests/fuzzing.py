"""Fuzzing hostile input: the strategies (hostile edits of the example cities' text,
any value in any field, schema-shaped blueprints) and the contract check every input must
pass (`contract_defects`). Shared by tests/unit/test_fuzz.py, which runs them in CI with a
fixed seed, and benchmarks/fuzz_bench.py, which runs them longer with a random one, so that
no test module is imported as a library by another."""

from __future__ import annotations

import copy
import datetime
import functools
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import hypothesis.strategies as st
import kubernetes_validate
import kubernetes_validate.utils
import yaml
from click.testing import CliRunner
from hypothesis_jsonschema import from_schema

from citykit.api import jsonschemas
from citykit.cli.main import main
from citykit.core.load import schemas
from citykit.core.load.source import from_data, load_file
from citykit.core.model.validation import ValidatedBlueprint, validate, validate_file
from citykit.core.render.diff import diff_blueprints
from citykit.core.render.objects import initiative_resources, plan
from citykit.resources import example_cities_dir
from tests.conftest import LOCATED_LINE
from tests.deadlines import BLOW_UP
from tests.pod_security import KUBERNETES_VERSION

SECONDS_PER_CASE = BLOW_UP  # a blow-up, not speed: benchmarks/fuzz_bench.py times the cases
CITIES = {path.stem: path for path in sorted(example_cities_dir().glob("*.yaml"))}
TEXTS = {name: path.read_text() for name, path in CITIES.items()}

HOSTILE_SCALARS = [
    "2024-13-45", "0x_", "0b", "0o9", "!!int ''", "!!bool maybe", "!!timestamp nope",
    "!!float x", ".nan", ".inf", "-.inf", "1.0e+400", "1" + "0" * 400, "0x" + "f" * 5000,
    "9" * 5000, "NO", "yes", "off", "~", "", "=", "<<", "[]", "{}", "[[[]]]", '"a\\nb"',
    '"\\e[2J"', '"\\u202e"', '"\\L"', '"\\x85"', '"10m\\n"', '"tallinn\\n"', "&a x", "*a",
    "*unknown", "!custom x", "!!python/object:os.system x", "1.10", "-1", "0", "200.0",
    "1.0e+20", str(2**63), str(-(2**63) - 1), str(2**63 - 1), "x" * 5000, "9999999d",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
    '"-----BEGIN RSA PRIVATE KEY-----"', "https://user:pw@host/", "'quoted ''twice'''",
    "|\n  block\n  text", ">-\n  folded", "- a\n- b", "? complex\n: key", "@reserved", "`tick",
]  # fmt: skip
HOSTILE_CHARACTERS = [
    "\x07", "\x1b", "\u202e", "\u2028", "\x85", "\t", "\r", ":", "{", "[", "]", "&", "*", "!",
    '"', "'", "\n", "#", "%", "|", ">", "\ufeff", "\x00", "\udcff",
]  # fmt: skip


# --- the contract ---------------------------------------------------------------------------


@functools.cache
def _base(city: str) -> ValidatedBlueprint:
    return validate_file(CITIES[city])


_KUBERNETES_CHECKED: set[str] = set()
_INITIATIVES_CHECKED: set[str] = set()
# kubernetes_validate reads and parses a kind's schema file and the 3 MB of shared
# definitions on every call; the files do not change during a run, so each is read once.
_SCHEMA_CONTENTS = functools.cache(kubernetes_validate.utils.schema_contents)
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-.a-z0-9]*[a-z0-9])?\Z")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*\Z")


def _shape(value: Any) -> Any:
    """A manifest with its text and numbers reduced to their types: the OpenAPI schemas check
    types and fields, and names are checked apart (`_name_defects`), so objects of one shape
    need one (slow) schema check."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return value if isinstance(value, bool) or value is None else type(value).__name__


def _name_defects(manifest: dict[str, Any]) -> Iterator[str]:
    """Names the API server would refuse, which its OpenAPI schemas do not check."""
    metadata = manifest["metadata"]
    name_rule = DNS_LABEL if manifest["kind"] in ("Namespace", "Service") else DNS_SUBDOMAIN
    if not name_rule.match(metadata["name"]) or len(metadata["name"]) > 63:
        yield f"planned {manifest['kind']} has an invalid name {metadata['name']!r}"
    if "namespace" in metadata and not DNS_LABEL.match(metadata["namespace"]):
        yield f"planned {manifest['kind']} has an invalid namespace {metadata['namespace']!r}"
    for value in (metadata.get("labels") or {}).values():
        if not LABEL_VALUE.match(value) or len(value) > 63:
            yield f"planned {manifest['kind']} has an invalid label value {value!r}"
    containers = manifest.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
    for container in containers or ():
        for env in container.get("env", ()):
            if not ENV_NAME.match(env["name"]):
                yield f"planned {manifest['kind']} has an invalid env name {env['name']!r}"


def _kubernetes_defects(manifests: list[dict[str, Any]]) -> Iterator[str]:
    """Objects the Kubernetes (or Initiative) schema refuses, each shape checked once."""
    for manifest in manifests:
        kind = manifest["kind"]
        if manifest["apiVersion"].startswith("citykit.io/"):
            # a fuzzed city changes one to three fields, so most of its Initiatives are the
            # very ones an earlier case checked: an identical object is checked once
            key = json.dumps(manifest, sort_keys=True)
            if key in _INITIATIVES_CHECKED:
                continue
            document = from_data(manifest["metadata"]["name"], manifest)
            for problem in schemas.check(document, jsonschemas.INITIATIVE):
                yield f"planned {kind} breaks the Initiative schema: {problem}"
            _INITIATIVES_CHECKED.add(key)
            continue
        yield from _name_defects(manifest)
        key = json.dumps(_shape(manifest), sort_keys=True)
        if key in _KUBERNETES_CHECKED:
            continue
        try:
            with mock.patch.object(kubernetes_validate.utils, "schema_contents", _SCHEMA_CONTENTS):
                kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            yield f"planned {kind} {manifest['metadata']['name']!r} is invalid: {error}"[:300]
        _KUBERNETES_CHECKED.add(key)


def _rollout_adapter() -> Callable[[dict[str, Any], int], None]:
    """The operator's pure rollout step over one planned Initiative spec."""
    from citykit.api.enums import Phase, Wave
    from citykit.core.rollout.conditions import timestamp
    from citykit.core.rollout.machine import InitiativeView, next_initiative_status
    from citykit.core.rollout.status import DeploymentState, InitiativeStatus, RolloutSpec

    def step(spec: dict[str, Any], components: int) -> None:
        now = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
        rollout_spec = RolloutSpec.from_spec(spec)
        live = {ref: Phase.LIVE for ref in rollout_spec.depends_on}
        for wave, status in (
            (Wave.PILOT, InitiativeStatus()),
            (
                Wave.PILOT,
                InitiativeStatus(
                    phase=Phase.PILOT,
                    wave=Wave.PILOT,
                    pilot_healthy_since=timestamp(now - datetime.timedelta(days=1)),
                ),
            ),
            (Wave.CITYWIDE, InitiativeStatus(phase=Phase.CITYWIDE, wave=Wave.CITYWIDE)),
        ):
            ready = [DeploymentState(wave, 1, 1, True)] * components
            view = InitiativeView(rollout_spec, 1, status, live, ready, "fuzz")
            next_initiative_status(view, components, now)

    return step


ROLLOUT_STEP = _rollout_adapter()


def contract_defects(path: Path) -> list[str]:
    """Every way `citykit validate` (and, when it accepts, plan/diff/rollout) breaks the
    contract on the file at `path`; empty when it holds."""
    started = time.monotonic()
    result = CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=True)
    elapsed = time.monotonic() - started
    defects = []
    if elapsed > SECONDS_PER_CASE:
        defects.append(f"validate took {elapsed:.1f} s")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return [*defects, f"validate raised {type(result.exception).__name__}: {result.exception}"]
    lines = result.output.rstrip("\n").split("\n")
    if result.exit_code == 1:
        defects += [
            f"not one located line: {line[:200]!r}"
            for line in lines
            if not (re.match(LOCATED_LINE, line) and line.startswith(f"{path}:"))
        ]
        return defects
    if result.exit_code != 0:
        return [*defects, f"validate exited {result.exit_code}: {result.output[:200]!r}"]
    return defects + _accepted_defects(path)


def _accepted_defects(path: Path) -> list[str]:
    """What must hold of a blueprint `validate` accepted: it plans, diffs and rolls out."""
    try:
        validated = validate(load_file(path))
        manifests = plan(validated)
        json.dumps(manifests, allow_nan=False)
        defects = list(_kubernetes_defects(manifests))
        diff_blueprints(_base(_city_of(validated)), validated)
        for resource in initiative_resources(validated):
            entry = validated.catalogue.entries[resource["spec"]["ref"]]
            ROLLOUT_STEP(resource["spec"], len(entry.components))
    except Exception as error:
        return [f"accepted, then {type(error).__name__}: {str(error)[:200]}"]
    return defects


def _city_of(validated: ValidatedBlueprint) -> str:
    name = validated.blueprint.name
    return name if name in CITIES else "tallinn"


# --- strategies -----------------------------------------------------------------------------


@st.composite
def mutated_text(draw: st.DrawFn) -> bytes:
    """An example city's YAML with one to three hostile edits to its text."""
    lines = TEXTS[draw(st.sampled_from(sorted(TEXTS)))].split("\n")
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        kind = draw(st.sampled_from(["value", "insert", "delete", "repeat", "character"]))
        scalar = draw(st.sampled_from(HOSTILE_SCALARS) | st.text(max_size=20))
        if kind == "value" and ": " in line:
            lines[index] = line[: line.index(": ") + 2] + scalar
        elif kind == "insert":
            indent = line[: len(line) - len(line.lstrip())]
            lines.insert(
                index, f"{indent}{draw(st.sampled_from(['ref', 'id', 'x', 'gate']))}: {scalar}"
            )
        elif kind == "delete":
            del lines[index]
        elif kind == "repeat":
            lines.insert(index, line)
        else:
            at = draw(st.integers(0, len(line)))
            lines[index] = line[:at] + draw(st.sampled_from(HOSTILE_CHARACTERS)) + line[at:]
    return "\n".join(lines).encode("utf-8", "surrogateescape")


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


DATA = {name: yaml.safe_load(text) for name, text in TEXTS.items()}
PATHS = {name: [path for path in _paths(data) if path] for name, data in DATA.items()}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["tallinn\n", "10m\n", "API_KEY\n", "\x1b[2J", "\u202e", "a" * 3000])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@st.composite
def mutated_data(draw: st.DrawFn) -> bytes:
    """An example city with one to three fields replaced by any JSON-like value or removed."""
    city = draw(st.sampled_from(sorted(DATA)))
    data = copy.deepcopy(DATA[city])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS[city]))
        parent = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogateescape")


def _generatable(schema: Any) -> Any:
    """The blueprint schema for hypothesis-jsonschema: status left out (another file)."""
    schema = copy.deepcopy(schema)
    schema["properties"].pop("status", None)
    return schema


blueprint_shaped = from_schema(_generatable(jsonschemas.load_schema(jsonschemas.BLUEPRINT))).map(
    lambda data: yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogateescape")
)
