"""`pulumi up` for one city: the stack (`Pulumi.<city>.yaml`) names the city."""

from citykit.infra.program import program

program()
