"""Beam's local job service for tests, and what two restore runs must agree on byte for byte."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from transforms.tables import read_table

# docs/design.md's outputs that carry no run id: the same bytes whichever runner wrote them. The review
# report's preview MP4s beside the films are left out: their AAC/H.264 bytes differ between the
# pytest process and fresh worker processes (measured: each kind of process repeats its own bytes).
BYTE_FOLDERS = ("audio", "films")
BYTE_SUFFIXES = (".flac", ".mkv")
TABLES = ("films", "scenes", "takes", "failures")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def local_job_service(log_path: Path, *, start_timeout_s: float = 120.0) -> Iterator[str]:
    """``python -m apache_beam.runners.portability.local_job_service_main`` on a free port;
    yields its endpoint (``localhost:PORT``) once it accepts connections, and stops it after."""
    port = free_port()
    with open(log_path, "wb") as log:
        service = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "apache_beam.runners.portability.local_job_service_main",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        try:
            deadline = time.monotonic() + start_timeout_s
            while True:
                if service.poll() is not None:
                    raise RuntimeError(
                        f"the local job service exited with {service.returncode} before it "
                        f"listened on port {port}: {log_path.read_text()[-3000:]}"
                    )
                with contextlib.suppress(OSError), socket.create_connection(("localhost", port), timeout=1):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the local job service did not listen on port {port} within "
                        f"{start_timeout_s:.0f} s: {log_path.read_text()[-3000:]}"
                    )
                time.sleep(0.2)
            yield f"localhost:{port}"
        finally:
            service.terminate()
            try:
                service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait(timeout=30)


def file_digests(output: Path) -> dict[str, str]:
    """SHA-256 of every FLAC stem, film FLAC and MKV, by path under ``output``."""
    return {
        str(path.relative_to(output)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in BYTE_FOLDERS
        for path in sorted((output / folder).rglob("*"))
        if path.is_file() and path.name.endswith(BYTE_SUFFIXES)
    }


def file_names(output: Path) -> set[str]:
    """Every file under ``output`` but the tables, by path (table files are named by run id)."""
    return {
        str(p.relative_to(output))
        for p in output.rglob("*")
        if p.is_file() and p.parts[len(output.parts)] != "meta"
    }


def ledger_records(output: Path, run_id: str) -> dict[str, dict]:
    """Every ledger object by path under ``output``, without its ``run_id`` (checked to be
    ``run_id``: each run generated every unit it lists)."""
    records = {}
    for path in sorted((output / "ledger").rglob("*.json")):
        record = json.loads(path.read_bytes())
        if record.pop("run_id") != run_id:
            raise AssertionError(f"{path} names another run than {run_id}")
        records[str(path.relative_to(output))] = record
    return records


def table_rows(output: Path, run_id: str) -> dict[str, list[dict]]:
    """Run ``run_id``'s rows of every table but ``runs``, without the run id, with the output
    folder in URIs written as ``OUTPUT``, in the tables' key order."""
    prefix = str(output)
    rows = {}
    for table in TABLES:
        cleaned = []
        for row in read_table(prefix, table, run_id=run_id).to_pylist():
            row.pop("run_id")
            cleaned.append(
                {k: v.replace(prefix, "OUTPUT") if isinstance(v, str) else v for k, v in row.items()}
            )
        rows[table] = cleaned
    return rows
