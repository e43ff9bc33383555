"""Featurizing a paired audio-visual corpus into training shards (``pipelines/featurize.py``).

    FilmJob --CutTrainingWindows--> TrainingWindow --FeaturizeWindows--> WindowExample
            --WriteShards--> shard URI

Only the small ``TrainingWindow`` records travel between films and workers until a window is
decoded; a ``WindowExample`` carries one window's frames and mel (bounded by the window size),
and ``WriteShards`` groups at most ``shard_size`` of them. Every stage sends bad elements to a
``FAILURES`` output and the rest goes on.

Time. A window's seconds are measured from the film's first video frame (docs/design.md, "Time"); its
sound is read at the same instants of the container timeline (``media.audio``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np

from media import storage
from model.config import ModelConfig
from transforms.failures import FAILURES, FailureGuard
from transforms.layout import shard_uri
from transforms.manifest import FilmJob, derive_film_id
from transforms.stages import STAGE_CUT_TRAINING_WINDOWS, STAGE_FEATURIZE_WINDOWS, STAGE_WRITE_SHARDS
from transforms.storage_metrics import CountsStorageRetries

TRUTH_SCHEMA_PREFIX = "talkie.foley/"  # model/synth's truth JSON


class TruthError(ValueError):
    """A foley-world truth JSON beside a video that cannot be read; names the file."""


@dataclass(frozen=True)
class TrainingWindow:
    """One window of a film to featurize: where it is, what it shows, which events fall in it."""

    film_id: str
    uri: str
    index: int  # window number within the film, from 0, in time order
    time_base: str  # the video stream's, e.g. "1/12800"
    start_pts: int  # first video instant of the window
    end_pts: int  # min(window end, film end), exclusive: frames past it are padding
    start_s: float  # seconds from the film's first frame
    audio_start_s: float  # the same instant on the container timeline, for media.audio
    valid_s: float  # seconds of film inside the window (window_s unless the film is shorter)
    caption: str
    # {"offset_s", "time_s", "class", "fine"}, offset from start_s; None: unknown (no truth record
    # beside the film), which training keeps apart from () (a window where nothing lands)
    events: tuple[dict[str, Any], ...] | None


@dataclass(frozen=True)
class WindowExample:
    """A featurized window: decoded frames and the log-mel target."""

    window: TrainingWindow
    frames: np.ndarray  # (T, H, W) uint8, zero past valid_frames
    mel: np.ndarray  # (n_mels, F) float16
    valid_frames: int
    valid_mel: int

    @property
    def sort_key(self) -> tuple[str, str, int]:
        return (self.window.film_id, self.window.uri, self.window.index)


class CutOutputs(NamedTuple):
    windows: beam.PCollection  # TrainingWindow
    failures: beam.PCollection  # Failure


class FeaturizeOutputs(NamedTuple):
    examples: beam.PCollection  # WindowExample
    failures: beam.PCollection  # Failure


class ShardOutputs(NamedTuple):
    shards: beam.PCollection  # str: the URI of each shard written
    failures: beam.PCollection  # Failure


# ----------------------------------------------------------------------------- pure functions


def window_starts(duration: Fraction, window: Fraction, stride: Fraction) -> list[Fraction]:
    """Start times of a film's windows: every ``stride`` while a window ends before the film does,
    then one aligned to the film's end. A film no longer than a window has one window at 0."""
    if duration <= 0 or window <= 0 or stride <= 0:
        raise ValueError(f"duration={duration}, window={window}, stride={stride}: all must be > 0")
    if duration <= window:
        return [Fraction(0)]
    starts, start = [], Fraction(0)
    while start + window < duration:
        starts.append(start)
        start += stride
    starts.append(duration - window)
    return starts


def spread(count: int, keep: int | None) -> list[int]:
    """``keep`` indices of ``range(count)`` spread evenly, first and last included; all when None."""
    if keep is None or keep >= count:
        return list(range(count))
    if keep == 1:
        return [count // 2]
    return sorted({round(i * (count - 1) / (keep - 1)) for i in range(keep)})


def caption_at(job: FilmJob, t: float) -> str:
    """The positive prompt in effect at ``t`` seconds: a time-range scene override containing it,
    else the row's prompt, else "" (index overrides need scene cuts, which this job does not make)."""
    for override in job.scenes:
        if override.start_s is None or override.end_s is None or override.positive_prompt is None:
            continue  # an index override (a time-range override has both ends)
        if override.start_s <= t < override.end_s:
            return override.positive_prompt
    return job.positive_prompt or ""


def truth_uri(video_uri: str) -> str:
    """The foley-world truth JSON that would sit beside ``video_uri``: same name, ``.json``."""
    folder, _, name = video_uri.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
    return f"{folder}/{stem}.json" if folder else f"{stem}.json"


def read_truth_events(video_uri: str) -> list[dict[str, Any]] | None:
    """The events of the truth JSON beside ``video_uri``, or None when there is no such file
    (or it is some other JSON, not a foley-world truth record)."""
    uri = truth_uri(video_uri)
    if not storage.exists(uri):
        return None
    try:
        truth = json.loads(storage.read_bytes(uri))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TruthError(f"{uri}: the truth JSON beside the video is not valid JSON ({exc})") from exc
    if not isinstance(truth, dict) or not str(truth.get("schema", "")).startswith(TRUTH_SCHEMA_PREFIX):
        return None
    events = truth.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) and "time_s" in e for e in events):
        raise TruthError(f"{uri}: 'events' must be a list of objects with time_s, got {events!r:.80}")
    return events


