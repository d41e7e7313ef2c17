"""The operator image, built without a Docker daemon and without pulling any image.

Three layers, from the one that changes least to the one that changes most:
1. Debian's own Python (`python3.11-minimal`, `libpython3.11-stdlib`), unpacked by
   `mmdebstrap --variant=extract` from the host's Debian sources: no maintainer scripts run,
   so no shell, package manager or compiler comes along (a city's auditors ask for that).
   Debian rather than a Python built from source: its security updates are the city's too.
2. The operator's Python packages, pinned with hashes in `operator/image/requirements.txt`
   (Pulumi and the report's Jinja2 stay out: the operator never imports them).
3. The citykit wheel, built from the checkout as a release builds it.

Every `.py` is compiled ahead (`unchecked-hash` .pyc, which holds no time stamp) because the
operator's root filesystem is read-only. Layers 1 and 2 are cached under the citykit cache by
what they are made from; layer 3 is built every time, so the image never runs stale code.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from citykit import __version__
from citykit.toolchain.errors import ToolchainError
from citykit.toolchain.gobuild import build_lock
from citykit.toolchain.locations import cache_root
from citykit.toolchain.oci import (
    Blob,
    Image,
    ImageSpec,
    Layer,
    layer_blob,
    write_archive,
    write_layer,
)

REPOSITORY = "citykit/operator"
# The real node's sandbox image; `localhost/` because it never comes from a registry.
PAUSE_IMAGE = "localhost/citykit/pause:1"
USER_ID = 65532
SUITE = "bookworm"
# python3.11's stdlib needs libreadline8, whose readline-common depends on "dpkg | install-info":
# naming install-info (one small binary) keeps dpkg, tar and their scripts out of the image.
DEBIAN_PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "install-info")
_EXCLUDED = ("doc", "man", "locale", "info", "lintian", "bug")
PYTHON = "/usr/bin/python3.11"
SITE_PACKAGES = "usr/local/lib/python3.11/dist-packages"  # on Debian Python's sys.path
# The kubernetes client's asyncio twin (68 MB of 126): citykit uses the synchronous client
# and kopf its own aiohttp calls, so nothing imports it (tests/integration/test_real_node.py
# runs the operator from the image without it).
_UNUSED = ("kubernetes/aio",)
# SOURCE_DATE_EPOCH's role, fixed: the image's bytes do not depend on when it was built.
CREATED = "1970-01-01T00:00:00Z"
_LAUNCHER = f"""#!{PYTHON}
import sys

from citykit.cli.main import main

sys.exit(main())
"""

Report = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    """Where the image is made from: the checkout (for the wheel and the lock) and the host's
    Debian sources (for the base)."""

    checkout: Path
    sources: Path

    @property
    def requirements(self) -> Path:
        return self.checkout / "operator" / "image" / "requirements.txt"


def archive_name(version: str = __version__) -> str:
    return f"citykit-operator-{version}.tar"


def image_reference(version: str = __version__) -> str:
    """What the chart asks for: the repository and the package version as tag."""
    return f"{REPOSITORY}:{version}"


def default_output() -> Path:
    return cache_root() / "images"


def find_recipe() -> Recipe:
    """The image is built from a source checkout, with Debian's tools, by Python 3.11 (whose
    byte code the image's Python 3.11 reads)."""
    checkout = Path(__file__).resolve().parents[3]
    if not (checkout / "pyproject.toml").is_file():
        raise ToolchainError(
            "the operator image is built from a source checkout of citykit; this citykit is "
            f"installed from a wheel ({checkout} has no pyproject.toml)"
        )
    if sys.version_info[:2] != (3, 11):
        raise ToolchainError(
            "the operator image is built by Python 3.11 (its .pyc files are read by the "
            f"image's Debian Python 3.11); this is {sys.version.split()[0]}"
        )
    if shutil.which("mmdebstrap") is None:
        raise ToolchainError(
            "mmdebstrap is not installed; it unpacks the image's Debian base "
            "(apt-get install mmdebstrap)"
        )
    for sources in (
        Path("/etc/apt/sources.list.d/debian.sources"),
        Path("/etc/apt/sources.list"),
    ):
        if sources.is_file():
            return Recipe(checkout, sources)
    raise ToolchainError("no Debian package sources found in /etc/apt to build the image from")


