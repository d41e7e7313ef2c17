"""`pulumi up` for one city: the stack (`Pulumi.<city>.yaml`) names the city. A stack named
`citykit-system-<first 8 of the cluster's kube-system uid>` is the cluster's shared operator
(config `citykit:kubeconfig`, `citykit:context`, `citykit:operatorChart`), brought up first."""

from citykit.infra.program import program

program()