def events_in(
    events: list[dict[str, Any]] | None, start_s: float, window_s: float
) -> tuple[dict[str, Any], ...]:
    """The events with start_s <= time_s < start_s + window_s, each with its offset in the window."""
    if not events:
        return ()
    inside = [e for e in events if start_s <= float(e["time_s"]) < start_s + window_s]
    return tuple(
        {
            "offset_s": float(e["time_s"]) - start_s,
            "time_s": float(e["time_s"]),
            "class": str(e.get("class", "")),
            "fine": str(e.get("fine", "")),
        }
        for e in sorted(inside, key=lambda e: float(e["time_s"]))
    )


def cut_film(
    job: FilmJob,
    film_id: str,
    config: ModelConfig,
    *,
    windows_per_film: int | None = None,
    hop_s: float | None = None,
) -> list[TrainingWindow]:
    """A film's training windows (see ``window_starts``), with captions and truth events.

    Raises media.errors.MediaError subclasses for a film without usable video or audio.
    """
    from media.audio import has_audio
    from media.errors import NoAudioStream

    uri = job.video_input
    from media.decode import video_timeline

    time_base, first_pts, end_pts = video_timeline(uri)
    if not has_audio(uri):
        raise NoAudioStream(f"{uri}: the film has no audio stream, so it has no training target")
    duration = (end_pts - first_pts) * time_base
    window = Fraction(config.window.window_s)
    stride = Fraction(hop_s if hop_s is not None else config.window.stride_s)
    starts = window_starts(duration, window, stride)
    events = read_truth_events(uri)
    out = []
    for index in spread(len(starts), windows_per_film):
        start = starts[index]
        start_pts = first_pts + round(start / time_base)
        start_s = float((start_pts - first_pts) * time_base)
        stop_pts = min(end_pts, start_pts + math.ceil(window / time_base))
        valid_s = float(min(window, (end_pts - start_pts) * time_base))
        out.append(
            TrainingWindow(
                film_id=film_id,
                uri=uri,
                index=index,
                time_base=f"{time_base.numerator}/{time_base.denominator}",
                start_pts=start_pts,
                end_pts=stop_pts,
                start_s=start_s,
                audio_start_s=float(start_pts * time_base),
                valid_s=valid_s,
                caption=caption_at(job, start_s + valid_s / 2),
                events=None if events is None else events_in(events, start_s, float(window)),
            )
        )
    return out


def featurize_window(
    window: TrainingWindow, config: ModelConfig, mel_fn: Callable[[np.ndarray], np.ndarray]
) -> WindowExample:
    """Decode one window's frames and sound; ``mel_fn`` maps (samples,) float32 to (n_mels, F).

    Frames come from ``media.decode.decode_range`` in grayscale at the config's fps and size;
    audio from ``media.audio.decode_audio`` at the config's rate, silenced past the film's end.
    """
    from media.audio import decode_audio
    from media.decode import decode_range

    v, a = config.video, config.audio
    t, samples = config.video_frames, config.window_samples
    shown = decode_range(
        window.uri, window.start_pts, window.end_pts, fps=v.fps, width=v.width, height=v.height, gray=True
    )  # (K, H, W), K = ceil(valid_s * fps)
    valid_frames = min(t, shown.shape[0])
    frames = np.zeros((t, v.height, v.width), np.uint8)
    frames[:valid_frames] = shown[:valid_frames]
    audio = decode_audio(
        window.uri, sample_rate=a.sample_rate, start_s=window.audio_start_s, duration_s=config.window.window_s
    )  # (samples,)
    valid_samples = min(samples, round(window.valid_s * a.sample_rate))
    audio[valid_samples:] = 0.0
    mel = np.asarray(mel_fn(audio), dtype=np.float32)
    if mel.shape != (a.n_mels, config.window_frames):
        raise ValueError(f"mel of {window.uri} is {mel.shape}; expected {(a.n_mels, config.window_frames)}")
    return WindowExample(
        window=window,
        frames=frames,
        mel=mel.astype(np.float16),
        valid_frames=valid_frames,
        valid_mel=min(config.window_frames, a.num_frames(valid_samples)),
    )


