"""The files of a model package as the registry copies them: regular files and folders
only (no symbolic links, devices, FIFOs or sockets), within `package_files` entries and
`package_bytes` bytes, copied without following links."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from automl.engine.errors import AutomlError, LimitError

COPY_BLOCK = 1 << 20


class PackageTreeError(AutomlError):
    """A package folder holds something other than regular files and folders."""


def package_entries(root: Path) -> list[tuple[Path, os.stat_result]]:
    """Every entry under `root` (relative path, lstat), checked: regular files and folders
    only, at most `package_files` entries and `package_bytes` bytes in all."""
    from automl.schemas import limit, limit_hint

    max_entries, max_bytes = limit("package_files"), limit("package_bytes")
    entries: list[tuple[Path, os.stat_result]] = []
    total = 0
    pending = [Path()]
    while pending:
        folder = pending.pop()
        for name in sorted(list_folder(root / folder)):
            relative = folder / name
            info = lstat_entry(root / relative)
            check_entry(root / relative, info)
            entries.append((relative, info))
            if stat.S_ISDIR(info.st_mode):
                pending.append(relative)
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
            if len(entries) > max_entries:
                raise LimitError(
                    f"{root}: model package has more than {max_entries:,} files and folders",
                    hint=limit_hint("package_files"),
                )
            if total > max_bytes:
                raise LimitError(
                    f"{root}: model package is larger than the limit of {max_bytes:,} bytes",
                    hint=limit_hint("package_bytes"),
                )
    return entries


def list_folder(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError as exc:
        raise PackageTreeError(
            f"{path}: cannot list the model package folder ({exc.strerror})",
            hint="check that it exists and is readable",
        ) from None


def lstat_entry(path: Path) -> os.stat_result:
    try:
        return os.lstat(path)
    except OSError as exc:
        raise PackageTreeError(
            f"{path}: cannot read this model package entry ({exc.strerror})",
            hint="check that the package is not being changed or deleted meanwhile",
        ) from None


def check_entry(path: Path, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise PackageTreeError(
            f"{path}: a symbolic link in a model package (links are never followed)",
            hint="replace the link by a copy of its target, or remove it",
        )
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise PackageTreeError(
            f"{path}: not a regular file or folder (a device, FIFO or socket) in a model package",
            hint="a package holds model.pt, settings.json, labels.json, MLmodel and "
            "requirements.txt: remove anything else",
        )


def copy_package_tree(source: Path, target: Path) -> None:
    """Copy the checked entries of `source` into the existing empty folder `target`.
    Files are opened with O_NOFOLLOW and re-checked, so a file swapped for a link or a FIFO
    after the check is refused too."""
    for relative, info in package_entries(source):
        if stat.S_ISDIR(info.st_mode):
            (target / relative).mkdir()
        else:
            copy_regular_file(source / relative, target / relative)


def copy_regular_file(source: Path, target: Path) -> None:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(source, flags)
    except OSError as exc:
        raise PackageTreeError(
            f"{source}: cannot read it as a regular file ({exc.strerror})",
            hint="a package may hold regular files only",
        ) from None
    with os.fdopen(fd, "rb") as reader:
        check_entry(source, os.fstat(reader.fileno()))
        with open(target, "xb") as writer:
            shutil.copyfileobj(reader, writer, COPY_BLOCK)


def check_download_target(output: Path) -> None:
    """`output` may be a new folder or an empty one, nothing else."""
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        raise AutomlError(
            f"{output}: exists and is not a folder; a model package is copied into a folder",
            hint="give the path of a new or empty folder",
        )
    if output.is_dir() and any(output.iterdir()):
        raise AutomlError(
            f"{output}: folder exists and is not empty",
            hint="give the path of a new or empty folder (nothing there is overwritten)",
        )
