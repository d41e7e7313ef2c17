"""The OCI archive writer: the same tree gives the same bytes, whatever the build machine's
clock, umask or file order; the archive is what `docker save` writes since Docker 25."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

from citykit.toolchain.oci import (
    ImageSpec,
    Layer,
    layer_blob,
    write_archive,
    write_layer,
)

SPEC = ImageSpec(
    repository="citykit/operator",
    tag="9.9.9",
    user="65532:65532",
    entrypoint=("/usr/local/bin/citykit",),
    cmd=("operator", "run"),
    env={"PATH": "/usr/bin"},
    labels={"org.opencontainers.image.title": "t"},
    created="1970-01-01T00:00:00Z",
)


def tree(root: Path, mtime: int, umask: int) -> Path:
    old = os.umask(umask)
    try:
        (root / "usr" / "bin").mkdir(parents=True)
        (root / "tmp").mkdir()
        (root / "tmp").chmod(0o1777)
        (root / "usr" / "bin" / "tool").write_text("#!/x\n")
        (root / "usr" / "bin" / "tool").chmod(0o750)
        (root / "usr" / "data").write_text("data")
        os.link(root / "usr" / "data", root / "usr" / "same")
        (root / "usr" / "link").symlink_to("data")
    finally:
        os.umask(old)
    for path in root.rglob("*"):
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return root


def layer_bytes(root: Path) -> bytes:
    out = io.BytesIO()
    write_layer(root, out, 0)
    return out.getvalue()


def test_a_layer_is_the_same_bytes_whatever_the_clock_and_umask(tmp_path: Path) -> None:
    first = layer_bytes(tree(tmp_path / "a", 1_000_000, 0o022))
    second = layer_bytes(tree(tmp_path / "b", 2_000_000, 0o077))

    assert first == second


def test_a_layer_is_owned_by_root_with_normalised_modes_and_kept_links(tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(layer_bytes(tree(tmp_path, 5, 0o027)))) as layer:
        members = {member.name: member for member in layer}

    assert list(members) == sorted(members)  # parents first, byte order
    assert all(
        m.uid == m.gid == 0 and m.uname == m.gname == "" and m.mtime == 0 for m in members.values()
    )
    assert members["usr/bin/tool"].mode == 0o755
    assert members["usr/data"].mode == 0o644
    assert members["tmp"].mode == 0o1777
    assert members["usr/link"].issym() and members["usr/link"].linkname == "data"
    assert members["usr/same"].islnk() and members["usr/same"].linkname == "usr/data"


def test_the_archive_is_in_docker_saves_shape_naming_the_tag(tmp_path: Path) -> None:
    root = tree(tmp_path / "root", 5, 0o022)
    blob = layer_blob(tmp_path / "blobs", lambda out: write_layer(root, out, 0))
    image = write_archive(SPEC, [Layer(blob, "root")], tmp_path / "blobs", tmp_path / "x.tar")

    with tarfile.open(image.archive) as archive:
        read = {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}
    [docker] = json.loads(read["manifest.json"])
    config = json.loads(read[docker["Config"]])

    assert "index.json" not in read  # containerd would name the image from it: import-<date>
    assert docker["RepoTags"] == ["citykit/operator:9.9.9"]
    assert docker["Layers"] == [f"blobs/sha256/{blob.digest.removeprefix('sha256:')}"]
    assert image.image_id == "sha256:" + hashlib.sha256(read[docker["Config"]]).hexdigest()
    assert config["config"]["User"] == "65532:65532"
    assert config["rootfs"]["diff_ids"] == [blob.digest]
    for name, content in read.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(content).hexdigest() == name.rsplit("/", 1)[1]


def test_writing_the_archive_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    digests = set()
    for attempt in ("a", "b"):
        root = tree(tmp_path / attempt / "root", 5 if attempt == "a" else 9, 0o022)
        blobs = tmp_path / attempt / "blobs"
        blob = layer_blob(blobs, lambda out, root=root: write_layer(root, out, 0))
        archive = tmp_path / attempt / "x.tar"
        digests.add(write_archive(SPEC, [Layer(blob, "r")], blobs, archive).archive_digest)

    assert len(digests) == 1