def build_image(out: Path, cache: Path, report: Report) -> Image:
    """Builds the archive `out/citykit-operator-<version>.tar`, reusing cached layers; one
    build per cache at a time (layers are written under fixed temporary names)."""
    with build_lock(cache):
        return _build_image(out, cache, report)


def _build_image(out: Path, cache: Path, report: Report) -> Image:
    recipe = find_recipe()
    out.mkdir(parents=True, exist_ok=True)
    blobs = cache / "blobs"
    layers = (
        _cached(cache, "debian", _debian_key(recipe), lambda: _debian(recipe, blobs, report)),
        _cached(
            cache,
            "packages",
            _digest(recipe.requirements.read_bytes()),
            lambda: _packages(recipe, cache, blobs, report),
        ),
        Layer(_citykit(recipe, blobs, report), "citykit wheel"),
    )
    spec = ImageSpec(
        repository=REPOSITORY,
        tag=__version__,
        user=f"{USER_ID}:{USER_ID}",
        entrypoint=("/usr/local/bin/citykit",),
        cmd=("operator", "run"),
        env={
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",  # `kubectl logs` shows each line as it is written
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        labels={
            "org.opencontainers.image.title": "citykit-operator",
            "org.opencontainers.image.licenses": "Apache-2.0",
        },
        created=CREATED,
    )
    return write_archive(spec, layers, blobs, out / archive_name())


def _digest(*parts: bytes) -> str:
    """A cached layer's key: what it is made from, and this recipe (a change here rebuilds)."""
    return hashlib.sha256(b"\0".join((*parts, Path(__file__).read_bytes()))).hexdigest()[:16]


def _debian_key(recipe: Recipe) -> str:
    return _digest(SUITE.encode(), " ".join(DEBIAN_PACKAGES).encode(), recipe.sources.read_bytes())


def _cached(cache: Path, step: str, key: str, make: Callable[[], Blob]) -> Layer:
    """A layer made once per `key`; the record names the blob by digest."""
    record = cache / "layers" / f"{step}-{key}"
    if record.is_file():
        digest = record.read_text()
        path = cache / "blobs" / digest.removeprefix("sha256:")
        if path.is_file():
            return Layer(Blob(path, digest, path.stat().st_size), step)
    blob = make()
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(blob.digest)
    return Layer(blob, step)


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ToolchainError(f"{what} failed ({argv[0]} exited {done.returncode}):\n{tail}")


def _compile(root: Path, folder: str) -> None:
    """Byte code for every module under `root/folder`, named by its path in the image."""
    _run(
        [
            sys.executable,
            "-I",
            "-m",
            "compileall",
            "-q",
            "-j",
            "1",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(root),
            "-p",
            "/",
            str(root / folder),
        ],
        "compiling the image's Python modules",
    )


def _layer(root: Path, blobs: Path) -> Blob:
    return layer_blob(blobs, lambda out: write_layer(root, out, 0))


def _debian(recipe: Recipe, blobs: Path, report: Report) -> Blob:
    report(f"unpacking Debian's {', '.join(DEBIAN_PACKAGES)} (mmdebstrap, {SUITE})")
    with tempfile.TemporaryDirectory(prefix="citykit-image-") as scratch:
        root = Path(scratch) / "root"
        _run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=extract",
                f"--include={','.join(DEBIAN_PACKAGES)}",
                *(f"--dpkgopt=path-exclude=/usr/share/{name}/*" for name in _EXCLUDED),
                SUITE,
                str(root),
                str(recipe.sources),
            ],
            "mmdebstrap",
        )
        for leftover in ("var/cache/apt", "var/lib/apt", "var/log", "dev"):
            shutil.rmtree(root / leftover, ignore_errors=True)
        (root / "tmp").mkdir(exist_ok=True)
        (root / "tmp").chmod(0o1777)
        (root / "etc" / "passwd").write_text(
            f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"citykit:x:{USER_ID}:{USER_ID}:citykit operator:/nonexistent:/usr/sbin/nologin\n"
        )
        (root / "etc" / "group").write_text(f"root:x:0:\ncitykit:x:{USER_ID}:\n")
        _compile(root, "usr/lib/python3.11")
        return _layer(root, blobs)


