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

S3 settings: Beam's ``--s3_*`` pipeline options (``S3Options``) become s3fs keyword arguments
(``s3fs_options``) in fsspec's configuration, so every ``s3://`` file system this process opens
uses them, ours and pyarrow's alike. The launcher sets them (``configure_s3``); a worker process
finds them in the pipeline options Beam hands it, through the source ``follow_s3_options``
registers (``transforms.storage_options``; media/ never imports Beam).

A local write interrupted by a crash can leave its temporary (``.<name>.<8 random>.tmp``) beside
the final name; ``sweep_temporaries`` removes those a run finds older than its own start.

``redact`` hides credentials in a URI before it is printed, logged or stored.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import random
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any, TypeVar

import fsspec
from fsspec import AbstractFileSystem

log = logging.getLogger("talkie.storage")

T = TypeVar("T")

# scheme://user:password@host/...  ->  scheme://***@host/...
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
# ?X-Amz-Signature=...&token=...  ->  values of credential-like query parameters hidden
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:[\w-]*(?:signature|credential|token|secret|password|passwd|sig|key)[\w-]*)=)[^&\s#'\"(),;:]+"
)


def redact(text: str) -> str:
    """``text`` with URL user-info and credential-like query parameter values replaced by ***,
    and lone surrogates (a file name's undecodable bytes) written as escapes, so that every
    table, tag and log line can store it as UTF-8."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = _USERINFO.sub(r"\1***@", text)
    return _SECRET_PARAM.sub(r"\1***", text)


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
                redact(what),
                tries_made,
                policy.attempts,
                type(exc).__name__,
                redact(str(exc)),
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


# ----------------------------------------------------------------------------- S3 settings

_S3_LOCK = threading.Lock()
_s3_configured: dict[str, Any] | None = None  # set by configure_s3: wins over the source
_s3_source: Callable[[], Mapping[str, Any]] | None = None
_s3_applied: dict[str, Any] = {}  # what is in fsspec.config.conf["s3"] on our behalf
_s3_displaced: dict[str, Any] = {}  # the values those keys had before (_ABSENT: none)
_ABSENT = object()


def s3fs_options(
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    api_version: str | None = None,
    verify: str | bool | None = None,
    disable_ssl: bool = False,
) -> dict[str, Any]:
    """s3fs.S3FileSystem keyword arguments for Beam's S3Options (``--s3_access_key_id`` and so
    on): only what was given, so the AWS environment (``AWS_*`` variables, profiles) supplies the
    rest. ``verify`` is a CA bundle path, or true/false (strings as Beam's flag gives them)."""
    options: dict[str, Any] = {}
    client: dict[str, Any] = {}
    for name, value in (("key", access_key_id), ("secret", secret_access_key), ("token", session_token)):
        if value:
            options[name] = value
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    if disable_ssl:
        options["use_ssl"] = False
    if region_name:
        client["region_name"] = region_name
    if api_version:
        client["api_version"] = api_version
    if verify is not None and verify != "":
        if isinstance(verify, str) and verify.lower() in ("true", "false"):
            verify = verify.lower() == "true"
        client["verify"] = verify
    if client:
        options["client_kwargs"] = client
    return options


def configure_s3(options: Mapping[str, Any] | None) -> None:
    """Every s3:// file system this process opens from now on gets ``options`` (``s3fs_options``);
    ``{}`` leaves S3 to the AWS environment. Wins over a source (``follow_s3_options``); None
    follows the source again."""
    global _s3_configured
    with _S3_LOCK:
        _s3_configured = None if options is None else dict(options)
        _apply_s3(_s3_configured or {})


def follow_s3_options(source: Callable[[], Mapping[str, Any]] | None) -> None:
    """Where a process that ``configure_s3`` never ran in (a pipeline worker) finds its S3
    options: ``source()`` is asked before each remote call (it must be cheap), so the options of
    the pipeline being run apply. None stops following."""
    global _s3_source
    with _S3_LOCK:
        _s3_source = source


def _apply_s3(options: dict[str, Any]) -> None:
    """Puts ``options`` into fsspec's configuration for s3 (s3fs reads it for s3a too), giving
    back the values earlier options displaced; s3fs caches instances by their arguments, so
    other options give other instances. The caller holds _S3_LOCK."""
    global _s3_applied, _s3_displaced
    if options == _s3_applied:
        return
    conf = fsspec.config.conf.setdefault("s3", {})
    for key in _s3_applied:
        previous = _s3_displaced.get(key, _ABSENT)
        if previous is _ABSENT:
            conf.pop(key, None)
        else:
            conf[key] = previous
    _s3_displaced = {key: conf.get(key, _ABSENT) for key in options}
    conf.update(options)
    _s3_applied = dict(options)


def _s3_options_in_force() -> None:
    if _s3_configured is not None or _s3_source is None:
        return
    options = dict(_s3_source())
    with _S3_LOCK:
        if _s3_configured is None:
            _apply_s3(options)


def filesystem(uri: str) -> tuple[AbstractFileSystem, str]:
    """(fsspec file system, path) for ``uri``, with this process's S3 options in force."""
    _s3_options_in_force()
    fs, path = fsspec.core.url_to_fs(uri)
    return fs, path


def _fresh_fs(uri: str) -> tuple[AbstractFileSystem, str]:
    """(file system, path) with the listings cached at and above ``path`` dropped."""
    fs, path = filesystem(uri)
    fs.invalidate_cache(path)
    return fs, path


def open_input(uri: str, **open_options: Any) -> IO[bytes]:
    """A seekable binary file object for a local path or fsspec URI. The caller closes it.

    Opening (the object's metadata) is retried here; the reads that follow are ranged requests
    that gcsfs and s3fs retry themselves. ``open_options`` go to the remote file system's
    ``open`` (e.g. ``cache_type="none"``: ``media.streaming``).
    """
    if is_local(uri):
        return open(local_path(uri), "rb")

    def open_remote() -> IO[bytes]:
        fs, path = _fresh_fs(uri)
        opened: IO[bytes] = fs.open(path, "rb", **open_options)
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


# write_bytes' local temporaries: tempfile.mkstemp's ".<final name>." + 8 characters of
# [a-z0-9_] + ".tmp", beside the final name.
_TEMPORARY_SUFFIX = ".tmp"
_TEMPORARY_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


def sweep_temporaries(folder: str, before: float) -> list[str]:
    """Removes the temporaries ``write_bytes`` left under the local ``folder`` (a crash between
    writing and renaming) whose last change is older than ``before`` (POSIX seconds: the run's
    start), so a write in progress, in this run or a concurrent one, is never touched. Only
    write_bytes' own name pattern, only regular files; symlinks are not followed. Returns the
    paths removed, sorted; an object store (nothing is written under a temporary name there) or
    a folder that does not exist gives []."""
    if not is_local(folder):
        return []
    removed = []
    for parent, _, names in os.walk(local_path(folder)):
        for name in names:
            if not _TEMPORARY_NAME.fullmatch(name):
                continue
            path = os.path.join(parent, name)
            try:
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode) and info.st_mtime < before:
                    os.unlink(path)
                    removed.append(path)
            except FileNotFoundError:  # renamed or removed meanwhile by its writer
                continue
    if removed:
        log.info(
            "removed %d leftover temporaries of interrupted writes under %s", len(removed), redact(folder)
        )
    return sorted(removed)


def write_bytes(uri: str, data: bytes) -> None:
    """Publish ``data`` under ``uri`` whole or not at all."""
    if is_local(uri):
        path = local_path(uri)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=_TEMPORARY_SUFFIX)
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
    fs, path = filesystem(uri)

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
    fs, path = filesystem(uri)

    def read() -> bytes:
        data: bytes = fs.cat_file(path)
        return data

    return with_retries(read, f"read {uri}")
