"""Reading and publishing files on local disk or any fsspec URI (gs://, s3://, memory://).

Writes are atomic as DESIGN.md requires: the caller builds the whole payload and it is published
in one call. Object stores publish whole objects; on local disk we write a temporary sibling and
rename it over the final name, so a crash never leaves a partial file under a final name.
"""
from __future__ import annotations

import os
import tempfile
from typing import IO

import fsspec


def is_local(uri: str) -> bool:
    """True for plain paths and file:// URIs."""
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri


def join(base: str, *parts: str) -> str:
    """Join path segments with '/', for local paths and URIs alike."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def open_input(uri: str) -> IO[bytes]:
    """A seekable binary file object for a local path or fsspec URI. The caller closes it."""
    if is_local(uri):
        return open(local_path(uri), "rb")
    return fsspec.open(uri, "rb").open()


def exists(uri: str) -> bool:
    if is_local(uri):
        return os.path.exists(local_path(uri))
    fs, path = fsspec.core.url_to_fs(uri)
    return fs.exists(path)


def write_bytes(uri: str, data: bytes) -> None:
    """Publish ``data`` under ``uri`` whole or not at all."""
    if is_local(uri):
        path = local_path(uri)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return
    fs, path = fsspec.core.url_to_fs(uri)
    # pipe() sends the bytes in one upload; nothing exists under the name until it succeeds.
    fs.pipe(path, data)


def read_bytes(uri: str) -> bytes:
    if is_local(uri):
        with open(local_path(uri), "rb") as f:
            return f.read()
    fs, path = fsspec.core.url_to_fs(uri)
    return fs.cat_file(path)


