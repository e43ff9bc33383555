"""Crash and resume: the restore job killed with SIGKILL part-way, then run again.

Eight foley-world films (two 1-1.5 s shots each, 64x48: 16 units) go through the restore job
with the small untrained network of the pipeline tests at 8 kHz (Griffin-Lim, which dominates
generation on the CPU, costs less there), one unit per generate call, so that units are
published one after another, and with ``--score on``, so that every film gets a score, a mix and
its effects and score stems (where FluidSynth is missing the run goes without, ``--score off``).
Once:

1. an uninterrupted in-process run into a local folder gives the reference bytes (outputs do not
   depend on where they are written: stems and films carry no path, and keys hash content);
2. the job is started as ``python -m pipelines.restore`` in its own process group, writing to
   the GCS emulator (films read from the bucket too) or to a local folder; the ledger is polled
   until a third of the units are in it, then the whole group gets SIGKILL;
3. all the while, a watcher reads every object under a final name as soon as it appears or
   changes: ledger objects parse and point at the right stem bytes, stems and film tracks are
   byte-identical to the reference (so they decode whole, at the right length), MKVs and
   previews open, Parquet shards read;
4. the job runs again on the same output: its films and stems must equal the reference byte
   for byte, and its counters (the summary it prints and its ``runs`` row) must say it generated
   exactly the units that had no ledger object at the kill and skipped the others, whose ledger
   objects still name the killed run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from media import storage
from media.flac import decode_flac
from model.synth import SynthConfig, write_collection
from tests.conftest import IN_PROCESS, REPO
from tests.transforms.generation import SMALL
from transforms.tables import new_run_id, read_table

FILMS = 8


def _score_mode() -> str:
    from media.score import ScoreUnavailable, score_identity

    try:
        score_identity()
    except ScoreUnavailable:
        return "off"
    return "on"


SCORE = _score_mode()
JOB_FLAGS = [
    "--steps",
    "2",
    "--batch_size",
    "1",
    "--positive_prompt",
    "footsteps and knocks",
    "--score",
    SCORE,
]
KILL_AT_FRACTION = 1 / 3  # of the units in the ledger
KILL_POLL_S = 0.1  # how often the ledger is counted while the job runs
WATCH_POLL_S = 0.2  # how often the watcher lists the whole output
CRASH_RUN_LIMIT_S = 420

# Final names under OUTPUT (docs/design.md, "Output layout"); anything else (a local temporary
# sibling ".name.XXXX.tmp", Beam's temporary shards) is not a final name.
UNIT_OBJECT = re.compile(r"^(audio|ledger)/([^/]+)/([0-9a-f]{16})\.(flac|json)$")
FILM_OBJECT = re.compile(r"^films/([^/]+)/([0-9a-f]{16})\.(flac|mkv|preview\.mp4|effects\.flac|score\.flac)$")
FILM_BYTES = ("flac", "mkv", "effects.flac", "score.flac")  # covered by byte identity
TABLE_SHARD = re.compile(r"^meta/([a-z_]+)/(\d{8}T\d{6}Z-[0-9a-f]+)-\d{5}-of-\d{5}\.parquet$")


@dataclass(frozen=True)
class Collection:
    folder: Path
    manifest: Path
    checkpoint: str


@dataclass(frozen=True)
class Reference:
    units: frozenset[str]  # every unit key
    files: dict[str, bytes]  # audio/... and films/... (.flac, .mkv) by path under the output


class Store:
    """An output folder, local or in a bucket: list its objects, read one."""

    def __init__(self, output: str) -> None:
        self.output = output.rstrip("/")
        if not storage.is_local(output):
            import fsspec

            protocol = output.split("://", 1)[0]
            options = dict(fsspec.config.conf.get(protocol, {}))
            self._fs = fsspec.filesystem(protocol, skip_instance_cache=True, **options)

    def listing(self, under: str = "") -> dict[str, object]:
        """{path under output: a token that changes when the object does}, for every object or
        those in the folder ``under``."""
        top = f"{self.output}/{under}".rstrip("/")
        if storage.is_local(self.output):
            found = {}
            for folder, _, names in os.walk(top):
                for name in names:
                    path = os.path.join(folder, name)
                    with contextlib.suppress(FileNotFoundError):  # a temporary renamed away meanwhile
                        stat = os.stat(path)
                        found[os.path.relpath(path, self.output)] = (
                            stat.st_size,
                            stat.st_mtime_ns,
                            stat.st_ino,
                        )
            return found
        self._fs.invalidate_cache()
        root = self._fs._strip_protocol(self.output)
        return {
            p[len(root) + 1 :]: (i.get("size"), i.get("generation") or i.get("ETag") or i.get("mtime"))
            for p, i in self._fs.find(self._fs._strip_protocol(top), detail=True).items()
        }

    def read(self, path: str) -> bytes:
        if storage.is_local(self.output):
            with open(os.path.join(self.output, path), "rb") as f:
                return f.read()
        return self._fs.cat_file(f"{self._fs._strip_protocol(self.output)}/{path}")

    def ledger_keys(self) -> set[str]:
        return {
            m.group(3)
            for p in self.listing("ledger")
            if (m := UNIT_OBJECT.match(p)) and m.group(1) == "ledger"
        }


@dataclass
class Watcher:
    """Reads every object under a final name whenever it appears or changes, on a thread."""

    store: Store
    reference: Reference
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # checks made, by kind
    _seen: dict[str, object] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        self.sweep()  # and once more after the last write

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception as exc:  # a listing that failed is a finding too, not a dead thread
                self.problems.append(f"listing {self.store.output}: {type(exc).__name__}: {exc}")
            self._stop.wait(WATCH_POLL_S)

    def sweep(self) -> None:
        for path, token in self.store.listing().items():
            if self._seen.get(path) == token:
                continue
            self._seen[path] = token
            kind = self._kind(path)
            if kind is None:
                continue
            try:
                problem = self._check(kind, path, self.store.read(path))
            except FileNotFoundError:
                problem = "vanished after it was listed (objects under final names are never removed)"
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            self.checked[kind] = self.checked.get(kind, 0) + 1
            if problem:
                self.problems.append(f"{path}: {problem}")

    @staticmethod
    def _kind(path: str) -> str | None:
        if m := UNIT_OBJECT.match(path):
            return "stem" if m.group(1) == "audio" else "ledger"
        if m := FILM_OBJECT.match(path):
            return {
                "flac": "film_flac",
                "mkv": "film_mkv",
                "preview.mp4": "preview",
                "effects.flac": "film_stem",
                "score.flac": "film_stem",
            }[m.group(3)]
        if TABLE_SHARD.match(path):
            return "table"
        return None

    def _check(self, kind: str, path: str, data: bytes) -> str | None:
        expected = self.reference.files.get(path)
        if kind == "ledger":
            record = json.loads(data)
            stem = self.reference.files.get(record["flac"])
            key = UNIT_OBJECT.match(path).group(3)
            if record["unit_key"] != key or stem is None:
                return f"names unit {record['unit_key']} and stem {record['flac']}, which the reference lacks"
            import hashlib

            return None if record["flac_sha256"] == hashlib.sha256(stem).hexdigest() else "wrong stem SHA-256"
        if kind == "table":
            pq.read_table(io.BytesIO(data))
            return None
        if kind == "preview":
            with av.open(io.BytesIO(data)) as container:
                return None if container.streams.video else "a preview without video"
        if expected is None:
            return "not in the uninterrupted run's output"
        if data != expected:
            return f"{len(data)} bytes that differ from the uninterrupted run's {len(expected)}"
        if kind in ("stem", "film_flac", "film_stem"):
            audio, rate, _ = decode_flac(data)
            reference_audio, _, _ = decode_flac(expected)
            return None if rate == 48000 and audio.shape == reference_audio.shape else "wrong length"
        with av.open(io.BytesIO(data)) as container:
            return (
                None if container.streams.video and container.streams.audio else "an MKV without both streams"
            )


# --------------------------------------------------------------------------- fixtures


def save_8khz_checkpoint(path: Path) -> str:
    import torch

    from model.checkpoint import save_checkpoint
    from model.config import AudioConfig
    from model.networks import build_network
    from tests.model.test_dit import wake_up

    config = dataclasses.replace(
        SMALL,
        audio=AudioConfig(
            sample_rate=8000, n_fft=256, hop_length=125, win_length=256, n_mels=32, f_max=4000.0
        ),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = build_network(config)
    wake_up(network, 0)
    save_checkpoint(str(path), network.state_dict(), config)
    return str(path)


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Collection:
    folder = tmp_path_factory.mktemp("crash_films")
    config = SynthConfig(
        min_shots=2,
        max_shots=2,
        shot_seconds=(1.0, 1.5),
        width=64,
        height=48,
        classes=("impact", "footsteps"),
        fade_prob=0.0,
    )
    write_collection(folder, films=FILMS, seed=31, workers=1, config=config)
    checkpoint = save_8khz_checkpoint(folder / "small_8khz.safetensors")
    return Collection(folder=folder, manifest=folder / "manifest.jsonl", checkpoint=checkpoint)


def restore_in_process(manifest: str, output: str, checkpoint: str):
    from pipelines.restore import run

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        summary = run(
            ["--input", manifest, "--output", output, "--checkpoint", checkpoint, *JOB_FLAGS],
            test_pipeline=TestPipeline(options=PipelineOptions(IN_PROCESS)),
        )
    return summary, printed.getvalue()


@pytest.fixture(scope="module")
def reference(collection, tmp_path_factory) -> Reference:
    output = tmp_path_factory.mktemp("crash_reference")
    summary, _ = restore_in_process(str(collection.manifest), str(output), collection.checkpoint)
    assert (summary.films_done, summary.units_generated, summary.failures) == (FILMS, summary.takes, 0), (
        summary
    )
    store = Store(str(output))
    files = {
        p: store.read(p)
        for p in store.listing()
        if UNIT_OBJECT.match(p)
        and p.startswith("audio/")
        or (m := FILM_OBJECT.match(p))
        and m.group(3) in FILM_BYTES
    }
    stems = [p for p in files if p.endswith((".effects.flac", ".score.flac"))]
    assert len(stems) == (2 * FILMS if SCORE == "on" else 0), sorted(files)
    units = frozenset(store.ledger_keys())
    assert len(units) == summary.takes >= FILMS
    return Reference(units=units, files=files)


# --------------------------------------------------------------------------- the crash


@dataclass(frozen=True)
class Crash:
    run_id: str
    done: frozenset[str]  # unit keys in the ledger after the kill
    log: str


def start_and_kill(
    manifest: str, store: Store, checkpoint: str, reference: Reference, log_path: Path
) -> Crash:
    """Starts the job in its own process group and SIGKILLs the group once a third of the units
    are in the ledger. Fails when the job ends on its own first."""
    run_id = new_run_id()
    target = max(1, int(len(reference.units) * KILL_AT_FRACTION))
    with open(log_path, "wb") as log:
        job = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipelines.restore",
                "--input",
                manifest,
                "--output",
                store.output,
                "--checkpoint",
                checkpoint,
                *JOB_FLAGS,
                "--run_id",
                run_id,
                *IN_PROCESS,
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + CRASH_RUN_LIMIT_S
        while job.poll() is None and time.monotonic() < deadline:
            if len(store.ledger_keys()) >= target:
                os.killpg(job.pid, signal.SIGKILL)
                break
            time.sleep(KILL_POLL_S)
        ended_by_itself = job.poll() is not None and job.returncode != -signal.SIGKILL
    finally:
        if job.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
    text = log_path.read_text(errors="replace")
    assert not ended_by_itself, f"the job ended (status {job.returncode}) before the kill:\n{text[-3000:]}"
    assert job.returncode == -signal.SIGKILL, f"status {job.returncode}:\n{text[-3000:]}"
    return Crash(run_id=run_id, done=frozenset(store.ledger_keys()), log=text)


def crash_and_resume(manifest: str, output: str, checkpoint: str, reference: Reference, log_path: Path):
    store = Store(output)
    with Watcher(store, reference) as watcher:
        crash = start_and_kill(manifest, store, checkpoint, reference, log_path)
        after_kill = store.listing()
        summary, printed = restore_in_process(manifest, output, checkpoint)
    return store, watcher, crash, after_kill, summary, printed


def check_crash_and_resume(
    store: Store,
    watcher: Watcher,
    crash: Crash,
    after_kill: dict,
    summary,
    printed: str,
    reference: Reference,
) -> None:
    missing = reference.units - crash.done
    print(
        f"{store.output}: killed with {len(crash.done)} of {len(reference.units)} units in the ledger; the "
        "rerun "
        f"generated {summary.units_generated} and skipped {summary.units_skipped}; the watcher made "
        f"{sum(watcher.checked.values())} checks {dict(sorted(watcher.checked.items()))}"
    )
    # the kill landed with some units in the ledger and others not
    assert crash.done and missing, (len(crash.done), len(reference.units))
    assert crash.done <= reference.units
    assert not any(TABLE_SHARD.match(p) for p in after_kill)  # the killed run never got to its tables

    # nothing partial under a final name, at any point the watcher looked
    assert watcher.problems == []
    assert watcher.checked.get("stem", 0) >= len(reference.units)
    assert watcher.checked.get("ledger", 0) >= len(reference.units)
    assert watcher.checked.get("film_flac", 0) >= FILMS and watcher.checked.get("film_mkv", 0) >= FILMS
    assert watcher.checked.get("film_stem", 0) >= (2 * FILMS if SCORE == "on" else 0)

    # the rerun generated exactly the missing units and skipped the rest: its summary, printed
    # line and runs row say so, and so do the ledger objects (each names the run that made it)
    assert (summary.units_generated, summary.units_skipped) == (len(missing), len(crash.done))
    assert (summary.films_done, summary.failures) == (FILMS, 0)
    assert f"{len(missing)} units generated and {len(crash.done)} skipped" in printed
    [runs_row] = read_table(store.output, "runs", run_id=summary.run_id).to_pylist()
    counts = (
        dict(runs_row["counts"])
        if not isinstance(runs_row["counts"], str)
        else json.loads(runs_row["counts"])
    )
    assert (counts["units_generated"], counts["units_skipped"]) == (len(missing), len(crash.done)), counts
    made_by = {
        key: json.loads(store.read(path))["run_id"]
        for path in store.listing()
        if (m := UNIT_OBJECT.match(path)) and m.group(1) == "ledger"
        for key in [m.group(3)]
    }
    assert set(made_by) == reference.units
    assert {k for k, run in made_by.items() if run == crash.run_id} == crash.done
    assert {k for k, run in made_by.items() if run == summary.run_id} == missing

    # the final stems and films are the uninterrupted run's, byte for byte
    final = {
        p: store.read(p)
        for p in store.listing()
        if p in reference.files
        or (UNIT_OBJECT.match(p) and p.startswith("audio/"))
        or ((m := FILM_OBJECT.match(p)) and m.group(3) in FILM_BYTES)
    }
    assert set(final) == set(reference.files)
    assert [p for p in final if final[p] != reference.files[p]] == []


def test_a_killed_restore_job_on_the_gcs_emulator_resumes_with_identical_outputs(
    collection, reference, gcs_bucket, gcs_fs, tmp_path
):
    prefix = f"{gcs_bucket}/crash"
    rows = [json.loads(line) for line in collection.manifest.read_text().splitlines()]
    for row in rows:
        storage.write_bytes(
            f"{prefix}/films/{row['video_input']}", (collection.folder / row["video_input"]).read_bytes()
        )
    manifest = f"{prefix}/films/manifest.jsonl"
    storage.write_bytes(manifest, collection.manifest.read_bytes())
    checkpoint = f"{prefix}/models/small_8khz.safetensors"
    storage.write_bytes(checkpoint, Path(collection.checkpoint).read_bytes())

    results = crash_and_resume(manifest, f"{prefix}/out", checkpoint, reference, tmp_path / "crash.log")
    check_crash_and_resume(*results, reference)


def test_a_killed_restore_job_on_local_paths_resumes_with_identical_outputs(collection, reference, tmp_path):
    results = crash_and_resume(
        str(collection.manifest),
        str(tmp_path / "out"),
        collection.checkpoint,
        reference,
        tmp_path / "crash.log",
    )
    check_crash_and_resume(*results, reference)
