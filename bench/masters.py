"""Big masters, streamed: peak memory, bytes read and frames/s against film length, local and in a bucket.

    python -m bench.masters [--minutes 1 10 60] [--formats ffv1 tiff] [--where local gcs]
        [--jobs scenes shard decode] [--scenes_minutes 1 10] [--sequence_minutes 1 10]
        [--workdir DIR]

Films (generated once into ``--workdir``, default ``/tmp/talkie-masters``, and reused):

- **ffv1**: one generated minute, 160x120 at 24 fps, six 10 s shots from FFmpeg's lavfi sources
  (testsrc2, mandelbrot, life, cellauto, gradients, testsrc; hard cuts between them) with
  temporal noise (``noise=alls=4:allf=t``, grain that FFV1 cannot compress away), encoded as FFV1
  level 3 in Matroska (about 21 MB a minute); 10 and 60 minutes are that minute repeated with
  FFmpeg's concat demuxer (stream copy), so they cut every 10 s throughout.
- **tiff**: the same frames as a sequence of 8-bit RGB TIFF files (``frame_000000.tif``...), given
  to the jobs as a manifest row whose ``video_input`` is the glob and whose ``fps`` is 24 (the
  stages get it as ``media.sequence``'s sequence URI). It runs once ``media/sequence.py`` (frame
  sequences as films) exists; before that the bench prints that sequences are not supported yet.

Each case runs in a fresh subprocess (so its peak RSS is its own); imports, and TransNetV2's
weights for the shot-list job, are loaded before its clock and read counters start:

- **scenes**: the shot-list job, ``pipelines.scenes.run`` (``talkie scenes``, Beam's default
  in-process runner), on a one-row manifest, output on local disk (``--scenes_minutes`` limits
  the lengths it runs on: TransNetV2 on a busy CPU is slow);
- **shard**: the shot-list job's pass over the film without TransNetV2's network
  (``media.shard.shard_film(use_transnet=False)``: probe, decode, luma cut evidence, content
  hash), for the reading and memory of that pass at every length;
- **decode**: the restore job's decode stage alone: every scene of the shot list at the model's
  frames (``media.decode.decode_range`` as ``transforms.generate.decode_unit_frames`` calls it:
  16 fps, 64x64, gray for the tiny preset, with containers kept open between scenes by
  ``OpenFilms`` as ``DecodeWindows``' workers keep them), scenes in a shuffled order as a worker
  may get them. A length the shot-list job did not run on decodes the 1-minute shot list
  repeated (the film is that minute repeated).

Where: **local** (the path) and **gcs** (the film uploaded to a local GCS emulator,
``gcp-storage-emulator`` in memory, read through gcsfs with ``STORAGE_EMULATOR_HOST``).

Reported per case: wall seconds, frames/s (the film's frames over the wall time), peak RSS
(``VmHWM`` of the case's process: Python, torch and Beam included), bytes fetched from the
bucket (``BucketCounter``: every GET gcsfs makes, and their count) against the file size and
against what the scenes need: for the shot-list job the whole file (every frame is analysed, and
the film_id hashes every byte); for the decode stage the packets of the frames the scenes cover
(FFV1 is intra-only: a scene's frames are its packets; a sequence's, its files). Locally,
``rchar`` of ``/proc/self/io`` (bytes returned by ``read`` calls) stands in for bytes read.

Targets (issue 23): peak RSS at 60 minutes at most 1.1x at 1 minute, per job, format and place;
bytes from the bucket at most 1.05x what the scenes need.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FPS = 24
SIZE = (160, 120)
SHOT_S = 10
BUCKET = "talkie-masters"
RSS_TARGET = 1.1
BYTES_TARGET = 1.05
# Six 10 s shots a minute: (lavfi source, filter to cut it to one shot).
SOURCES = (
    "testsrc2",
    "mandelbrot",
    "life=mold=10:ratio=0.2",
    "cellauto",
    "gradients=speed=0.05",
    "testsrc",
)


# ----------------------------------------------------------------------------- films


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _base_minute(workdir: Path) -> Path:
    """One minute of FFV1 (module docstring), made once."""
    path = workdir / "ffv1-base.mkv"
    if path.exists():
        return path
    w, h = SIZE
    inputs: list[str] = []
    chains: list[str] = []
    for index, source in enumerate(SOURCES):
        name, _, options = source.partition("=")
        spec = f"{name}=s={w}x{h}:r={FPS}" + (f":{options}" if options else "")
        inputs += ["-f", "lavfi", "-i", spec]
        chains.append(f"[{index}]trim=duration={SHOT_S},setpts=PTS-STARTPTS[s{index}]")
    joined = "".join(f"[s{i}]" for i in range(len(SOURCES)))
    graph = ";".join(chains) + f";{joined}concat=n={len(SOURCES)}:v=1,format=yuv420p,noise=alls=4:allf=t[v]"
    tmp = path.with_suffix(".tmp.mkv")
    _ffmpeg(
        *inputs, "-filter_complex", graph, "-map", "[v]", "-c:v", "ffv1", "-level", "3", "-g", "1", str(tmp)
    )
    tmp.rename(path)
    return path


def ffv1_film(workdir: Path, minutes: int) -> Path:
    """``minutes`` of FFV1 in Matroska: the base minute repeated (stream copy)."""
    path = workdir / f"ffv1-{minutes}min.mkv"
    if path.exists():
        return path
    base = _base_minute(workdir)
    listing = workdir / f"ffv1-{minutes}min.txt"
    listing.write_text("".join(f"file '{base.name}'\n" for _ in range(minutes)))
    tmp = path.with_suffix(".tmp.mkv")
    _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(tmp))
    tmp.rename(path)
    listing.unlink()
    return path


def tiff_sequence(workdir: Path, minutes: int) -> Path:
    """The ffv1 film's frames as 8-bit RGB TIFF files in a folder of their own; returns the folder."""
    folder = workdir / f"tiff-{minutes}min"
    if (folder / "done").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    film = ffv1_film(workdir, minutes)
    _ffmpeg("-i", str(film), "-pix_fmt", "rgb24", "-start_number", "0", str(folder / "frame_%06d.tif"))
    (folder / "done").write_text("")
    return folder


