"""A film's bytes as its decoder asks for them: ranged reads from a bucket that grow with a
sequential run, and the file's SHA-256 taken on the way through.

A master may run to hundreds of gigabytes, so nothing here downloads it or holds more than one
fetch of it. ``open_stream`` is what the decoders read (``media.container``):

- on local disk, the file itself;
- in a bucket (any fsspec URI), an fsspec file with fsspec's own cache off (each read one ranged
  request) under ``RangeReader``, which fetches what FFmpeg asks for and, while FFmpeg keeps
  reading on from where the last fetch ended, a little more: 1/``GROWTH`` of the bytes read in
  a row so far, at most ``MAX_FETCH``. After a jump (the container's index at the end, a scene's
  start) it fetches only what is asked, so a scene's decode reads within a few percent of what
  its demuxer reads, while a whole-film pass makes a few hundred requests, not one per FFmpeg
  read (32 KiB). fsspec's default for gcsfs and s3fs, a 5 MiB read-ahead block after every jump,
  fetched about 15 MiB for each 1-3 MiB scene of a 160x120 FFV1 film (bench/masters.py).

``HashingReader`` hashes the bytes a reader passes in file order, so the shot-list pass over a
film gives its SHA-256 (the film_id's) without reading the file a second time.
"""

from __future__ import annotations

import hashlib
import io
from typing import IO, Any, cast

from media import storage

GROWTH = 32  # a sequential run's next fetch is 1/GROWTH of the run so far: at most ~3% past its end
MAX_FETCH = 16 << 20
HASH_CHUNK = 8 << 20


class RangeReader(io.RawIOBase):
    """A seekable reader over ``raw`` (an fsspec file whose every read is one ranged request) that
    fetches as the module docstring says and keeps only the last fetch."""

    def __init__(self, raw: IO[bytes], size: int) -> None:
        super().__init__()
        self._raw = raw
        self._size = size
        self._pos = 0
        self._buffer = b""
        self._buffer_start = 0
        self._run = 0  # bytes fetched in a row before the buffer: its sequential run
        self.fetches = 0
        self.fetched = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"whence {whence} is not one of 0, 1, 2")
        if target < 0:
            raise ValueError(f"cannot seek to {target}, before the start")
        self._pos = target
        return target

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._size - self._pos)
        done = 0
        while done < wanted:
            offset = self._pos - self._buffer_start
            if not 0 <= offset < len(self._buffer):
                self._fetch(wanted - done)
                offset = 0
            count = min(wanted - done, len(self._buffer) - offset)
            view[done : done + count] = self._buffer[offset : offset + count]
            self._pos += count
            done += count
        return done

    def _fetch(self, wanted: int) -> None:
        sequential = self._pos == self._buffer_start + len(self._buffer) and self._buffer
        self._run = self._run + len(self._buffer) if sequential else 0
        length = min(max(wanted, min(MAX_FETCH, self._run // GROWTH)), self._size - self._pos)
        self._raw.seek(self._pos)
        data = self._raw.read(length)
        if not data:
            raise OSError(
                f"read nothing at byte {self._pos} of {self._size}: the object changed or was cut short"
            )
        self._buffer, self._buffer_start = data, self._pos
        self.fetches += 1
        self.fetched += len(data)

    def close(self) -> None:
        if not self.closed:
            self._buffer = b""
            self._raw.close()
        super().close()


def open_stream(uri: str) -> IO[bytes]:
    """A seekable binary reader of ``uri`` for a decoder (module docstring). The caller closes it.

    Raises FileNotFoundError for a missing file or object.
    """
    if storage.is_local(uri):
        return open(storage.local_path(uri), "rb")
    raw = storage.open_input(uri, cache_type="none")
    try:
        size = raw.seek(0, io.SEEK_END)
        raw.seek(0)
    except BaseException:
        raw.close()
        raise
    return cast(IO[bytes], RangeReader(raw, size))


class HashingReader(io.RawIOBase):
    """Passes reads of ``raw`` (seekable) through and hashes the file's bytes in order.

    A read that covers the hashed frontier extends it; reads elsewhere (a demuxer looking at the
    index at the end first) are passed on unhashed. ``finish()`` reads what is left past the
    frontier and returns (SHA-256 hex digest, byte count): a decoder that read the file through
    to its end leaves nothing, or the few bytes it skipped.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        name = getattr(raw, "name", None)
        if isinstance(name, str):  # what FFmpeg names the input in its errors, as for raw itself
            self.name = name
        self.size = raw.seek(0, io.SEEK_END)  # the file's byte count when opened
        raw.seek(0)
        self._pos = 0
        self._hashed = 0
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = self._raw.seek(offset, whence)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view))
        count = len(data)
        view[:count] = data
        start, end = self._pos, self._pos + count
        if start <= self._hashed < end:
            self._digest.update(memoryview(data)[self._hashed - start :])
            self._hashed = end
        self._pos = end
        return count

    def finish(self) -> tuple[str, int]:
        """(SHA-256 hex digest, size) of the whole file; leaves the reader at its end."""
        self._raw.seek(self._hashed)
        while chunk := self._raw.read(HASH_CHUNK):
            self._digest.update(chunk)
            self._hashed += len(chunk)
        self._pos = self._hashed
        return self._digest.hexdigest(), self._hashed

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
