"""Moving a city's blueprint to a newer catalogue version (pure): `citykit upgrade`.

An upgrade changes two values in the city's file, the catalogue pin and the blueprint's own
version (a minor bump: the city now runs different software), and nothing else: comments,
order and layout stay (`yamledit`). It is refused, with every reason at once and the file
untouched, when the city would not validate under the new version, and first of all when
it runs an initiative the new version removed (the refusal names the successor) or sets a
parameter the new version no longer accepts (the refusal says what to set, and the note the
catalogue wrote about it). Initiatives the new version deprecates are warnings that name
their successor: the city can upgrade now and move later.

Upgrading to the version already pinned changes nothing; going back is refused (a running
city goes back with `citykit rollback`, which re-applies a blueprint it ran before).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from citykit.core.load import schemas
from citykit.core.load.errors import CitykitError, Problem, shown
from citykit.core.load.source import FieldPath, dotted, load_bytes
from citykit.core.load.yamledit import replace_scalars
from citykit.core.model.blueprint import InitiativeSpec
from citykit.core.model.catalogue import Catalogue, Removal, version_key
from citykit.core.model.validation import ValidatedBlueprint, validate

SPEC = ("spec",)
_SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?")


@dataclass(frozen=True)
class Upgrade:
    """The upgraded file's text and what it validates to; `warnings` are located notes on
    deprecated initiatives the city still runs."""

    before: ValidatedBlueprint
    after: ValidatedBlueprint
    text: str
    warnings: tuple[Problem, ...]

    @property
    def changed(self) -> bool:
        return self.after is not self.before


def bumped_minor(version: str) -> str:
    """`3.1.4` -> `3.2.0`, `2.0.0-rc.1` -> `2.1.0`: the next minor blueprint version."""
    match = _SEMVER.fullmatch(version)
    if match is None:
        raise ValueError(f"not a semantic version: {version!r}")
    return f"{match[1]}.{int(match[2]) + 1}.0"


def upgrade_blueprint(
    current: ValidatedBlueprint,
    text: str,
    target: Catalogue,
    between: Sequence[Catalogue] = (),
) -> Upgrade:
    """`current` (validated under its pin, read from `text`) moved to catalogue `target`;
    `between` are the versions released between the pin and `target`, whose removals count.
    Raises `CitykitError` with every located reason when it cannot move."""
    document, blueprint = current.document, current.blueprint
    pinned = blueprint.catalogue_version
    if target.version == pinned:
        return Upgrade(current, current, text, ())
    if version_key(target.version) < version_key(pinned):
        raise CitykitError(
            document.problem(
                (*SPEC, "catalogueVersion"),
                f"pins catalogue {pinned}, newer than {target.version}: an upgrade only moves "
                "forward (`citykit rollback CITY` re-applies a blueprint the city ran before)",
            )
        )
    removals: dict[str, Removal] = {}
    for step in (*between, target):
        removals.update(step.removed)
    problems = [
        *_removed(current, target, removals),
        *_parameters(current, target),
    ]
    if problems:
        raise CitykitError(problems)
    new_text = replace_scalars(
        document.source,
        text,
        {
            (*SPEC, "version"): bumped_minor(blueprint.version),
            (*SPEC, "catalogueVersion"): target.version,
        },
    )
    try:
        after = validate(load_bytes(document.source, new_text.encode()), target)
    except CitykitError as error:
        raise CitykitError(
            [
                dataclasses.replace(
                    problem, message=f"under catalogue {target.version}: {problem.message}"
                )
                for problem in error.problems
            ]
        ) from None
    return Upgrade(current, after, new_text, tuple(deprecations(current, target)))


def deprecations(current: ValidatedBlueprint, catalogue: Catalogue) -> list[Problem]:
    """A located warning for each initiative the city runs that `catalogue` deprecates."""
    warnings = []
    for initiative in current.blueprint.initiatives:
        entry = catalogue.entries.get(initiative.ref)
        if entry is None or entry.deprecated is None:
            continue
        deprecation = entry.deprecated
        move = f"; move to {deprecation.successor}" if deprecation.successor else ""
        warnings.append(
            current.document.problem(
                _path(initiative, "ref"),
                f"{initiative.ref} is deprecated since catalogue {deprecation.since}: "
                f"{deprecation.reason.rstrip('.')}{move}",
            )
        )
    return warnings


def _path(initiative: InitiativeSpec, *rest: str | int) -> FieldPath:
    return (*SPEC, "initiatives", initiative.index, *rest)


def _removed(
    current: ValidatedBlueprint, target: Catalogue, removals: dict[str, Removal]
) -> list[Problem]:
    problems = []
    for initiative in current.blueprint.initiatives:
        if initiative.ref in target.entries:
            continue
        removal = removals.get(initiative.ref)
        why = f": {removal.reason.rstrip('.')}" if removal else ""
        fix = (
            f"replace it with {removal.successor} (`citykit catalogue show "
            f"{removal.successor} --version {target.version}`)"
            if removal and removal.successor
            else "remove it (and what refers to it)"
        )
        problems.append(
            current.document.problem(
                _path(initiative, "ref"),
                f"catalogue {target.version} no longer has {initiative.ref}{why}; "
                f"{fix} before upgrading",
            )
        )
    return problems


def _parameters(current: ValidatedBlueprint, target: Catalogue) -> list[Problem]:
    """Each parameter the city sets that the target version's schema refuses, with the fix."""
    problems = []
    for initiative in current.blueprint.initiatives:
        entry = target.entries.get(initiative.ref)
        if entry is None or not initiative.parameters:
            continue
        base = _path(initiative, "parameters")
        validator = schemas.parameter_validator(dict(entry.parameter_schema))
        found = schemas.check_value(current.document, base, dict(initiative.parameters), validator)
        properties = entry.parameter_schema["properties"]
        prefix = dotted(base) + "."
        for problem in found:
            name = re.split(r"[.\[]", problem.path.removeprefix(prefix), maxsplit=1)[0]
            if name not in properties:
                fix = f"remove it: {entry.id} has no parameter {shown(name)} in {target.version}"
            else:
                default = properties[name].get("default")
                fix = (
                    f"set a value catalogue {target.version} accepts, or remove it to take "
                    f"the default {shown(default)}"
                )
            notes = [note for note in entry.changes if name in note]
            said = f" (catalogue {target.version}: {notes[0]})" if notes else ""
            problems.append(
                dataclasses.replace(
                    problem,
                    message=f"under catalogue {target.version}, {problem.message}; {fix}{said}",
                )
            )
    return problems
