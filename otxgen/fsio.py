"""The one module that writes user files: atomically (temp file in the same folder + ``os.replace``),
under a per-folder lock so two otxgen processes never interleave their writes."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from otxgen.errors import InputError


def read_text(path: Path) -> str:
    """Read a UTF-8 text file keeping its line endings; unreadable input is an ``InputError``."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", str(path)) from None
    except FileNotFoundError:
        raise InputError("no such file", str(path)) from None
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", str(path)) from None
    if b"\x00" in data:
        raise InputError("binary file, expected text", str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 (byte {error.start})", str(path)) from None


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` atomically; a symlink is followed (its target is
    replaced, the link stays); the file's permission bits are kept."""
    target = path.resolve()
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    if target.exists() and not os.access(target, os.W_OK):
        raise InputError("file is read-only", str(path))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".otxgen-tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` or refuse at once: a second build in the same workspace
    exits 2 with a clear message instead of waiting or interleaving."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)  # flock on the folder itself: no lock file left behind
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise InputError(
                    "another otxgen process is writing here; try again when it ends", str(folder)
                ) from None
            raise
        yield
    finally:
        os.close(fd)
