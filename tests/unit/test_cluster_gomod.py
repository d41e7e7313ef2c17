"""The wrapper go.mod is derived from k8s.io/kubernetes's own go.mod, never hand-copied."""

from __future__ import annotations

import pytest

from citykit.toolchain.gomod import (
    UpstreamGoMod,
    parse_upstream,
    pinned_kubernetes_version,
    render_wrapper_gomod,
    staging_version,
)
from citykit.toolchain.locations import kubernetes_version, local_cluster_module

UPSTREAM = """\
module k8s.io/kubernetes

go 1.25.0

godebug default=go1.25

require (
\tgithub.com/spf13/cobra v1.10.0
\tk8s.io/api v0.0.0
\tk8s.io/apiserver v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apiserver => ./staging/src/k8s.io/apiserver
\tgithub.com/example/forked => github.com/example/fork v1.0.0
)

replace k8s.io/kms => ./staging/src/k8s.io/kms
"""


def test_staging_modules_are_tagged_v0_minor_patch() -> None:
    assert staging_version("v1.35.4") == "v0.35.4"
    assert staging_version("v1.36.0-rc.1") == "v0.36.0-rc.1"


def test_a_non_kubernetes_tag_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not a Kubernetes 1\.x release tag"):
        staging_version("v2.0.0")


def test_parse_finds_every_staging_replace_in_block_and_single_line_form() -> None:
    upstream = parse_upstream(UPSTREAM)

    assert upstream == UpstreamGoMod(
        go_version="1.25.0",
        godebug="default=go1.25",
        staging_modules=("k8s.io/api", "k8s.io/apiserver", "k8s.io/kms"),
    )


def test_rendered_gomod_pins_each_staging_module_to_its_published_tag() -> None:
    rendered = render_wrapper_gomod("v1.35.4", parse_upstream(UPSTREAM))

    assert "require k8s.io/kubernetes v1.35.4\n" in rendered
    assert "\tk8s.io/api => k8s.io/api v0.35.4\n" in rendered
    assert "\tk8s.io/kms => k8s.io/kms v0.35.4\n" in rendered
    assert "go 1.25.0\n" in rendered and "godebug default=go1.25\n" in rendered
    assert "forked" not in rendered


def test_committed_wrapper_replaces_match_what_the_generator_renders() -> None:
    committed = (local_cluster_module() / "go.mod").read_text()
    version = pinned_kubernetes_version(committed)
    replace_block = committed[committed.index("replace (") :]
    staging = tuple(line.split()[0] for line in replace_block.splitlines()[1:-1])

    rendered = render_wrapper_gomod(version, UpstreamGoMod("1.25.0", None, staging))

    assert rendered[rendered.index("replace (") :] == replace_block
    assert kubernetes_version() == version
