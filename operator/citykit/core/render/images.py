"""Every image a city runs, for its registry mirror (`citykit images`).

An air-gapped city cannot pull from public registries: someone copies each image into the
city's own registry first (`skopeo sync`, a pull-through mirror). That list must be exactly
what the operator and `citykit up` will deploy, so it is read from the same catalogue entries
and platform-service needs the renderers use, not kept by hand.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from citykit.core.model.validation import ValidatedBlueprint
from citykit.core.render.services import platform_services

OPERATOR_USER = "citykit-operator"


@dataclass(frozen=True)
class ImageUse:
    """One image, and who runs it: initiative ids, `platform:<service>`, the operator."""

    image: str
    used_by: tuple[str, ...]


def city_images(validated: ValidatedBlueprint, operator_image: str) -> list[ImageUse]:
    """The operator's image, each enabled initiative's components' and each platform
    service's, once each, sorted by image reference."""
    users: defaultdict[str, list[str]] = defaultdict(list)
    users[operator_image].append(OPERATOR_USER)
    for initiative in validated.blueprint.enabled:
        for component in validated.catalogue.entries[initiative.ref].components:
            users[str(component.spec["image"])].append(initiative.ref)
    for need in platform_services(validated.blueprint, validated.catalogue):
        users[need.service.image].append(f"platform:{need.id}")
    return [ImageUse(image, tuple(dict.fromkeys(who))) for image, who in sorted(users.items())]
