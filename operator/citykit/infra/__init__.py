"""citykit's Pulumi program: reusable components and `program`, run by `pulumi up` from
infra/ and by `citykit up` through the Automation API."""
