"""Copying a user's images into a folder that others may share, without being turned against them.

Three things can go wrong with a plain ``open(dest / name, "xb")`` and ``copyfileobj``:

* a class folder inside the destination may be a symbolic link someone planted (``cat -> ~/.ssh``),
  and the copy would land wherever it points: folders are opened with ``O_NOFOLLOW`` relative to
  their parent's descriptor, and a link is refused with a message;
* a process killed mid-copy leaves a truncated file under its real name that the next export
  keeps: each copy is written under a hidden temporary name and only then given its real name,
  by a hard link that fails if the name is taken (so nothing is ever overwritten);
* the stored path may now be a pipe (the copy would hang), a device such as ``/dev/zero`` (it would
  fill the disk) or not an image at all: each source is opened without blocking, must be a regular
  file, and must be an image by its header before a byte is copied.

Temporary files left by a killed export are removed the next time that folder is exported into.
POSIX systems get all of this through ``dir_fd``; where the OS has no ``dir_fd`` (Windows) paths
are checked with ``lstat`` first, which leaves a small race a local attacker could win.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, TypeVar

from desktop.core.errors import ExportError
from trainer.contract import UnreadableImage, check_image_header
from trainer.files import is_stale

_DIR_FD = os.open in os.supports_dir_fd and os.link in os.supports_dir_fd
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_PARTIAL = re.compile(r"\.pigeonhole-(\d+)-[0-9a-f]{8}\.partial")
T = TypeVar("T")
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}


class UnsafeSource(Exception):
    """A stored path we will not copy from, with the reason for the export summary."""


class Folder:
    """An open folder to create files in; never follows a link below the root it came from."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    @contextmanager
    def root(cls, path: Path) -> Iterator[Folder]:
        """The destination the user chose (a link they chose themselves is followed)."""
        fd = os.open(path, os.O_RDONLY | _DIRECTORY | _CLOEXEC) if _DIR_FD else None
        try:
            yield cls(path, fd)
        finally:
            if fd is not None:
                os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def subfolder(self, name: str) -> Folder:
        """``name`` inside this folder, made if needed; ExportError if it is a link or a file."""
        path = self.path / name
        try:
            self._call(os.mkdir, name)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ExportError(f"Cannot create the folder {path}: {exc.strerror or exc}.") from exc
        if not _DIR_FD:
            if os.path.islink(path) or not os.path.isdir(path):
                raise _not_a_real_folder(path)
            return Folder(path, None)
        try:
            fd = os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=self._fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise _not_a_real_folder(path) from exc
            raise ExportError(f"Cannot open the folder {path}: {exc.strerror or exc}.") from exc
        return Folder(path, fd)

    def remove_leftovers(self) -> int:
        """Delete temporary copies that a killed export left here; returns how many."""
        try:
            with os.scandir(self._fd if self._fd is not None else self.path) as listing:
                entries = list(listing)
        except OSError:
            return 0  # an unreadable folder: the copies into it will say what is wrong
        removed = 0
        for entry in entries:
            match = _PARTIAL.fullmatch(entry.name)
            if match and entry.is_file(follow_symlinks=False) and is_stale(entry, int(match[1])):
                with suppress(FileNotFoundError):
                    self._call(os.unlink, entry.name)
                    removed += 1
        return removed

    def copy_in(self, source: Path, names: Iterator[str]) -> str:
        """Copy ``source`` in under the first of ``names`` not taken; returns the name used.

        UnsafeSource when the source is not a regular image file; OSError for I/O failures.
        """
        with open_source(source) as (src, info):
            temporary = self._create_temporary()
            try:
                with os.fdopen(temporary[1], "wb") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
                    dst.flush()
                    _copy_times_and_mode(dst.fileno(), info)
                return self._publish(temporary[0], names)
            finally:
                with suppress(FileNotFoundError):
                    self._call(os.unlink, temporary[0])

    def link_in(self, source: Path, names: Iterator[str]) -> str:
        """A symbolic link to ``source`` under the first of ``names`` not taken."""
        with open_source(source):
            pass
        for name in names:
            try:
                if self._fd is not None:
                    os.symlink(source, name, dir_fd=self._fd)
                else:
                    os.symlink(source, self.path / name)
                return name
            except FileExistsError:
                continue
        raise AssertionError("names is endless")

    def _call(self, func: Callable[..., T], name: str, *args: object) -> T:
        """``func`` on ``name`` in this folder: relative to its descriptor where the OS allows."""
        if self._fd is not None:
            return func(name, *args, dir_fd=self._fd)
        return func(str(self.path / name), *args)

    def _create_temporary(self) -> tuple[str, int]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
        while True:
            name = f".pigeonhole-{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
            try:
                return name, self._call(os.open, name, flags, 0o600)
            except FileExistsError:
                continue

    def _publish(self, temporary: str, names: Iterator[str]) -> str:
        """Give the finished copy its real name without ever replacing an existing file."""
        for name in names:
            try:
                if self._fd is not None:
                    os.link(temporary, name, src_dir_fd=self._fd, dst_dir_fd=self._fd,
                            follow_symlinks=False)  # fmt: skip
                else:
                    os.link(self.path / temporary, self.path / name)
                return name
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                if self._rename_if_free(temporary, name):  # FAT, exFAT, some network shares
                    return name
        raise AssertionError("names is endless")

    def _rename_if_free(self, temporary: str, name: str) -> bool:
        try:
            self._call(os.lstat, name)
            return False
        except FileNotFoundError:
            pass
        if self._fd is not None:
            os.rename(temporary, name, src_dir_fd=self._fd, dst_dir_fd=self._fd)
        else:
            os.rename(self.path / temporary, self.path / name)
        return True


def _not_a_real_folder(path: Path) -> ExportError:
    return ExportError(
        f"{path} is a symbolic link or not a folder, so nothing was written through it. "
        "Remove it, or export into another folder."
    )


@contextmanager
def open_source(path: Path) -> Iterator[tuple[BinaryIO, os.stat_result]]:
    """The source opened for reading, once it is known to be a regular image file.

    Opened without blocking (a pipe named photo.jpg would wait forever) and checked on the open
    descriptor, so what was checked is what is copied.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | _CLOEXEC | _BINARY)
    except FileNotFoundError as exc:
        raise UnsafeSource("file not found (moved or deleted?)") from exc
    except PermissionError as exc:
        raise UnsafeSource("no permission to read the file") from exc
    except OSError as exc:
        raise UnsafeSource(f"cannot open it ({exc.strerror or exc})") from exc
    handle = os.fdopen(fd, "rb")
    with handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a pipe, socket or device"
            raise UnsafeSource(f"not a regular file but {kind}, so it was not copied")
        try:
            check_image_header(path, handle)
        except UnreadableImage as exc:
            raise UnsafeSource(f"not an image we can read ({exc}), so it was not copied") from exc
        yield handle, info


def _copy_times_and_mode(fd: int, info: os.stat_result) -> None:
    """What ``shutil.copystat`` keeps, set on the open copy rather than on a path."""
    if os.utime in os.supports_fd:
        os.utime(fd, ns=(info.st_atime_ns, info.st_mtime_ns))
    if os.chmod in os.supports_fd:
        os.chmod(fd, stat.S_IMODE(info.st_mode) & 0o777)  # no set-user-id bits