def _packages(recipe: Recipe, cache: Path, blobs: Path, report: Report) -> Blob:
    # Keyed by the lock alone: what is downloaded does not change when this recipe does.
    lock = recipe.requirements.read_bytes()
    wheels = cache / "wheels" / hashlib.sha256(lock).hexdigest()[:16]
    if not (wheels / ".complete").is_file():
        report("downloading the operator's Python packages (pinned, hashed)")
        _pip(
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "-r",
            str(recipe.requirements),
            "-d",
            str(wheels),
        )
        (wheels / ".complete").write_text("")
    with tempfile.TemporaryDirectory(prefix="citykit-image-") as scratch:
        root = Path(scratch)
        _pip(
            "install",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--require-hashes",
            "--find-links",
            str(wheels),
            "-r",
            str(recipe.requirements),
            "--target",
            str(root / SITE_PACKAGES),
        )
        _tidy(root)
        return _layer(root, blobs)


# What the wheel is built from (pyproject's package-data reaches the top-level folders through
# citykit/data's links); copied first, so setuptools' build/ folder never lands in the
# checkout, nor stale modules from an earlier build/ in the wheel.
_WHEEL_SOURCES = (
    "pyproject.toml",
    "README.md",
    "operator/citykit",
    "blueprints",
    "charts",
    "playbooks",
    "gomodules",
)
_NOT_SOURCES = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".ansible")


def _citykit(recipe: Recipe, blobs: Path, report: Report) -> Blob:
    report(f"building the citykit {__version__} wheel")
    with tempfile.TemporaryDirectory(prefix="citykit-image-") as scratch:
        source, dist, root = (Path(scratch) / name for name in ("source", "dist", "root"))
        for name in _WHEEL_SOURCES:
            origin = recipe.checkout / name
            if origin.is_dir():
                shutil.copytree(origin, source / name, symlinks=True, ignore=_NOT_SOURCES)
            else:
                source.mkdir(exist_ok=True)
                shutil.copy2(origin, source / name)
        _pip("wheel", "--no-deps", "--wheel-dir", str(dist), str(source))
        (wheel,) = dist.glob("citykit-*.whl")
        _pip(
            "install",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--target",
            str(root / SITE_PACKAGES),
            str(wheel),
        )
        _tidy(root)
        launcher = root / "usr" / "local" / "bin" / "citykit"
        launcher.parent.mkdir(parents=True)
        launcher.write_text(_LAUNCHER)
        launcher.chmod(0o755)
        return _layer(root, blobs)


def _pip(*args: str) -> None:
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--quiet",
            *args,
        ],
        f"pip {args[0]}",
    )


def _tidy(root: Path) -> None:
    """Leaves out what names the build machine (scripts whose first line is this host's
    Python, the local path a wheel was installed from) and what the operator never imports,
    drops those files from each package's RECORD so it lists what the image holds, then
    compiles."""
    site = root / SITE_PACKAGES
    for unused in ("bin", *_UNUSED):
        shutil.rmtree(site / unused, ignore_errors=True)
    for installed_from in site.glob("*.dist-info/direct_url.json"):
        installed_from.unlink()
    for record in site.glob("*.dist-info/RECORD"):
        lines = record.read_text().splitlines(keepends=True)
        kept = [line for line in lines if (site / line.split(",", 1)[0]).exists()]
        record.write_text("".join(kept))
    _compile(root, SITE_PACKAGES)


def build_pause_image(pause: Path, cache: Path) -> Path:
    """The real node's sandbox image: one static binary (gomodules/local-cluster/cmd/pause),
    named as the node's containerd asks for it."""
    with build_lock(cache):
        return _build_pause_image(pause, cache)


def _build_pause_image(pause: Path, cache: Path) -> Path:
    blobs = cache / "blobs"
    with tempfile.TemporaryDirectory(prefix="citykit-image-") as scratch:
        root = Path(scratch)
        shutil.copy(pause, root / "pause")
        (root / "pause").chmod(0o755)
        layer = Layer(_layer(root, blobs), "pause")
    repository, tag = PAUSE_IMAGE.rsplit(":", 1)
    spec = ImageSpec(
        repository=repository,
        tag=tag,
        user="65535:65535",
        entrypoint=("/pause",),
        cmd=(),
        env={},
        labels={"org.opencontainers.image.title": "citykit-pause"},
        created=CREATED,
    )
    out = cache / "pause"
    out.mkdir(parents=True, exist_ok=True)
    return write_archive(spec, (layer,), blobs, out / "pause.tar").archive
