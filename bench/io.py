"""Atomic writes: a reader never sees a half-written file or folder, and a crash leaves no debris in use."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.errors import BadParameter


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


@contextmanager
def atomic_directory(final: str | Path) -> Iterator[Path]:
    """Yield a scratch folder that becomes ``final`` only if the block completes."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    try:
        yield scratch
        if final.exists():  # another process finished first; keep theirs
            shutil.rmtree(scratch)
        else:
            os.replace(scratch, final)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def check_writable_folder(path: str | Path, flag: str) -> None:
    """Create folder ``path`` if missing and write and remove a scratch file in it, so that a folder the
    work cannot be saved to fails in one line before the work, not after it (permission bits alone do not
    say: root ignores them, and read-only mounts ignore them the other way)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BadParameter(f"{flag} {path} is a file, not a folder; pass a folder path (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BadParameter(f"{flag} {path} cannot be written ({reason}); fix its permissions or pass a folder "
                           "you can write to") from None
