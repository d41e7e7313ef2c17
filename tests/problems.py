"""What one problem line looks like, the two ways citykit prints it: at a place in a file
(`FILE:LINE:COL: field.path: message`), or naming the command-line argument or the part of
the run it is about (`--catalogue: message`, `CITY: message`, `pulumi: message`)."""

from __future__ import annotations

LOCATED_LINE = r"^[^:\n]+:\d+:\d+: \S+: .+$"
ARGUMENT_LINE = r"^[^\s:]+: .+$"
# either: what a test of "one clear line per problem" accepts
PROBLEM_LINE = rf"(?:{LOCATED_LINE[:-1]})|(?:{ARGUMENT_LINE[1:]})"
