"""The one module that reads and writes user files. Writes are atomic (temp file in the same folder +
``os.replace``), keep the file's owner and mode, hold off SIGINT/SIGTERM/SIGHUP until done, and happen
under a per-folder lock so two otxgen processes never interleave their writes (the lock's holder also
removes temp files a killed process left). Only regular files are read or written.

Symlinks are followed: writing ``model.py -> ../shared/model.py`` replaces the link's target and keeps
the link. A file without any write permission bit is refused, even for root: someone marked it
read-only on purpose.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from otxgen.errors import InputError

MAX_BYTES = 5 * 1024 * 1024  # configs and backbone.yaml files are kilobytes; refuse before parsing more
TEMP_SUFFIX = ".otxgen-tmp"
_STEP = 64 * 1024  # what a read asks for past the size a file says it has
_NO_WAIT = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def read_text(path: Path) -> str:
    """Read a UTF-8 text file keeping its line endings; unreadable input is an ``InputError``."""
    return decode_text(read_bytes(path), str(path))


def read_bytes(path: Path, limit: int = MAX_BYTES + 1) -> bytes:
    """Up to ``limit`` bytes of a regular file. Only regular files are read: a FIFO would block the
    read forever (and a device never end), so anything else is an ``InputError`` before the read."""
    require_regular_file(path)
    try:  # O_NONBLOCK: should the path turn into a FIFO after the check, the open still returns
        fd = os.open(path, os.O_RDONLY | _NO_WAIT)
    except OSError as error:
        raise _unreadable(error, path) from None
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise InputError(_not_regular(found.st_mode), str(path))
        # to its end or the limit, asking first for the size it says and a byte more, then in small steps:
        # a read sets aside what it asks for (the limit is 5 MiB, a config a few kB; procfs says 0 bytes)
        chunks, left, ask = [], limit, found.st_size + 1
        while left > 0:
            chunk = os.read(fd, min(left, ask))
            if not chunk:
                break
            chunks.append(chunk)
            left, ask = left - len(chunk), _STEP
        return b"".join(chunks)
    finally:
        os.close(fd)


def require_regular_file(path: Path) -> None:
    """Refuse, with the reason, a path that does not lead (through any symlinks) to a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise _unreadable(error, path) from None
    except ValueError as error:  # a NUL byte in the path
        raise InputError(f"cannot read: {error}", repr(str(path))[1:-1]) from None
    if not stat.S_ISREG(mode):
        raise InputError(_not_regular(mode), str(path))


