"""A city's own project folder: what `citykit new-city` writes (`scaffold`), the Pulumi stack
settings checked before anything is provisioned (`citystack`) and the inputs the Ansible roles
demand of an inventory (`roleinputs`). Built on `core.model` and `core.render`."""
