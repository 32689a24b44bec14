"""Where snapshots live: an fsspec filesystem and a path, resolved from a URI (s3:// through s3fs, which
takes ``storage_options`` or the standard AWS environment variables; ``file://`` and plain paths locally)."""

from __future__ import annotations

import hashlib
import os
from typing import IO, Any

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

#: Chunk size for streaming copies and hashing: bounded memory whatever the file size.
CHUNK_BYTES = 8 * 1024 * 1024


def resolve(uri: str, storage_options: dict[str, Any] | None = None) -> tuple[AbstractFileSystem, str]:
    """The filesystem for ``uri`` and the path inside it (no trailing slash)."""
    fs, path = fsspec.core.url_to_fs(str(uri), **(storage_options or {}))
    return fs, path.rstrip("/")


def is_local(fs: AbstractFileSystem) -> bool:
    """Whether ``fs`` is the local disk (real directories, rename is atomic)."""
    return isinstance(fs, LocalFileSystem)


def ensure_dir(fs: AbstractFileSystem, path: str) -> None:
    """Create ``path`` where directories are real; object stores have none (and s3fs would try to create
    the bucket, which a team's identity may not be allowed to do)."""
    if is_local(fs):
        fs.makedirs(path, exist_ok=True)


def write_atomic(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    """Write a small file so that readers see nothing or all of it (an S3 PUT is; locally: rename)."""
    if is_local(fs):
        temporary = f"{path}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    else:
        fs.pipe_file(path, data)


def create_exclusive(fs: AbstractFileSystem, path: str, data: bytes) -> bool:
    """Write a small file only if nothing is at ``path`` yet (of racing writers exactly one wins); False if
    something already was. S3: a conditional PUT (``If-None-Match: *``); on a disk ``O_CREAT | O_EXCL``."""
    if is_local(fs):
        fs.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return True
    try:
        fs.pipe_file(path, data, mode="create")
    except FileExistsError:
        return False
    except OSError:
        # s3fs maps a PreconditionFailed without the Condition field (SeaweedFS) to a generic OSError
        fs.invalidate_cache(path)
        if fs.exists(path):
            return False
        raise
    return True


def copy_verified(fs: AbstractFileSystem, path: str, target: IO[bytes]) -> tuple[int, str]:
    """Stream ``path`` into ``target`` in bounded chunks; return (size, hex sha256) of what was read.

    No read-ahead cache: on an object store each chunk is one ranged GET, and no block (s3fs: 50 MB) is
    held beside it."""
    sha256 = hashlib.sha256()
    size = 0
    with fs.open(path, "rb", cache_type="none") as source:
        while chunk := source.read(CHUNK_BYTES):
            sha256.update(chunk)
            size += len(chunk)
            target.write(chunk)
    return size, sha256.hexdigest()