def _not_regular(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory, expected a file"
    kinds = {stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a character device"}
    kind = next((name for test, name in kinds.items() if test(mode)), "a block device")
    return f"is {kind}, not a regular file; otxgen reads and writes regular files only"


def _unreadable(error: OSError, path: Path) -> InputError:
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return InputError("no such file", str(path))
    if error.errno == errno.ELOOP:
        return InputError("symlink loop: the link never reaches a file", str(path))
    return InputError(f"cannot read: {error.strerror or error}", str(path))


def resolve(path: Path) -> Path:
    """``path`` with every symlink followed; a loop is an ``InputError`` (``Path.resolve`` raises
    ``RuntimeError`` on Python 3.11, ``OSError`` later)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        raise InputError("symlink loop: the link never reaches a file", str(path)) from None


def decode_text(data: bytes, file: str) -> str:
    """Bytes of a text file -> str, line endings and a BOM kept (a rewrite writes them back); oversized,
    binary or non-UTF-8 input is an ``InputError`` (with the line and column of the first bad byte)."""
    if len(data) > MAX_BYTES:
        raise InputError(f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB", file)
    if b"\x00" in data:
        raise InputError("binary file, expected text", file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        col = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise InputError(f"not UTF-8: byte 0x{data[error.start]:02x} cannot be decoded", file, line, col) from None


_ZIP, _PICKLE = b"PK\x03\x04", b"\x80"  # torch.save's archive, and its legacy format's pickle protocol mark


def not_a_checkpoint(path: Path) -> str | None:
    """Why ``path`` is not a file torch.save could have written (a complete zip archive, or a pickle),
    or ``None`` when it may be one; read without unpickling anything."""
    import zipfile

    start = read_bytes(path, len(_ZIP))
    if start.startswith(_ZIP):
        if not zipfile.is_zipfile(path):
            return "a damaged zip archive: its central directory is missing, the file is cut short"
        return None
    return None if start.startswith(_PICKLE) else "neither the zip archive nor the pickle torch.save writes"


def holds(path: Path, text: str) -> bool:
    """Whether ``path`` already holds ``text`` (a caller then leaves it alone: its mtime stays)."""
    data = text.encode("utf-8")
    try:
        return read_bytes(path, len(data) + 1) == data
    except InputError:
        return False


def ensure_writable(path: Path) -> None:
    """Refuse, before anything is written, a target that is not a regular file, is read-only, or is in a
    folder we cannot write."""
    target = resolve(path)
    if target.exists() and not target.is_file():
        raise InputError(_not_regular(target.stat().st_mode), str(path))
    if target.exists() and (target.stat().st_mode & 0o222 == 0 or not os.access(target, os.W_OK)):
        raise InputError("file is read-only; make it writable or pass another target", str(path))
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise InputError("cannot write in this folder", str(target.parent))


def remove_created(path: Path, text: str) -> None:
    """Remove a file otxgen created (it holds ``text``, what otxgen wrote); one changed since stays."""
    if holds(path, text):
        resolve(path).unlink()


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` atomically; the file's permission bits are kept."""
    write_all_atomic([(path, text)])


def write_all_atomic(
    items: Sequence[tuple[Path, str]], read: Mapping[Path, str | None] | None = None, folders: bool = False
) -> None:
    """Write several files as close to all-or-nothing as a file system allows: every temp file is
    written and synced first (a failure there changes nothing), then each is renamed over its target.
    SIGINT, SIGTERM and SIGHUP wait until that is done (see ``_signals_held``).

    ``read`` holds what the caller read from each file it planned from (``None``: it did not exist):
    a file that differs now was edited meanwhile (the folder lock only keeps other otxgen processes
    out), and nothing is written, so the edit is never lost. ``folders``: the targets' missing folders
    are created, after every check, and removed again when the write does not happen."""
    for path, _ in items:
        ensure_writable(path if not folders else _existing(path))
    staged: list[tuple[str, Path]] = []
    created: list[Path] = []
    current = Path()  # the file being written, for the message: an OSError names the temp file
    with _signals_held():
        try:
            for path, _ in items if folders else ():
                created += _make_folders(resolve(path).parent)
            for path, text in items:
                current = path
                staged.append((_stage(path, text), path))
            _unchanged_since(read or {})  # last, to leave the smallest window before the renames
            for tmp, path in staged:
                current = path
                os.replace(tmp, resolve(path))
            created = []
        except OSError as error:
            raise InputError(f"cannot write: {error.strerror or error}", str(current)) from None
        finally:
            _remove([tmp for tmp, _ in staged])
            for folder in reversed(created):
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _existing(path: Path) -> Path:
    """``path`` where its folder exists, else a file in its nearest existing folder (what must be writable)."""
    folder = resolve(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return path if folder == resolve(path).parent else folder / path.name


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir()
    return missing[::-1]


def _unchanged_since(read: Mapping[Path, str | None]) -> None:
    for path, before in read.items():
        exists = path.exists() or path.is_symlink()
        if exists if before is None else not holds(path, before):
            raise InputError(
                "changed while otxgen was working on it; nothing was written, so the change is kept: "
                "run the command again",
                str(path),
            )


_HELD_SIGNALS = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Block the signals that ask a process to stop while files are staged and renamed: one that comes
    meanwhile is delivered when the write is done (the process then stops as asked), so every file is
    the old one or the new one, together, and no temp file is left. Only SIGKILL (or a crash of the
    machine) can stop a write halfway: then temp files may stay, which the next write in that folder
    removes (``_remove_stale``)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stage(path: Path, text: str) -> str:
    """A synced temp file beside ``path``'s target holding ``text``, with the target's owner and
    permission bits (a build run as root must not hand the user's files to root); a new file gets
    the owner of its folder."""
    target = resolve(path)
    existing = os.stat(target) if target.exists() else None
    mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o644
    import tempfile  # only a write needs it: a check or a diff does not pay its import

    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _keep_owner(tmp, existing or os.stat(target.parent))
        os.chmod(tmp, mode)  # after chown, which clears set-id bits
    except BaseException:
        _remove([tmp])
        raise
    return tmp


def _keep_owner(tmp: str, like: os.stat_result) -> None:
    """Give ``tmp`` the owner and group of ``like`` where the user may (root may; others keep theirs)."""
    mine = os.stat(tmp)
    if (mine.st_uid, mine.st_gid) != (like.st_uid, like.st_gid) and hasattr(os, "chown"):
        with contextlib.suppress(PermissionError):
            os.chown(tmp, like.st_uid, like.st_gid)


def _remove(paths: Iterable[str]) -> None:
    """Delete temp files that were not renamed (after a rename they are gone: nothing to do)."""
    for tmp in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` or refuse: a second build in the same workspace exits 2 with a
    clear message (after ``LOCK_WAIT_SECONDS``) instead of waiting for it or interleaving."""

    try:
        fd = os.open(folder, os.O_RDONLY)  # flock on the folder itself: no lock file left behind
    except OSError as error:
        raise InputError(f"cannot open folder: {error.strerror or error}", str(folder)) from None
    try:
        _flock(fd, folder)
        _remove_stale(folder)
        yield
    finally:
        os.close(fd)


# How long a lock held elsewhere is waited for before refusing: a process forked by a library thread
# holds a copy of the lock's descriptor until it runs its program (seen in a matrix worker after an
# OpenVINO conversion failed: the next cell's build was refused its own new folder).
LOCK_WAIT_SECONDS = 2.0


def _flock(fd: int, folder: Path) -> None:
    import fcntl
    import time

    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() >= deadline:
                raise InputError(
                    "another otxgen process is writing here; try again when it ends", str(folder)
                ) from None
        time.sleep(0.05)


# mkstemp's names: ".<target name>.<8 random characters>.otxgen-tmp"
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX))


def _remove_stale(folder: Path) -> None:
    """Temp files of otxgen's own naming left in ``folder`` by a process killed mid-write (SIGKILL).
    Called with the folder's lock held: no other otxgen is writing there now."""
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if _TEMP_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


@contextlib.contextmanager
def folder_locks(folders: Iterable[Path]) -> Iterator[None]:
    """``folder_lock`` on each distinct folder (resolved, in sorted order)."""
    with contextlib.ExitStack() as stack:
        for folder in sorted({resolve(f) for f in folders}):
            stack.enter_context(folder_lock(folder))
        yield
