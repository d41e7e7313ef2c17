"""OCI image archives written byte for byte the same from the same inputs.

No Docker daemon runs where citykit is built, and none is needed: an image is a few tar
layers, a JSON config and a manifest. Writing them here, rather than through buildah or
umoci, is what makes the build reproducible: every entry's owner, time and order are fixed,
nothing of the build machine (its clock, its user names, its file order) reaches the bytes.

The archive is in the shape `docker save` writes (`manifest.json` naming the tag, with the
config and layers as `blobs/sha256/<digest>`, OCI media types inside): `ctr images import`,
`podman load` and k3s's air-gap image folder all take it, and each importer completes the
name `citykit/operator:<version>` to its registry-qualified form itself, as it would for a
pull. An OCI layout's `index.json` is left out on purpose: containerd's importer then takes
the name from the index alone and, given only a tag, stores the image as `import-<date>:<tag>`,
which no Pod asks for.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True)
class Blob:
    """A file in the archive's `blobs/sha256/`, known by its digest."""

    path: Path
    digest: str  # "sha256:<hex>"
    size: int


@dataclass(frozen=True)
class Layer:
    """One layer's tarball and the history line that says where it came from."""

    blob: Blob
    created_by: str


def canonical_json(value: Any) -> bytes:
    """Sorted keys and no spaces: the same document always hashes the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _walk(root: Path) -> Iterator[Path]:
    """Every path under `root`, parents before children, siblings in byte order."""
    for entry in sorted(os.scandir(root), key=lambda e: os.fsencode(e.name)):
        path = Path(entry.path)
        yield path
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(path)


def _mode(meta: os.stat_result) -> int:
    """0755 or 0644 by the execute bit, 1777 for sticky folders (/tmp): the build machine's
    umask never reaches the layer. Nothing citykit runs needs setuid or group-writable files."""
    if stat.S_ISDIR(meta.st_mode):
        return 0o1777 if meta.st_mode & stat.S_ISVTX else 0o755
    return 0o755 if meta.st_mode & 0o111 else 0o644


def write_layer(root: Path, out: IO[bytes], mtime: int) -> None:
    """A layer of everything under `root` (the image's `/`), owned by root, every time
    `mtime`. Device files and sockets are left out: the runtime makes /dev. Hard links stay
    links, to the first path seen."""
    seen: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _walk(root):
            name = path.relative_to(root).as_posix()
            meta = path.lstat()
            mode = _mode(meta)
            if stat.S_ISDIR(meta.st_mode):
                tar.addfile(_info(name, tarfile.DIRTYPE, mode, mtime))
            elif stat.S_ISLNK(meta.st_mode):
                info = _info(name, tarfile.SYMTYPE, 0o777, mtime)
                info.linkname = os.readlink(path)
                tar.addfile(info)
            elif stat.S_ISREG(meta.st_mode):
                key = (meta.st_dev, meta.st_ino)
                if meta.st_nlink > 1 and key in seen:
                    info = _info(name, tarfile.LNKTYPE, mode, mtime)
                    info.linkname = seen[key]
                    tar.addfile(info)
                    continue
                seen[key] = name
                info = _info(name, tarfile.REGTYPE, mode, mtime)
                info.size = meta.st_size
                with path.open("rb") as content:
                    tar.addfile(info, content)


def _info(name: str, kind: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def store_blob(blobs: Path, data: bytes) -> Blob:
    digest = hashlib.sha256(data).hexdigest()
    path = blobs / digest
    path.write_bytes(data)
    return Blob(path, f"sha256:{digest}", len(data))


class _HashingWriter:
    """A file opened for writing that hashes what goes through it, so a layer or an archive
    of a hundred megabytes is not read back to learn its digest."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

    def tell(self) -> int:
        return self.size


def _write_hashed(path: Path, fill: Callable[[IO[bytes]], None]) -> tuple[str, int]:
    """Runs `fill(file)` into `path`; returns the sha256 hex digest and size written."""
    with path.open("wb") as out:
        writer = _HashingWriter(out)
        fill(writer)  # type: ignore[arg-type]  # a writer is all tarfile and fill use
    return writer.sha.hexdigest(), writer.size


def layer_blob(blobs: Path, fill: Callable[[IO[bytes]], None]) -> Blob:
    """Runs `fill(file)` to write a layer, then files it under its digest."""
    blobs.mkdir(parents=True, exist_ok=True)
    partial = blobs / ".layer.partial"
    digest, size = _write_hashed(partial, fill)
    path = blobs / digest
    partial.replace(path)
    return Blob(path, f"sha256:{digest}", size)


@dataclass(frozen=True)
class ImageSpec:
    """What the image runs and says about itself, besides its layers."""

    repository: str
    tag: str
    user: str
    entrypoint: Sequence[str]
    cmd: Sequence[str]
    env: Mapping[str, str]
    labels: Mapping[str, str]
    created: str  # RFC 3339, fixed for reproducibility


@dataclass(frozen=True)
class Image:
    archive: Path
    image_id: str  # the config's digest: what `podman images` and `crictl images` show
    archive_digest: str  # the archive file's sha256: two builds of one commit are equal
    layers_size: int  # uncompressed: what the image takes once unpacked


def write_archive(spec: ImageSpec, layers: Sequence[Layer], blobs: Path, archive: Path) -> Image:
    """Writes the config beside the layers, then the archive whole (a temporary name renamed
    at the end: an interrupted build leaves no half archive)."""
    config = store_blob(blobs, canonical_json(_config(spec, layers)))
    docker_manifest = [
        {
            "Config": _member(config),
            "RepoTags": [f"{spec.repository}:{spec.tag}"],
            "Layers": [_member(layer.blob) for layer in layers],
        }
    ]
    members = sorted(
        {_member(blob): blob for blob in (config, *(layer.blob for layer in layers))}.items()
    )
    partial = archive.with_name(f".{archive.name}.partial")

    def fill(out: IO[bytes]) -> None:
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in ("blobs", "blobs/sha256"):
                tar.addfile(_info(name, tarfile.DIRTYPE, 0o755, 0))
            for name, blob in members:
                info = _info(name, tarfile.REGTYPE, 0o644, 0)
                info.size = blob.size
                with blob.path.open("rb") as data:
                    tar.addfile(info, data)
            manifest = canonical_json(docker_manifest)
            info = _info("manifest.json", tarfile.REGTYPE, 0o644, 0)
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest))

    digest, _ = _write_hashed(partial, fill)
    partial.replace(archive)
    return Image(
        archive, config.digest, f"sha256:{digest}", sum(layer.blob.size for layer in layers)
    )


def _member(blob: Blob) -> str:
    return f"blobs/sha256/{blob.digest.removeprefix('sha256:')}"


def _config(spec: ImageSpec, layers: Sequence[Layer]) -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": spec.created,
        "config": {
            "User": spec.user,
            "Entrypoint": list(spec.entrypoint),
            "Cmd": list(spec.cmd),
            "Env": [f"{key}={value}" for key, value in spec.env.items()],
            "WorkingDir": "/",
            "Labels": {
                "org.opencontainers.image.created": spec.created,
                "org.opencontainers.image.version": spec.tag,
                **spec.labels,
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.blob.digest for layer in layers]},
        "history": [{"created": spec.created, "created_by": layer.created_by} for layer in layers],
    }
