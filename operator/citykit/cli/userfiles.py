"""Writing a user's files: whole or not at all, and never over what the command read.

Every command that writes a file a user keeps (`report`, `upgrade`, `new-city` with the city's
blueprint, Pulumi stack and Ansible inventory) writes through `write_files`. A full disk, a
read-only folder, a file-size limit or a cut-off run must leave the previous file as it was,
so each file is written to a temporary file in its own folder, flushed to disk (fsync), and
renamed over the target: a rename within one folder is atomic. Several files (a scaffold) are
all staged before the first rename, and a failure removes what was staged and what this call
created, so a failed `new-city` can simply be run again.

A symlink is followed to its target, which is rewritten, and the link is kept. A device (
`/dev/stdout`, `/dev/full`) cannot be renamed over and is written directly. Every failure is
one located line naming the path and the operating system's reason.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from citykit.core.load.errors import CitykitError, Problem


@dataclass(frozen=True)
class _Staged:
    """One file on its way: the path the user named, where it really goes, and its
    temporary file (None for a device, written in place at commit)."""

    named: Path
    real: Path
    temporary: Path | None
    text: bytes


def write_file(path: Path, text: str, inputs: Iterable[Path] = ()) -> None:
    """Write `text` to `path` whole, or raise `CitykitError` leaving `path` as it was."""
    write_files({path: text}, inputs=inputs)


def check_writable(path: Path, inputs: Iterable[Path] = ()) -> None:
    """Refuse now what `write_file` would refuse (an input, a folder, a read-only file), for a
    command that has more to show before it writes."""
    problem = _refusal(path, [Path(os.path.realpath(each)) for each in inputs], False)
    if problem is not None:
        raise CitykitError(problem)


def write_files(
    contents: Mapping[Path, str],
    inputs: Iterable[Path] = (),
    new_only: bool = False,
    make_folders: bool = False,
) -> None:
    """Write every file of `contents`, or none of them.

    `inputs` are the files the command read: writing over one is refused. `new_only` refuses
    any file that exists (a scaffold never overwrites). `make_folders` creates missing parent
    folders (and removes the ones it made when the write fails)."""
    read = [Path(os.path.realpath(path)) for path in inputs]
    refusals = [
        problem for path in contents if (problem := _refusal(path, read, new_only)) is not None
    ]
    if refusals:
        raise CitykitError(refusals)
    staged: list[_Staged] = []
    made: list[Path] = []
    committed: list[_Staged] = []
    current = next(iter(contents), Path())
    try:
        for path, text in contents.items():
            current = path
            real = Path(os.path.realpath(path))
            if make_folders:
                made.extend(_make_folders(real.parent))
            staged.append(_stage(path, real, text.encode("utf-8")))
        for item in staged:
            current = item.named
            _commit(item)
            committed.append(item)
    except OSError as error:
        _undo(staged, committed if new_only else [], made)
        raise CitykitError(_failure(current, error)) from None
    except BaseException:
        _undo(staged, committed if new_only else [], made)
        raise


def _refusal(path: Path, inputs: list[Path], new_only: bool) -> Problem | None:
    if str(path) == "-":  # standard input: `upgrade -` must not leave a file named "-" behind
        return _problem(path, "is standard input, not a file citykit can write: name a file")
    real = Path(os.path.realpath(path))
    for each in inputs:
        if each == real or _same_file(each, real):
            return _problem(
                path,
                f"is an input of this command ({each}); citykit never writes over what it "
                "reads: name another output",
            )
    if new_only and (path.exists() or path.is_symlink()):
        return _problem(path, "already exists; citykit never overwrites it here")
    try:
        info = real.stat()
    except OSError:
        return None  # a new file: whether it can be written is found by writing it
    if stat.S_ISDIR(info.st_mode):
        return _problem(path, "is a folder: name a file to write")
    if stat.S_ISREG(info.st_mode) and not info.st_mode & 0o222:
        return _problem(
            path,
            f"is read-only (mode {stat.S_IMODE(info.st_mode):04o}); citykit does not write "
            "over a read-only file: make it writable first",
        )
    return None


def _same_file(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _make_folders(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; the ones created, outermost first."""
    missing: list[Path] = []
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    made: list[Path] = []
    for each in reversed(missing):
        each.mkdir()
        made.append(each)
    return made


def _stage(named: Path, real: Path, text: bytes) -> _Staged:
    try:
        info: os.stat_result | None = real.stat()
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        return _Staged(named, real, None, text)  # a device or a pipe: written at commit
    mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask()
    handle, name = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return _Staged(named, real, temporary, text)


def _commit(item: _Staged) -> None:
    if item.temporary is None:
        with open(item.real, "wb") as out:
            out.write(item.text)
            out.flush()
        return
    os.replace(item.temporary, item.real)
    with contextlib.suppress(OSError):  # not every file system can sync a folder
        folder = os.open(item.real.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _undo(staged: list[_Staged], created: list[_Staged], made: list[Path]) -> None:
    """Remove temporary files, the new files already renamed into place (when every file
    was new) and the folders this call made, innermost first; best effort."""
    for item in staged:
        if item.temporary is not None:
            with contextlib.suppress(OSError):
                item.temporary.unlink(missing_ok=True)
    for item in created:
        if item.temporary is not None:
            with contextlib.suppress(OSError):
                item.real.unlink(missing_ok=True)
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _failure(path: Path, error: OSError) -> Problem:
    reason = error.strerror or str(error)
    other = str(error.filename or "")
    same = os.path.realpath(other) == os.path.realpath(path) if other else True
    shown_other = not same and not other.endswith(".tmp")
    where = f" ({other})" if shown_other else ""
    return _problem(path, f"cannot write file: {reason}{where}")


def _problem(path: Path, message: str) -> Problem:
    return Problem(str(path), 1, 1, "", message)
