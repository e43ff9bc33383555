"""A local GCS emulator (gcp-storage-emulator) for the object-storage tests: a real HTTP protocol, not mocks.

The session fixture starts the emulator on a free loopback port as a subprocess, points
``STORAGE_EMULATOR_HOST`` at it (gcsfs and google-cloud-storage both honour it), creates a bucket
and yields its ``gs://`` prefix; afterwards it stops the emulator's whole process group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

# gcsfs reads this once, when it is first imported: its experimental zonal/HNS file system probes
# APIs the emulator lacks. Set here, at collection, in case a test module imports gcsfs before
# the emulator fixture runs; it changes nothing for tests that never reach a bucket.
if "gcsfs" not in sys.modules:
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

BUCKET = "talkie-test"
STARTUP_S = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _emulator_command() -> list[str]:
    try:
        import gcp_storage_emulator  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"gcp-storage-emulator is not installed (pip install -e '.[dev]'): {exc}")
    script = Path(sys.executable).with_name("gcp-storage-emulator")
    if script.exists():
        return [str(script)]
    found = shutil.which("gcp-storage-emulator")
    if found:
        return [found]
    return [sys.executable, "-m", "gcp_storage_emulator"]


def _wait_until_up(what: str, health_url: str, process: subprocess.Popen, log: Path) -> None:
    """Polls ``health_url`` until it answers 200; raises with the server's log if it dies or stalls."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(health_url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(
        f"{what} did not answer on {health_url} within {STARTUP_S:.0f} s: {log.read_text()[-2000:]}"
    )


def _serve(command: list[str], log: Path) -> subprocess.Popen:
    """Starts a server in its own process group (``_stop`` ends the whole group), output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


@contextlib.contextmanager
def _environment_restored(keys):
    """Puts ``keys`` of os.environ back as they were (absent ones removed) on leaving."""
    saved = {k: os.environ.get(k) for k in keys}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory) -> str:
    """The emulator's endpoint (``http://127.0.0.1:PORT``), with STORAGE_EMULATOR_HOST pointing at it."""
    command = _emulator_command()
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("gcs_emulator") / "emulator.log"
    process = _serve([*command, "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"], log)
    with _environment_restored(
        ("STORAGE_EMULATOR_HOST", "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "FSSPEC_GCS_TOKEN")
    ):
        try:
            _wait_until_up("the GCS emulator", f"{endpoint}/storage/v1/b", process, log)
            os.environ["STORAGE_EMULATOR_HOST"] = endpoint
            # gcsfs reads this when it is imported; its zonal/HNS probing calls APIs the emulator lacks.
            os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
            # No credential lookup (metadata server, gcloud files): subprocesses read this when fsspec loads.
            os.environ["FSSPEC_GCS_TOKEN"] = "anon"
            yield endpoint
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def gcs_fs(gcs_emulator):
    """An anonymous gcsfs file system on the emulator, registered as fsspec's ``gs`` default."""
    import fsspec
    import gcsfs

    saved = {proto: dict(fsspec.config.conf.get(proto, {})) for proto in ("gs", "gcs")}
    for proto in saved:  # fsspec.open("gs://...") in this process: anonymous too
        fsspec.config.conf.setdefault(proto, {})["token"] = "anon"
    gcsfs.GCSFileSystem.clear_instance_cache()  # none made before the emulator's address was set
    fs = gcsfs.GCSFileSystem(token="anon")
    assert fs._location == gcs_emulator, (fs._location, gcs_emulator)
    yield fs
    for proto, conf in saved.items():
        fsspec.config.conf[proto] = conf


@pytest.fixture(scope="session")
def gcs_bucket(gcs_fs) -> str:
    """``gs://BUCKET``: a bucket on the emulator, empty when the session starts."""
    gcs_fs.mkdir(BUCKET)
    return f"gs://{BUCKET}"


@pytest.fixture
def gcs_prefix(gcs_bucket) -> str:
    """A fresh folder in the bucket for one test: ``gs://BUCKET/<random>``."""
    return f"{gcs_bucket}/{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------- S3 (moto)

S3_BUCKET = "talkie-test"
# The standard AWS environment, which both s3fs (through aiobotocore) and Beam's own s3://
# file system (boto3) read: where S3 is, which keys and which region. moto accepts any keys.
_S3_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


def _moto_command() -> list[str]:
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"moto[server] is not installed (pip install -e '.[dev]'): {exc}")
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "moto.server"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> str:
    """A moto S3 server (``http://127.0.0.1:PORT``), with the AWS environment pointing at it:
    subprocesses (the CLI, Beam's worker processes) find it from the environment alone."""
    command = _moto_command()
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    process = _serve([*command, "-H", "127.0.0.1", "-p", str(port)], log)
    with _environment_restored(_S3_ENVIRONMENT):
        try:
            _wait_until_up("the moto S3 server", f"{endpoint}/moto-api/", process, log)
            for key in _S3_ENVIRONMENT:
                os.environ.pop(key, None)
            os.environ.update(
                {
                    "AWS_ENDPOINT_URL": endpoint,
                    "AWS_ACCESS_KEY_ID": "talkie-test",
                    "AWS_SECRET_ACCESS_KEY": "talkie-test",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_CONFIG_FILE": os.devnull,  # no profile of the machine's user leaks in
                    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                }
            )
            yield endpoint
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def s3_fs(s3_server):
    """An s3fs file system on the moto server (made after the environment points at it)."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    assert fs.client_kwargs.get("endpoint_url") in (None, s3_server)
    yield fs
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def s3_bucket(s3_fs) -> str:
    """``s3://BUCKET``: a bucket on the moto server, empty when the session starts."""
    s3_fs.mkdir(S3_BUCKET)
    return f"s3://{S3_BUCKET}"


@pytest.fixture
def s3_prefix(s3_bucket) -> str:
    """A fresh folder in the bucket for one test: ``s3://BUCKET/<random>``."""
    return f"{s3_bucket}/{uuid.uuid4().hex[:12]}"