def shard_metadata(examples: list[WindowExample], config: ModelConfig) -> dict[str, Any]:
    """The per-window lists and config identity that ``model.data.encode_shard`` stores."""
    w = [e.window for e in examples]
    return {
        "config_hash": config.config_hash(),
        "config": config.to_json(),
        "film_ids": [x.film_id for x in w],
        "uris": [x.uri for x in w],
        "window_index": [x.index for x in w],
        "start_s": [x.start_s for x in w],
        "valid_s": [x.valid_s for x in w],
        "captions": [x.caption for x in w],
        "events": [None if x.events is None else list(x.events) for x in w],
    }


def film_offsets(counts: list[tuple[tuple[str, str], int]]) -> dict[tuple[str, str], int]:
    """For each (film_id, uri), the position of its first window in the corpus sorted by film."""
    offsets, position = {}, 0
    for key, count in sorted(counts):
        offsets[key] = position
        position += count
    return offsets


# ----------------------------------------------------------------------------- DoFns


class _CutFilmFn(CountsStorageRetries, beam.DoFn):
    def __init__(self, config_json: str, windows_per_film: int | None, hop_s: float | None) -> None:
        self._config_json = config_json
        self._windows_per_film = windows_per_film
        self._hop_s = hop_s
        self._films = beam.metrics.Metrics.counter("talkie", "featurize_films")
        self._windows = beam.metrics.Metrics.counter("talkie", "featurize_windows_cut")
        self._guard = FailureGuard(STAGE_CUT_TRAINING_WINDOWS, warns=True)

    def setup(self) -> None:
        self._config = ModelConfig.from_json(self._config_json)

    def process(self, job: FilmJob) -> Iterator[Any]:
        film_id = job.film_id
        with self._guard.catching() as caught:  # one bad film must not stop the others
            if film_id is None:
                from media.shard import content_sha256  # brings torch: import on the worker only

                film_id = derive_film_id(job.video_input, content_sha256(job.video_input)[0])
            windows = cut_film(
                job, film_id, self._config, windows_per_film=self._windows_per_film, hop_s=self._hop_s
            )
        if caught.error is not None:
            yield self._guard.failure(caught.error, uri=job.video_input, film_id=film_id)
            return
        self._films.inc()
        self._windows.inc(len(windows))
        yield from windows


class _FeaturizeFn(beam.DoFn):
    def __init__(self, config_json: str) -> None:
        self._config_json = config_json
        self._windows = beam.metrics.Metrics.counter("talkie", "featurize_windows")
        self._seconds = beam.metrics.Metrics.distribution("talkie", "featurize_window_ms")
        self._guard = FailureGuard(STAGE_FEATURIZE_WINDOWS, warns=True)

    def setup(self) -> None:
        import torch

        from model.mel import MelSpectrogram

        self._config = ModelConfig.from_json(self._config_json)
        self._mel = MelSpectrogram(self._config.audio).eval()
        self._torch = torch

    def _mel_fn(self, audio: np.ndarray) -> np.ndarray:
        with self._torch.no_grad():
            return self._mel(self._torch.from_numpy(audio)[None])[0].numpy()  # (n_mels, F)

    def process(self, window: TrainingWindow) -> Iterator[Any]:
        began = time.perf_counter()
        with self._guard.catching() as caught:
            example = featurize_window(window, self._config, self._mel_fn)
        if caught.error is not None:
            yield self._guard.failure(
                caught.error,
                uri=window.uri,
                film_id=window.film_id,
                suffix=f" (window {window.index} at {window.start_s:.3f} s)",
            )
            return
        self._windows.inc()
        self._seconds.update(int((time.perf_counter() - began) * 1000))
        yield example


class _WriteShardFn(CountsStorageRetries, beam.DoFn):
    def __init__(self, output: str, run_id: str, config_json: str) -> None:
        self._output = output
        self._run_id = run_id
        self._config_json = config_json
        self._shards = beam.metrics.Metrics.counter("talkie", "featurize_shards")
        self._guard = FailureGuard(STAGE_WRITE_SHARDS, warns=True)

    def setup(self) -> None:
        from model.data import encode_shard  # model.data brings torch: import on the worker only

        self._config = ModelConfig.from_json(self._config_json)
        self._encode = encode_shard

    def process(self, element: tuple[int, Any]) -> Iterator[Any]:
        shard, grouped = element
        examples = sorted(grouped, key=lambda e: e.sort_key)
        uri = shard_uri(self._output, self._run_id, shard)
        with self._guard.catching() as caught:
            data = self._encode(
                np.stack([e.frames for e in examples]),  # (N, T, H, W)
                np.stack([e.mel for e in examples]),  # (N, n_mels, F)
                np.array([e.valid_frames for e in examples], np.int64),
                np.array([e.valid_mel for e in examples], np.int64),
                shard_metadata(examples, self._config),
            )
            storage.write_bytes(uri, data)
        if caught.error is not None:
            for film_id, film_uri in sorted({(e.window.film_id, e.window.uri) for e in examples}):
                yield self._guard.failure(
                    caught.error, uri=film_uri, film_id=film_id, suffix=f" (shard {uri})"
                )
            return
        self._shards.inc()
        yield uri


