"""The README and the documentation site hold together: no broken link, no page left out.

The README is a newcomer's page (and the package's page on PyPI); the reference and the
measurements live in docs/, built by mkdocs. `mkdocs build --strict` fails on a link to a
missing page or anchor and on a page missing from `nav`; the README is outside mkdocs's
docs folder, so its relative links are checked here, anchors as GitHub renders headings.
Needs no Go, network or cluster.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
README = REPOSITORY / "README.md"
DOCS = REPOSITORY / "docs"

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(markdown: str) -> str:
    """The text outside code blocks and code spans, where a link can be."""
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def anchor(heading: str) -> str:
    """The id GitHub (and mkdocs's toc) give a heading: lower case, punctuation dropped,
    spaces turned to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors_in(path: Path) -> set[str]:
    return {anchor(title) for title in HEADING.findall(FENCE.sub("", path.read_text()))}


def relative_links(path: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(prose(path.read_text()))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # https:, mailto:
    ]


def test_the_readme_has_relative_links_to_check() -> None:
    assert len(relative_links(README)) >= 10


@pytest.mark.parametrize("target", sorted(set(relative_links(README))))
def test_a_readme_link_points_at_an_existing_file_or_anchor(target: str) -> None:
    path_part, _, fragment = target.partition("#")
    path = (README.parent / path_part).resolve() if path_part else README
    assert path.exists(), f"README links {target}: {path} does not exist"
    if fragment:
        assert path.suffix == ".md", f"README links {target}: an anchor into a non-Markdown file"
        assert fragment in anchors_in(path), f"README links {target}: no heading {fragment!r}"


def test_the_readme_links_every_docs_page() -> None:
    linked = {
        (README.parent / target.partition("#")[0]).resolve() for target in relative_links(README)
    }
    unlinked = sorted(page.name for page in DOCS.glob("*.md") if page.resolve() not in linked)
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_the_readme_opens_with_the_two_commands_then_a_table_of_contents() -> None:
    before, _, after = README.read_text().partition("\n## Contents\n")
    assert after, "the README has no ## Contents"
    assert "```bash" in before, "the two commands come first"
    assert "\n## " not in before, "no section comes before the table of contents"
    contents = after.split("\n## ", 1)[0]
    for section in ("Prerequisites", "Quickstart", "Troubleshooting", "Commands"):
        assert f"](#{anchor(section)})" in contents, section


def test_the_documentation_site_builds_strict(tmp_path: Path) -> None:
    """Offline, with mkdocs's own theme: broken links or anchors, or pages outside nav, fail."""
    built = subprocess.run(
        [
            sys.executable, "-m", "mkdocs", "build", "--strict",
            "--config-file", str(REPOSITORY / "mkdocs.yml"),
            "--site-dir", str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "rollout" / "index.html").is_file()
