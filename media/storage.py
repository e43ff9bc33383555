"""Reading and publishing files on local disk or any fsspec URI (gs://, s3://, memory://).

Writes are atomic as docs/design.md requires: the caller builds the whole payload and it is published
in one call. Object stores publish whole objects; on local disk we write a temporary sibling and
rename it over the final name, so a crash never leaves a partial file under a final name.

Remote calls are retried when they fail transiently (a dropped connection, a timeout, HTTP 408,
429 or 5xx), with jittered exponential backoff, a few times before the error is raised; errors
that another try cannot fix (a missing object, a refused permission, a bad request) are raised at
once. gcsfs and s3fs retry some errors themselves first; this is the last line, for what gets
through them. Every retry is logged on the ``talkie.storage`` logger and tallied per process
(``retries()``), for callers that report it as a metric.

Object-store file systems cache listings and never expire them; ``exists`` and ``open_input``
drop the cached listings above their path first, so an object another process published after
this one listed the folder is seen.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO, TypeVar

import fsspec
from fsspec import AbstractFileSystem

log = logging.getLogger("talkie.storage")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a remote call is tried: try k (k >= 1) that fails transiently
    is followed by a pause drawn uniformly from [0, min(max_delay_s, first_delay_s * 2**(k-1))]
    ("full jitter"), until ``attempts`` tries have been made."""

    attempts: int = 4
    first_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts {self.attempts} must be at least 1")
        if not (0 <= self.first_delay_s <= self.max_delay_s):
            raise ValueError(
                f"need 0 <= first_delay_s ({self.first_delay_s}) <= max_delay_s ({self.max_delay_s})"
            )

    def delay_s(self, tries_made: int) -> float:
        return random.uniform(0.0, min(self.max_delay_s, self.first_delay_s * 2 ** (tries_made - 1)))


DEFAULT_RETRY = RetryPolicy()

_RETRIES = 0
_RETRIES_LOCK = threading.Lock()


def retries() -> int:
    """Retries made in this process since it started (every operation, every thread)."""
    return _RETRIES


# Errors that say the request itself is wrong: another try gives the same answer. (An OSError
# subclass is checked first; ConnectionError and TimeoutError are OSErrors too.)
_PERMANENT = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    ValueError,
    TypeError,
    KeyError,
)
# Transport-level failures named by class in libraries that are optional here (aiohttp under
# gcsfs and s3fs, botocore under s3fs, requests under google-auth): any class of these names in
# the exception's MRO from such a module marks it transient.
_TRANSIENT_CLASS_NAMES = {
    "aiohttp": {
        "ClientConnectionError",
        "ClientPayloadError",
        "ServerTimeoutError",
        "ServerDisconnectedError",
    },
    "botocore": {
        "HTTPClientError",
        "ConnectionError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ResponseParserError",
    },
    "requests": {"ConnectionError", "Timeout", "ChunkedEncodingError"},
    "urllib3": {"ProtocolError", "TimeoutError", "NewConnectionError"},
}
_TRANSIENT_S3_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
}
_TRANSIENT_ERRNOS = {
    errno.EBUSY,
    errno.EAGAIN,
    errno.ETIMEDOUT,
    errno.ECONNRESET,
    errno.ECONNREFUSED,
    errno.ECONNABORTED,
    errno.EPIPE,
    getattr(errno, "EREMOTEIO", errno.EIO),
}


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries: gcsfs's HttpError and google-api-core's errors
    (``code``), aiohttp's ClientResponseError (``status``), botocore's ClientError (``response``)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):
            return status
    for attribute in ("code", "status"):
        value = getattr(exc, attribute, None)
        if isinstance(value, str) and value.isdigit():  # gcsfs's HttpError keeps the code as given
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    return None


def _transient_by_itself(exc: BaseException) -> bool | None:
    """True or False when ``exc`` alone decides; None when its cause must be asked."""
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):  # TimeoutError covers asyncio's and fsspec's
        return True
    status = _http_status(exc)
    if status is not None:
        return status in (408, 429) or 500 <= status <= 599
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error", {}).get("Code") in _TRANSIENT_S3_CODES:
        return True
    for cls in type(exc).__mro__:
        names = _TRANSIENT_CLASS_NAMES.get(cls.__module__.split(".", 1)[0])
        if names and cls.__name__ in names:
            return True
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether another try of the same remote call could succeed (see the module docstring).

    s3fs turns botocore errors into OSErrors (a 503 becomes ``OSError(EBUSY)``) with the original
    as ``__cause__``: the chain is followed until an exception decides.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        decided = _transient_by_itself(current)
        if decided is not None:
            return decided
        current = current.__cause__ or current.__context__
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS


def with_retries(operation: Callable[[], T], what: str, policy: RetryPolicy | None = None) -> T:
    """``operation()``, tried again after transient failures (``is_transient``) up to the
    policy's attempts; the last error, or the first permanent one, is raised as it was."""
    policy = policy or DEFAULT_RETRY
    for tries_made in range(1, policy.attempts + 1):
        try:
            return operation()
        except Exception as exc:
            if tries_made == policy.attempts or not is_transient(exc):
                raise
            pause = policy.delay_s(tries_made)
            global _RETRIES
            with _RETRIES_LOCK:
                _RETRIES += 1
            log.warning(
                "%s: transient error on try %d of %d (%s: %s); trying again in %.2f s",
                what,
                tries_made,
                policy.attempts,
                type(exc).__name__,
                exc,
                pause,
            )
            time.sleep(pause)
    raise AssertionError("unreachable: the last try returns or raises")


def is_local(uri: str) -> bool:
    """True for plain paths and file:// URIs."""
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def join(base: str, *parts: str) -> str:
    """Join path segments with '/', for local paths and URIs alike."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def _fresh_fs(uri: str) -> tuple[AbstractFileSystem, str]:
    """(file system, path) with the listings cached at and above ``path`` dropped."""
    fs, path = fsspec.core.url_to_fs(uri)
    fs.invalidate_cache(path)
    return fs, path


def open_input(uri: str) -> IO[bytes]:
    """A seekable binary file object for a local path or fsspec URI. The caller closes it.

    Opening (the object's metadata) is retried here; the reads that follow are ranged requests
    that gcsfs and s3fs retry themselves.
    """
    if is_local(uri):
        return open(local_path(uri), "rb")

    def open_remote() -> IO[bytes]:
        fs, path = _fresh_fs(uri)
        opened: IO[bytes] = fs.open(path, "rb")
        return opened

    return with_retries(open_remote, f"open {uri}")


def exists(uri: str) -> bool:
    if is_local(uri):
        return os.path.exists(local_path(uri))

    def check() -> bool:
        fs, path = _fresh_fs(uri)
        found: bool = fs.exists(path)
        return found

    return with_retries(check, f"exists {uri}")


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

    def publish() -> None:
        # pipe() sends the bytes in one upload; nothing exists under the name until it succeeds,
        # so trying again after a failure publishes the same whole object.
        fs.pipe(path, data)
        fs.invalidate_cache(path)

    with_retries(publish, f"write {uri}")


def read_bytes(uri: str) -> bytes:
    if is_local(uri):
        with open(local_path(uri), "rb") as f:
            return f.read()
    fs, path = fsspec.core.url_to_fs(uri)

    def read() -> bytes:
        data: bytes = fs.cat_file(path)
        return data

    return with_retries(read, f"read {uri}")