def _assign_shard(example: WindowExample, offsets: dict, shard_size: int) -> tuple[int, WindowExample]:
    w = example.window
    return (offsets[(w.film_id, w.uri)] + w.index) // shard_size, example


# ----------------------------------------------------------------------------- transforms


class CutTrainingWindows(beam.PTransform):
    """FilmJob -> ``CutOutputs(windows, failures)``: each film's training windows.

    Windows are ``config.window.window_s`` long, every ``hop_s`` seconds (default: the config's
    window minus overlap), the last aligned to the film's end; a film shorter than a window gets
    one padded window. ``windows_per_film`` keeps that many, spread evenly. A film whose video or
    audio cannot be used becomes a failure with stage ``cut_training_windows``.
    """

    def __init__(
        self, config: ModelConfig, *, windows_per_film: int | None = None, hop_s: float | None = None
    ):
        super().__init__()
        if windows_per_film is not None and windows_per_film < 1:
            raise ValueError(f"windows_per_film={windows_per_film}: need 1 or more (or None for all)")
        if hop_s is not None and not (math.isfinite(hop_s) and hop_s > 0):
            raise ValueError(f"hop_s={hop_s}: need a positive number of seconds (or None for the config's)")
        self._config_json = config.to_json()
        self._windows_per_film = windows_per_film
        self._hop_s = hop_s

    def expand(self, jobs: beam.PCollection) -> CutOutputs:
        cut = jobs | "CutFilms" >> beam.ParDo(
            _CutFilmFn(self._config_json, self._windows_per_film, self._hop_s)
        ).with_outputs(FAILURES, main="windows")
        return CutOutputs(windows=cut.windows, failures=cut[FAILURES])


class FeaturizeWindows(beam.PTransform):
    """TrainingWindow -> ``FeaturizeOutputs(examples, failures)``: frames and log-mel per window."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self._config_json = config.to_json()

    def expand(self, windows: beam.PCollection) -> FeaturizeOutputs:
        done = windows | "DecodeAndMel" >> beam.ParDo(_FeaturizeFn(self._config_json)).with_outputs(
            FAILURES, main="examples"
        )
        return FeaturizeOutputs(examples=done.examples, failures=done[FAILURES])


class WriteShards(beam.PTransform):
    """WindowExample -> ``ShardOutputs(shards, failures)``: ``OUTPUT/shards/<run_id>-NNNNN.safetensors``.

    Shards are assigned deterministically: windows sorted by (film_id, uri, window index) fill
    shards of ``shard_size`` in order, using each film's window count from ``windows`` (the cut
    windows), so only per-film counts, never windows, are gathered in one place. A window that
    failed to featurize leaves its slot empty. Each shard is grouped (at most ``shard_size``
    windows in memory), sorted, and published atomically by ``media.storage.write_bytes``.
    """

    def __init__(
        self,
        output: str,
        run_id: str,
        config: ModelConfig,
        *,
        windows: beam.PCollection,
        shard_size: int = 256,
    ) -> None:
        super().__init__()
        if shard_size < 1:
            raise ValueError(f"shard_size={shard_size}: need 1 or more windows per shard")
        self._output = output
        self._run_id = run_id
        self._config_json = config.to_json()
        self._windows = windows
        self._shard_size = shard_size

    def expand(self, examples: beam.PCollection) -> ShardOutputs:
        offsets = (
            self._windows
            | "FilmKey" >> beam.Map(lambda w: ((w.film_id, w.uri), 1))
            | "WindowsPerFilm" >> beam.CombinePerKey(sum)
            | "AllFilms" >> beam.combiners.ToList()
            | "FilmOffsets" >> beam.Map(film_offsets)
        )
        written = (
            examples
            | "AssignShard" >> beam.Map(_assign_shard, beam.pvalue.AsSingleton(offsets), self._shard_size)
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard"
            >> beam.ParDo(_WriteShardFn(self._output, self._run_id, self._config_json)).with_outputs(
                FAILURES, main="shards"
            )
        )
        return ShardOutputs(shards=written.shards, failures=written[FAILURES])
