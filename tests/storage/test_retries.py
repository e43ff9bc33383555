"""media.storage retries transient storage errors, and only those, against the real emulators.

A ``FlakyProxy`` stands between the client and the emulator and answers some requests with an
error (or drops the connection) before the emulator sees them. On S3, s3fs's and botocore's own
retries are switched off for the proxied file system, so every fault reaches media.storage:
these tests fail without its retries. gcsfs's own retries (six tries, 1-17 s apart) cannot be
switched off; on GCS the tests check that what media.storage adds never repeats a request that
cannot succeed.
"""

from __future__ import annotations

import errno

import fsspec
import pytest

from media import storage
from tests.storage.flaky_proxy import DROPPED, FORWARDED, FlakyProxy

FAST = storage.RetryPolicy(attempts=4, first_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
def fast_retries(monkeypatch) -> storage.RetryPolicy:
    monkeypatch.setattr(storage, "DEFAULT_RETRY", FAST)
    return FAST


@pytest.fixture
def s3_proxy(s3_server, s3_bucket, monkeypatch, fast_retries):
    """A proxy in front of moto; s3:// in this process goes through it with no library retries."""
    import s3fs

    monkeypatch.setattr(s3fs.S3FileSystem, "retries", 1)  # s3fs: one try
    with FlakyProxy(s3_server) as proxy:
        monkeypatch.setitem(
            fsspec.config.conf,
            "s3",
            {
                "client_kwargs": {"endpoint_url": proxy.endpoint},
                "config_kwargs": {"retries": {"total_max_attempts": 1}},  # botocore: one try
                "skip_instance_cache": True,
            },
        )
        yield proxy


@pytest.fixture
def gcs_proxy(gcs_emulator, gcs_bucket, monkeypatch, fast_retries):
    """A proxy in front of the GCS emulator; gs:// in this process goes through it."""
    with FlakyProxy(gcs_emulator) as proxy:
        conf = {
            **fsspec.config.conf.get("gs", {}),
            "endpoint_url": proxy.endpoint,
            "skip_instance_cache": True,
        }
        monkeypatch.setitem(fsspec.config.conf, "gs", conf)
        yield proxy


def outcomes(proxy: FlakyProxy) -> list[str]:
    return [outcome for _, _, outcome in proxy.requests]


def test_s3_writes_reads_and_checks_survive_503s(s3_proxy, s3_prefix, s3_fs):
    uri = f"{s3_prefix}/audio/film/unit.flac"
    payload = b"fLaC" + bytes(range(256)) * 64
    before = storage.retries()
    s3_proxy.fail_next(2, 503)
    storage.write_bytes(uri, payload)
    assert outcomes(s3_proxy)[:3] == ["503", "503", FORWARDED]
    assert s3_fs.cat_file(uri) == payload  # straight to moto: the object is whole

    s3_proxy.fail_next(3, 503)
    assert storage.read_bytes(uri) == payload
    s3_proxy.fail_next(2, 500)
    assert storage.exists(uri)
    assert storage.retries() - before == 2 + 3 + 2


def test_s3_dropped_connections_are_retried(s3_proxy, s3_prefix):
    uri = f"{s3_prefix}/ledger/film/unit.json"
    storage.write_bytes(uri, b"{}")
    s3_proxy.reset()
    before = storage.retries()
    s3_proxy.drop_next(2)
    assert storage.read_bytes(uri) == b"{}"
    # s3fs reads an object's size (HEAD) before its bytes (GET); both are dropped connections
    # or answers, and s3fs falls back once on its own after a failed HEAD
    assert outcomes(s3_proxy).count(DROPPED) == 2 and outcomes(s3_proxy)[-1] == FORWARDED
    assert storage.retries() > before


def test_s3_throttling_is_retried(s3_proxy, s3_prefix):
    uri = f"{s3_prefix}/films/film/cut.mkv"
    s3_proxy.fail_next(1, 429)
    storage.write_bytes(uri, b"matroska")
    assert outcomes(s3_proxy) == ["429", FORWARDED]


def test_s3_a_missing_object_is_not_retried(s3_proxy, s3_prefix):
    before = storage.retries()
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(f"{s3_prefix}/never/written.flac")
    assert storage.retries() == before
    # s3fs asks for the object (HEAD), then whether it is a folder (a listing): never twice the same
    assert s3_proxy.requests and len(set(s3_proxy.requests)) == len(s3_proxy.requests), s3_proxy.requests


def test_s3_a_refused_permission_is_not_retried(s3_proxy, s3_prefix):
    s3_proxy.fail_next(5, 403)
    with pytest.raises(PermissionError):
        storage.write_bytes(f"{s3_prefix}/films/film/cut.flac", b"x")
    assert outcomes(s3_proxy) == ["403"]
    assert s3_proxy.faults_left() == 4


def test_s3_an_outage_longer_than_the_policy_raises_and_publishes_nothing(s3_proxy, s3_prefix, s3_fs):
    uri = f"{s3_prefix}/audio/film/unit.flac"
    s3_proxy.fail_next(FAST.attempts + 2, 503)
    with pytest.raises(OSError) as raised:
        storage.write_bytes(uri, b"fLaC...")
    assert raised.value.errno == errno.EBUSY and storage.is_transient(raised.value)
    assert outcomes(s3_proxy) == ["503"] * FAST.attempts  # bounded: the policy's tries, no more
    s3_fs.invalidate_cache()
    assert not s3_fs.exists(uri)


def test_gcs_a_missing_object_is_asked_for_once(gcs_proxy, gcs_prefix):
    before = storage.retries()
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(f"{gcs_prefix}/never/written.flac")
    assert outcomes(gcs_proxy) == [FORWARDED] and storage.retries() == before


def test_gcs_a_refused_permission_is_asked_for_once(gcs_proxy, gcs_prefix):
    gcs_proxy.fail_next(5, 403)
    with pytest.raises(OSError, match="Forbidden"):
        storage.write_bytes(f"{gcs_prefix}/films/film/cut.flac", b"x")
    assert outcomes(gcs_proxy) == ["403"]


def test_gcs_a_503_is_absorbed_and_the_object_is_whole(gcs_proxy, gcs_prefix, gcs_fs):
    uri = f"{gcs_prefix}/audio/film/unit.flac"
    gcs_proxy.fail_next(1, 503)
    storage.write_bytes(uri, b"fLaC" * 1000)
    assert outcomes(gcs_proxy) == ["503", FORWARDED]
    assert gcs_fs.cat_file(uri) == b"fLaC" * 1000


# ------------------------------------------------------------------ which errors are transient


def test_library_errors_are_classified_by_what_another_try_could_change():
    import aiohttp
    import botocore.exceptions
    import gcsfs.retry
    from s3fs.errors import translate_boto_error

    def client_error(code: str, status: int):
        return botocore.exceptions.ClientError(
            {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "PutObject",
        )

    transient = [
        gcsfs.retry.HttpError({"code": 503, "message": "backend error"}),
        gcsfs.retry.HttpError({"code": 429, "message": "rate"}),
        translate_boto_error(client_error("SlowDown", 503)),
        translate_boto_error(client_error("InternalError", 500)),
        botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
        aiohttp.ServerDisconnectedError(),
        ConnectionResetError(errno.ECONNRESET, "reset"),
        TimeoutError("read timed out"),
    ]
    permanent = [
        FileNotFoundError("gs://b/missing"),
        translate_boto_error(client_error("NoSuchKey", 404)),
        translate_boto_error(client_error("AccessDenied", 403)),
        gcsfs.retry.HttpError({"code": 400, "message": "bad request"}),
        OSError("Forbidden: gs://b/x"),  # what gcsfs raises for a 403
        ValueError("Bad Request"),
        RuntimeError("a bug"),
    ]
    assert [e for e in transient if not storage.is_transient(e)] == []
    assert [e for e in permanent if storage.is_transient(e)] == []


def test_the_backoff_grows_and_stays_within_its_bounds():
    policy = storage.RetryPolicy(attempts=6, first_delay_s=0.5, max_delay_s=4.0)
    for tries_made, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0)]:
        delays = [policy.delay_s(tries_made) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jittered over the whole range, not a constant
    with pytest.raises(ValueError, match="attempts"):
        storage.RetryPolicy(attempts=0)
