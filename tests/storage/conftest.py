"""A local GCS emulator (gcp-storage-emulator) for the object-storage tests: a real HTTP protocol, not mocks.

The session fixture starts the emulator on a free loopback port as a subprocess, points
``STORAGE_EMULATOR_HOST`` at it (gcsfs and google-cloud-storage both honour it), creates a bucket
and yields its ``gs://`` prefix; afterwards it stops the emulator's whole process group.
"""
from __future__ import annotations

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


def _wait_until_up(endpoint: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the GCS emulator exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{endpoint}/storage/v1/b", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the GCS emulator did not answer on {endpoint} within {STARTUP_S:.0f} s: "
                       f"{log.read_text()[-2000:]}")


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
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command, "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    saved = {k: os.environ.get(k) for k in ("STORAGE_EMULATOR_HOST", "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "FSSPEC_GCS_TOKEN")}
    try:
        _wait_until_up(endpoint, process, log)
        os.environ["STORAGE_EMULATOR_HOST"] = endpoint
        # gcsfs reads this when it is imported; its zonal/HNS probing calls APIs the emulator lacks.
        os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
        # No credential lookup (metadata server, gcloud files): subprocesses read this when fsspec loads.
        os.environ["FSSPEC_GCS_TOKEN"] = "anon"
        yield endpoint
    finally:
        _stop(process)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
