"""What the Ansible roles demand of a city's inventory, read from their own contracts.

Each role declares its inputs in `meta/argument_specs.yml`; `ansible-playbook` refuses to
run a role whose required inputs are missing. Reading that file (rather than keeping a list
here) lets `citykit new-city` hand a new city the exact checklist the roles will enforce.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class RoleInput:
    name: str
    role: str
    type: str
    description: str

    def placeholder(self) -> str:
        """A commented-out line to fill in: the name, then what the role expects."""
        return f"# {self.name}:    # {self.role}, {self.type}: {self.description}"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def _kind(option: dict[str, Any]) -> str:
    kind = str(option.get("type", "str"))
    return f"{kind} of {option['elements']}" if "elements" in option else kind


def required_inputs(playbooks: Path) -> list[RoleInput]:
    """Required role inputs that neither the shared group_vars nor the role's defaults give,
    in role order, each once."""
    shared = set(_load(playbooks / "group_vars" / "all.yml") or {})
    found: dict[str, RoleInput] = {}
    for role in sorted(path for path in (playbooks / "roles").iterdir() if path.is_dir()):
        given = shared | set(_load(role / "defaults" / "main.yml") or {})
        specs = (_load(role / "meta" / "argument_specs.yml") or {}).get("argument_specs", {})
        for entry in specs.values():
            for name, option in (entry.get("options") or {}).items():
                if option.get("required") and name not in given and name not in found:
                    text = option.get("description", "")
                    description = " ".join(
                        (" ".join(text) if isinstance(text, list) else str(text)).split()
                    )
                    found[name] = RoleInput(name, role.name, _kind(option), description)
    return list(found.values())