def sequences_supported() -> bool:
    """Whether this checkout reads frame sequences as films (media/sequence.py, issue 23 item 1)."""
    return (ROOT / "media" / "sequence.py").exists()


# ----------------------------------------------------------------------------- what the scenes need


def film_packets(path: Path) -> list[tuple[int, int]]:
    """(pts, size) of every video packet, by demuxing the local file (no decoding)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(int(p.pts), int(p.size)) for p in container.demux(stream) if p.pts is not None and p.size]


def scene_packet_bytes(packets: list[tuple[int, int]], scenes: list[tuple[int, int]]) -> int:
    """Bytes of the packets whose PTS lies in some scene's [start_pts, end_pts)."""
    import bisect

    ordered = sorted(packets)
    keys = [p for p, _ in ordered]
    sizes = [0]
    for _, size in ordered:
        sizes.append(sizes[-1] + size)
    total = 0
    for start, end in scenes:
        total += sizes[bisect.bisect_left(keys, end)] - sizes[bisect.bisect_left(keys, start)]
    return total


# ----------------------------------------------------------------------------- the emulator


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gcs_emulator(logdir: Path) -> Iterator[str]:
    """A gcp-storage-emulator (in memory) on a free port; yields its endpoint. Sets the variables
    gcsfs reads (this process and the cases it starts)."""
    script = Path(sys.executable).with_name("gcp-storage-emulator")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gcp_storage_emulator"]
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(logdir / "emulator.log", "wb")
    process = subprocess.Popen(
        [*command, "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the GCS emulator exited with {process.returncode}; see {logdir}/emulator.log"
                )
            try:
                with urllib.request.urlopen(f"{endpoint}/storage/v1/b", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the GCS emulator did not start within 30 s") from None
                time.sleep(0.1)
        os.environ["STORAGE_EMULATOR_HOST"] = endpoint
        os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
        os.environ["FSSPEC_GCS_TOKEN"] = "anon"
        yield endpoint
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        log.close()


def upload(local: Path, name: str) -> str:
    """``local`` (a file, or a folder's files) copied into the emulator's bucket; returns its gs:// URI."""
    import gcsfs

    fs = gcsfs.GCSFileSystem(token="anon")
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    target = f"{BUCKET}/{name}"
    if local.is_dir():
        files = sorted(p for p in local.iterdir() if p.suffix == ".tif")
        fs.put([str(p) for p in files], [f"{target}/{p.name}" for p in files])
    else:
        fs.put_file(str(local), target)
    return f"gs://{target}"


# ----------------------------------------------------------------------------- one case (a subprocess)


class BucketCounter:
    """Bytes and GET requests gcsfs fetches from the bucket in this process: every read of an
    object (an open file's ranged reads, its background prefetcher's, ``cat_file``) is one or
    more calls of ``GCSFileSystem._cat_file_sequential``, one GET each."""

    def __init__(self) -> None:
        self.bytes = 0
        self.requests = 0

    def install(self) -> None:
        import gcsfs.core

        original_cat = gcsfs.core.GCSFileSystem._cat_file_sequential
        counter = self

        async def cat_file(self, path, start=None, end=None, **kwargs):
            data = await original_cat(self, path, start=start, end=end, **kwargs)
            counter.bytes += len(data)
            counter.requests += 1
            return data

        gcsfs.core.GCSFileSystem._cat_file_sequential = cat_file


def _rchar() -> int:
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _peak_rss_kb() -> int:
    """This process's peak resident memory: VmHWM, the high-water mark of its own address space
    (``ru_maxrss`` would carry the parent's peak over from before the exec), and its children's."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return max(int(line.split()[1]), children)
    except OSError:
        pass
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, children)


def _manifest_row(case: dict) -> dict:
    row: dict = {"video_input": case["uri"], "film_id": f"bench-{case['name']}"}
    if case["format"] == "tiff":
        row["fps"] = FPS
    return row


def run_scenes_case(case: dict, workdir: Path) -> dict:
    """The shot-list job on the case's film; writes the scene list for the decode cases."""
    from pipelines import scenes as scenes_job
    from transforms.tables import read_table

    out = Path(tempfile.mkdtemp(prefix="scenes-", dir=workdir))
    manifest = out / "manifest.jsonl"
    manifest.write_text(json.dumps(_manifest_row(case)) + "\n")
    with contextlib.redirect_stdout(sys.stderr):
        summary = scenes_job.run(["--input", str(manifest), "--output", str(out / "output")])
    table = read_table(str(out / "output"), "scenes", run_id=summary.run_id)
    spans = list(zip(table["start_pts"].to_pylist(), table["end_pts"].to_pylist()))
    failures = read_table(str(out / "output"), "failures", run_id=summary.run_id)
    if failures.num_rows:
        raise RuntimeError(f"the shot-list job failed the film: {failures.to_pylist()}")
    frames = int(table["end_frame"].to_pylist()[-1]) if spans else 0
    Path(case["scenes_file"]).write_text(json.dumps({"scenes": spans, "frames": frames}))
    shutil.rmtree(out, ignore_errors=True)
    return {"frames": frames, "scenes": len(spans)}


def run_shard_case(case: dict) -> dict:
    """The shot-list job's pass over the film without TransNetV2's network: probe, decode, luma
    cut evidence and the content hash (``media.shard.shard_film(use_transnet=False)``)."""
    from media.shard import shard_film

    uri = case["uri"]
    if case["format"] == "tiff":
        from media.sequence import sequence_uri

        uri = sequence_uri(uri, Fraction(FPS))
    probe, scenes = shard_film(uri, use_transnet=False)
    return {"frames": probe.frames, "scenes": len(scenes)}


def run_decode_case(case: dict) -> dict:
    """Every scene at the model's frames, in a shuffled order, through DecodeWindows' decoder."""
    import media.decode
    from model.config import preset

    listing = json.loads(Path(case["scenes_file"]).read_text())
    spans = [tuple(s) for s in listing["scenes"]]
    uri = case["uri"]
    if case["format"] == "tiff":  # the stages name a sequence by its pattern and rate
        from media.sequence import sequence_uri

        uri = sequence_uri(uri, Fraction(FPS))
    random.Random(0).shuffle(spans)
    video = preset("tiny").video
    decoded = 0
    # DecodeWindows' worker keeps its films open between scenes (OpenFilms); a checkout without
    # it opens the film for every scene.
    keep = getattr(media.decode, "OpenFilms", None)
    with keep() if keep else contextlib.nullcontext() as films:
        options = {"films": films} if films is not None else {}
        for start, end in spans:
            frames = media.decode.decode_range(
                uri,
                start,
                end,
                fps=video.fps,
                width=video.width,
                height=video.height,
                gray=True,
                **options,
            )
            decoded += len(frames)
    return {"frames": listing["frames"], "scenes": len(spans), "model_frames": decoded}


def _warm_up(job: str) -> None:
    """Imports (and for the shot-list job TransNetV2's weights) loaded before the clock and the
    read counters start: they are the same for every film length."""
    if job == "shard":
        import media.shard  # noqa: F401
    elif job == "scenes":
        import pipelines.scenes  # noqa: F401
        import transforms.tables  # noqa: F401
        from media.transnet import load_transnet

        load_transnet("cpu")
    else:
        import media.decode  # noqa: F401
        import model.config  # noqa: F401


def run_case(case: dict) -> dict:
    counter = BucketCounter()
    if case["where"] == "gcs":
        counter.install()
    _warm_up(case["job"])
    rchar0 = _rchar()
    began = time.perf_counter()
    workdir = Path(case["workdir"])
    if case["job"] == "scenes":
        result = run_scenes_case(case, workdir)
    elif case["job"] == "shard":
        result = run_shard_case(case)
    else:
        result = run_decode_case(case)
    wall = time.perf_counter() - began
    return {
        **result,
        "wall_s": wall,
        "peak_rss_mb": _peak_rss_kb() / 1024,
        "bucket_bytes": counter.bytes,
        "bucket_requests": counter.requests,
        "local_read_bytes": _rchar() - rchar0,
    }


def _case_in_subprocess(case: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.masters", "--case", json.dumps(case)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        return {"error": f"exit status {done.returncode}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ----------------------------------------------------------------------------- the table


def _needed_bytes(case: dict, film: Path) -> int:
    """What the scenes need (module docstring)."""
    if case["format"] == "tiff":
        return sum(p.stat().st_size for p in film.iterdir() if p.suffix == ".tif")
    if case["job"] in ("scenes", "shard"):
        return film.stat().st_size
    spans = json.loads(Path(case["scenes_file"]).read_text())["scenes"]
    return scene_packet_bytes(film_packets(film), [tuple(s) for s in spans])


def _size_of(film: Path) -> int:
    if film.is_dir():
        return sum(p.stat().st_size for p in film.iterdir() if p.suffix == ".tif")
    return film.stat().st_size


def tiled_scenes(base_file: Path, minutes: int, target: Path) -> None:
    """The shot list of ``minutes`` of film made from the base minute's: the longer films are that
    minute repeated, so their scenes are its scenes, shifted by a minute each time."""
    base = json.loads(base_file.read_text())
    spans = base["scenes"]
    minute = spans[-1][1] - spans[0][0]  # the base minute's duration in PTS
    tiled = [[a + k * minute, b + k * minute] for k in range(minutes) for a, b in spans]
    target.write_text(json.dumps({"scenes": tiled, "frames": base["frames"] * minutes, "tiled": True}))


def _bench_film(
    fmt: str, minutes: int, args: argparse.Namespace, workdir: Path, scenes_minutes: set[int]
) -> list[dict]:
    """Every case of one film (format and length): its rows."""
    rows: list[dict] = []
    made = time.perf_counter()
    film = ffv1_film(workdir, minutes) if fmt == "ffv1" else tiff_sequence(workdir, minutes)
    made_s = time.perf_counter() - made
    name = f"{fmt}-{minutes}min"
    uris = {"local": str(film / "frame_*.tif") if fmt == "tiff" else str(film)}
    print(f"  {name}: {_size_of(film) / 1e6:.1f} MB (made or found in {made_s:.1f} s)", flush=True)
    if "gcs" in args.where:
        began = time.perf_counter()
        remote = upload(film, name)
        uris["gcs"] = f"{remote}/frame_*.tif" if fmt == "tiff" else remote
        print(f"  {name}: uploaded in {time.perf_counter() - began:.1f} s", flush=True)

    def case(job: str, where: str) -> dict:
        return {
            "job": job,
            "where": where,
            "format": fmt,
            "minutes": minutes,
            "name": name,
            "uri": uris[where],
            "workdir": str(workdir),
            "scenes_file": str(workdir / f"{name}.scenes.json"),
        }

    def run(spec: dict) -> None:
        result = _case_in_subprocess(spec)
        row = {**spec, **result, "size": _size_of(film)}
        if "error" not in result:
            row["needed"] = _needed_bytes(spec, film)
        rows.append(row)
        print(f"    {_line(row)}", flush=True)

    if "scenes" in args.jobs and minutes in scenes_minutes:
        for where in args.where:
            run(case("scenes", where))
    if "shard" in args.jobs:
        for where in args.where:
            run(case("shard", where))
    if "decode" in args.jobs:
        scenes_file = Path(case("decode", "local")["scenes_file"])
        if not scenes_file.exists():
            base_file = workdir / f"{fmt}-1min.scenes.json"
            if not base_file.exists():
                raise SystemExit(f"no shot list for {name} or {fmt}-1min: run the shot-list job on 1 minute")
            tiled_scenes(base_file, minutes, scenes_file)
            print(f"    ({name}: the 1-minute shot list repeated {minutes} times)", flush=True)
        for where in args.where:
            run(case("decode", where))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.masters", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, nargs="+", default=[1, 10, 60])
    parser.add_argument("--formats", nargs="+", default=["ffv1", "tiff"], choices=["ffv1", "tiff"])
    parser.add_argument("--where", nargs="+", default=["local", "gcs"], choices=["local", "gcs"])
    parser.add_argument(
        "--jobs", nargs="+", default=["scenes", "decode"], choices=["scenes", "shard", "decode"]
    )
    parser.add_argument(
        "--scenes_minutes",
        type=int,
        nargs="+",
        default=None,
        help="film lengths the shot-list job runs on (default: all of --minutes); the decode stage "
        "of a length it skips decodes the 1-minute shot list repeated (the films are that minute repeated)",
    )
    parser.add_argument(
        "--sequence_minutes",
        type=int,
        nargs="+",
        default=None,
        help="film lengths for the TIFF sequences (default: --minutes); 60 minutes is 86400 files",
    )
    parser.add_argument(
        "--workdir", default="/tmp/talkie-masters", help="films are made here once and reused"
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)  # one case, in a subprocess: JSON
    args = parser.parse_args(argv)

    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return 0

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    formats = list(args.formats)
    if "tiff" in formats and not sequences_supported():
        print("tiff: frame sequences are not supported yet (no media/sequence.py in this checkout); skipped")
        formats.remove("tiff")
    scenes_minutes = set(args.scenes_minutes if args.scenes_minutes is not None else args.minutes)

    print(
        f"bench/masters.py {time.strftime('%Y-%m-%d %H:%M')}: {SIZE[0]}x{SIZE[1]} at {FPS} fps, "
        f"formats {formats}, minutes {args.minutes} (shot-list job on {sorted(scenes_minutes)}), "
        f"where {args.where}, jobs {args.jobs}; {os.cpu_count()} CPU cores, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows: list[dict] = []
    with contextlib.ExitStack() as stack:
        if "gcs" in args.where:
            stack.enter_context(gcs_emulator(workdir))
        for fmt in formats:
            lengths = args.minutes if fmt == "ffv1" else (args.sequence_minutes or args.minutes)
            for minutes in lengths:
                rows += _bench_film(fmt, minutes, args, workdir, scenes_minutes)
    print()
    print_table(rows)
    return 0


def _line(row: dict) -> str:
    what = f"{row['job']:6s} {row['where']:5s} {row['name']}"
    if "error" in row:
        return f"{what}: FAILED ({row['error']})"
    read = row["bucket_bytes"] if row["where"] == "gcs" else row["local_read_bytes"]
    return (
        f"{what}: {row['wall_s']:.1f} s, {row['frames'] / row['wall_s']:.0f} frames/s, peak RSS "
        f"{row['peak_rss_mb']:.0f} MB, read {read / 1e6:.1f} MB = x{read / row['size']:.3f} the file, "
        f"x{read / row['needed']:.3f} the scenes' need"
        + (f" ({row['bucket_requests']} requests)" if row["where"] == "gcs" else "")
    )


def print_table(rows: list[dict]) -> None:
    print(
        "| job | where | film | scenes | wall s | frames/s | peak RSS MB | RSS / 1 min | read MB | "
        "read / file | read / needed | requests |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    first: dict[tuple[str, str, str], float] = {}
    for row in rows:
        if "error" in row:
            print(f"| {row['job']} | {row['where']} | {row['name']} | FAILED: {row['error']} |")
            continue
        key = (row["job"], row["where"], row["format"])
        first.setdefault(key, row["peak_rss_mb"])
        gcs = row["where"] == "gcs"
        read = row["bucket_bytes"] if gcs else row["local_read_bytes"]
        print(
            f"| {row['job']} | {row['where']} | {row['name']} | {row['scenes']} | {row['wall_s']:.1f} | "
            f"{row['frames'] / row['wall_s']:.0f} | {row['peak_rss_mb']:.0f} | "
            f"x{row['peak_rss_mb'] / first[key]:.3f} | {read / 1e6:.1f}{'' if gcs else ' (rchar)'} | "
            f"x{read / row['size']:.3f} | x{read / row['needed']:.3f} | "
            f"{row['bucket_requests'] if gcs else ''} |"
        )
    print()
    print(
        f"targets: peak RSS at the longest film <= x{RSS_TARGET} the shortest's (per job, place, format); "
        f"bytes from the bucket <= x{BYTES_TARGET} what the scenes need"
    )


if __name__ == "__main__":
    sys.exit(main())
