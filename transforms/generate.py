"""The generation half of the restore job: plan units, skip finished ones, decode, generate, publish.

    ShardedFilm --PlanUnits--> FilmPlan, Unit
    Unit --SkipDone--> Unit (to do), Take (finished earlier, read from the ledger)
    Unit --DecodeWindows--> UnitFrames --GenerateAudio--> Take (stem and ledger object published)

``GenerateAudio`` is Beam's ``RunInference`` with ``TalkieModelHandler`` (``transforms.inference``,
imported when the transform is built: Beam's ML package imports torch): batches of units whose
windows add up to at most ``batch_size`` go through one ``Generator.generate`` call on fixed,
padded batches, so windows of different scenes and films share a forward pass and a unit's audio
does not depend on its batch-mates (DESIGN.md, "Determinism"). Right after inference, each unit's
windows are blended, resampled to 48 kHz, published as a 24-bit FLAC stem, and then its ledger
object is written: from that moment the unit survives any crash (DESIGN.md, "Durable progress").

Every stage sends the elements it cannot process to a ``FAILURES`` output and the rest go on.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np

from media import storage
from transforms import progress
from transforms.failures import FAILURES, Failure, failure_from, redact
from transforms.shard import ShardedFilm
from transforms.storage_metrics import CountsStorageRetries
from transforms.units import (
    OUTPUT_RATE,
    GenerationSettings,
    Take,
    Unit,
    ledger_uri,
    plan_film,
    stem_uri,
)

log = logging.getLogger(__name__)

STAGE_PLAN_UNITS = "plan_units"
STAGE_DECODE_WINDOWS = "decode_windows"
STAGE_GENERATE_AUDIO = "generate_audio"

LEDGER_SCHEMA = "talkie.ledger/1"
VIDEO_DECODE_MODES = ("cpu", "cuda")
FLAC_BITS = 24


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class UnitFrames:
    """A unit with its scene's frames: (N, H, W) uint8 grayscale at the model's fps and size,
    N >= the last window's end (frames past the scene repeat its last frame)."""

    unit: Unit
    frames: np.ndarray


class PlanOutputs(NamedTuple):
    plans: beam.PCollection  # FilmPlan
    units: beam.PCollection  # Unit
    failures: beam.PCollection  # Failure


class SkipOutputs(NamedTuple):
    to_do: beam.PCollection  # Unit
    done: beam.PCollection  # Take (generated=False)


class DecodeOutputs(NamedTuple):
    frames: beam.PCollection  # UnitFrames
    failures: beam.PCollection  # Failure


class GenerateOutputs(NamedTuple):
    takes: beam.PCollection  # Take (generated=True)
    failures: beam.PCollection  # Failure


def _counter(name: str):
    return beam.metrics.Metrics.counter("talkie", name)


# ----------------------------------------------------------------------------- PlanUnits


class _PlanUnitsFn(beam.DoFn):
    def __init__(self, settings: GenerationSettings) -> None:
        self._settings = settings
        self._units = _counter("units_planned")
        self._failed = _counter(f"failures_{STAGE_PLAN_UNITS}")

    def process(self, film: ShardedFilm):
        try:
            plan = plan_film(film, self._settings)
        except Exception as exc:  # one film's odd values must not stop the others
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(FAILURES, failure_from(
                exc, uri=film.job.video_input, film_id=film.film_id, stage=STAGE_PLAN_UNITS))
            return
        self._units.inc(len(plan.units))
        yield plan
        for unit in plan.units:
            yield beam.pvalue.TaggedOutput("units", unit)


class PlanUnits(beam.PTransform):
    """ShardedFilm -> ``PlanOutputs(plans, units, failures)``: every take of every scene, keyed
    (``transforms.units.plan_film``)."""

    def __init__(self, settings: GenerationSettings) -> None:
        super().__init__()
        self._settings = settings

    def expand(self, films: beam.PCollection) -> PlanOutputs:
        result = films | "Plan" >> beam.ParDo(_PlanUnitsFn(self._settings)).with_outputs(
            "units", FAILURES, main="plans")
        return PlanOutputs(plans=result.plans, units=result.units, failures=result[FAILURES])


# ----------------------------------------------------------------------------- the ledger


def ledger_record(take: Take, settings: GenerationSettings, *, output: str, run_id: str,
                  batch_size: int | None = None, device: str | None = None) -> dict[str, Any]:
    """The ledger object of a finished unit: its inputs, where its stem is, and who made it.

    ``batch_size`` and ``device`` are provenance, not key: on the CPU a unit's bytes do not
    depend on them; on CUDA (bf16) they are the same for the same batch size, whatever the
    unit's batch-mates, but another batch size can change the low bits.
    """
    unit = take.unit
    return {
        "schema": LEDGER_SCHEMA,
        "unit_key": unit.key,
        "film_id": unit.film_id,
        "uri": redact(unit.uri),
        "content_sha256": unit.content_sha256,
        "scene_index": unit.scene_index,
        "take": unit.take,
        "seed": unit.seed,
        "time_base": unit.time_base,
        "start_pts": unit.start_pts,
        "end_pts": unit.end_pts,
        "start_s": unit.start_s,
        "end_s": unit.end_s,
        "positive_prompt": unit.positive_prompt,
        "negative_prompt": unit.negative_prompt,
        **settings.key_fields(),
        # Relative to OUTPUT, so that a moved or copied output folder stays whole.
        "flac": stem_uri("", unit.film_id, unit.key).lstrip("/"),
        "flac_sha256": take.flac_sha256,
        "sample_rate": OUTPUT_RATE,
        "samples": unit.output_samples,
        "sync_score": take.sync_score,
        "batch_size": batch_size,
        "device": device,
        "run_id": run_id,
    }


def read_ledger(output: str, unit: Unit) -> Take | None:
    """The unit's ``Take`` from its ledger object; None when there is none, or when it is not
    usable (unreadable, another unit's, or its stem is gone: logged, and the unit is redone)."""
    uri = ledger_uri(output, unit.film_id, unit.key)
    if not storage.exists(uri):
        return None
    try:
        record = json.loads(storage.read_bytes(uri))
        if record.get("schema") != LEDGER_SCHEMA or record.get("unit_key") != unit.key:
            raise ValueError(f"schema {record.get('schema')!r}, unit_key {record.get('unit_key')!r}")
        flac = stem_uri(output, unit.film_id, unit.key)
        if not storage.exists(flac):
            raise FileNotFoundError(f"its stem {flac} is missing")
        sync = record.get("sync_score")
        return Take(unit=unit, flac_uri=flac, flac_sha256=str(record["flac_sha256"]),
                    sync_score=None if sync is None else float(sync), generated=False)
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        log.warning("%s: ledger object not usable (%s); unit %s is generated again", uri, exc, unit.key)
        return None


# ----------------------------------------------------------------------------- SkipDone


class _SkipDoneFn(CountsStorageRetries, beam.DoFn):
    def __init__(self, output: str, force: bool) -> None:
        self._output = output
        self._force = force
        self._skipped = _counter("units_skipped")
        self._to_do = _counter("units_to_generate")

    def process(self, unit: Unit):
        take = None if self._force else read_ledger(self._output, unit)
        if take is None:
            self._to_do.inc()
            progress.planned(to_do=1)
            yield unit
            return
        self._skipped.inc()
        progress.planned(skipped=1)
        yield beam.pvalue.TaggedOutput("done", take)


class SkipDone(beam.PTransform):
    """Unit -> ``SkipOutputs(to_do, done)``: a unit whose ledger object (and stem) exists is
    done, and comes out as its ``Take`` read from the ledger; ``force`` redoes every unit."""

    def __init__(self, output: str, force: bool = False) -> None:
        super().__init__()
        self._output = output
        self._force = force

    def expand(self, units: beam.PCollection) -> SkipOutputs:
        result = units | "CheckLedger" >> beam.ParDo(_SkipDoneFn(self._output, self._force)).with_outputs(
            "done", main="to_do")
        return SkipOutputs(to_do=result.to_do, done=result.done)


# ----------------------------------------------------------------------------- DecodeWindows


def fit_frames(frames: np.ndarray, scene_frames: int, needed: int) -> np.ndarray:
    """``frames`` (K', H, W) cut or padded to the scene's ``scene_frames``, then padded to ``needed``
    by repeating the scene's last frame (a still picture: no motion, so no false onset)."""
    if frames.ndim != 3 or frames.shape[0] < 1:
        raise ValueError(f"decoded frames have shape {frames.shape}: need (frames >= 1, height, width)")
    frames = frames[:scene_frames]
    total = max(scene_frames, needed)
    if frames.shape[0] < total:
        pad = np.repeat(frames[-1:], total - frames.shape[0], axis=0)
        frames = np.concatenate([frames, pad], axis=0)
    return np.ascontiguousarray(frames)


def decode_unit_frames(unit: Unit, settings: GenerationSettings, decode=None) -> np.ndarray:
    """The unit's scene at the model's fps and size, grayscale, fitted to its windows (``fit_frames``)."""
    if decode is None:
        from media.decode import decode_range as decode
    video = settings.config.video
    frames = decode(unit.uri, unit.start_pts, unit.end_pts, fps=video.fps, width=video.width,
                    height=video.height, gray=True)
    needed = unit.windows[-1].start_frame + settings.window_frames
    return fit_frames(np.asarray(frames, dtype=np.uint8), unit.frames, needed)


def decode_range_cuda(uri: str, start_pts: int, end_pts: int, *, fps: float, width: int, height: int,
                      gray: bool = True) -> np.ndarray:
    """``media.decode.decode_range`` with FFmpeg's CUDA decoder (NVDEC) through PyAV's ``hwaccel``.

    The same sampling as ``decode_range``: output frame k is the frame on screen at
    start + k / fps. Raises when no CUDA device or NVDEC decoder can be used (PyAV's software
    fallback is switched off, so the caller knows), and the caller falls back to the CPU.
    Measured on an H200 (a 29 fps H.264 clip, 25 to 190 output frames): the same frames as the
    CPU, bit for bit; about 0.45 s a call, almost all of it opening the CUDA decoder, against
    0.02-0.05 s on the CPU, so NVDEC pays off only where CPU cores are scarce and scenes long.
    """
    import av
    from av.codec.hwaccel import HWAccel
    from av.video.reformatter import VideoReformatter

    hwaccel = HWAccel(device_type="cuda", allow_software_fallback=False)
    with contextlib.ExitStack() as stack:
        source = storage.local_path(uri) if storage.is_local(uri) else stack.enter_context(storage.open_input(uri))
        container = stack.enter_context(av.open(source, mode="r", hwaccel=hwaccel))
        stream = container.streams.video[0]
        tb = Fraction(stream.time_base)
        span = Fraction(end_pts - start_pts) * tb
        count = max(1, int(np.ceil(float(span * Fraction(fps)) - 1e-9)))
        wanted = [start_pts + Fraction(k) / (Fraction(fps) * tb) for k in range(count)]
        container.seek(int(start_pts), stream=stream, backward=True, any_frame=False)
        scaler = VideoReformatter()
        fmt = "gray" if gray else "rgb24"
        out = np.empty((count, height, width) + (() if gray else (3,)), dtype=np.uint8)
        k, held, held_array = 0, None, None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            while k < count and frame.pts > wanted[k]:
                held = held if held is not None else frame
                if held_array is None:
                    held_array = scaler.reformat(held, width, height, fmt, interpolation="AREA").to_ndarray()
                out[k] = held_array
                k += 1
            if k >= count:
                break
            held, held_array = frame, None
        if held is None:
            raise ValueError(f"{uri}: NVDEC decoded no frame at or after PTS {start_pts}")
        while k < count:
            if held_array is None:
                held_array = scaler.reformat(held, width, height, fmt, interpolation="AREA").to_ndarray()
            out[k] = held_array
            k += 1
        return out


def _by_scene(unit: Unit) -> tuple[str, Unit]:
    return f"{unit.film_id}/{unit.scene_index}", unit


class _DecodeSceneFn(CountsStorageRetries, beam.DoFn):
    """Decodes a scene once for all its takes to do."""

    def __init__(self, settings: GenerationSettings, video_decode: str) -> None:
        if video_decode not in VIDEO_DECODE_MODES:
            raise ValueError(f"video_decode {video_decode!r} is not accepted; accepted: {VIDEO_DECODE_MODES}")
        self._settings = settings
        self._video_decode = video_decode
        self._scenes = _counter("scenes_decoded")
        self._frames = _counter("frames_decoded")
        self._fallbacks = _counter("video_decode_cpu_fallbacks")
        self._failed = _counter(f"failures_{STAGE_DECODE_WINDOWS}")

    def setup(self) -> None:
        self._mode = self._video_decode

    def _decode(self, unit: Unit) -> np.ndarray:
        if self._mode == "cuda":
            try:
                return decode_unit_frames(unit, self._settings, decode_range_cuda)
            except Exception as exc:  # no GPU, no NVDEC for this codec, a remote file, ...
                log.warning("--video_decode=cuda: NVDEC decoding failed (%s: %s); decoding on the CPU "
                            "from now on in this worker", type(exc).__name__, exc)
                self._fallbacks.inc()
                self._mode = "cpu"
        return decode_unit_frames(unit, self._settings)

    def process(self, element: tuple[str, Iterable[Unit]]):
        _, group = element
        units = sorted(group, key=lambda u: (u.take, u.key))
        first = units[0]
        try:
            frames = self._decode(first)
        except Exception as exc:  # one scene that will not decode must not stop the others
            takes = ", ".join(str(u.take) for u in units)
            self._failed.inc(len(units))
            for unit in units:
                failure = failure_from(exc, uri=unit.uri, film_id=unit.film_id, stage=STAGE_DECODE_WINDOWS)
                yield beam.pvalue.TaggedOutput(FAILURES, Failure(
                    uri=failure.uri, film_id=failure.film_id, stage=failure.stage, error_type=failure.error_type,
                    error=f"scene {unit.scene_index} (takes {takes}): {failure.error}"))
            return
        self._scenes.inc()
        self._frames.inc(first.frames)
        for unit in units:  # takes of one scene share its frames (and windows: the same range)
            yield UnitFrames(unit=unit, frames=frames)


class DecodeWindows(beam.PTransform):
    """Unit -> ``DecodeOutputs(frames, failures)``: each unit with its scene's frames.

    Groups the takes of a scene so that the scene is decoded once (the grouping also spreads
    scenes over workers, as a Reshuffle would), then decodes it at the model's fps and size in
    grayscale with ``media.decode.decode_range`` (FFmpeg's own frame and slice threads). With
    ``video_decode="cuda"`` it tries NVDEC through PyAV's ``hwaccel`` first and falls back to the
    CPU, logging why and counting ``video_decode_cpu_fallbacks``. Duplicated frames need no
    removal here: frames are sampled by time, so a repeated frame keeps its true timing; the
    per-frame brightness clean-up is inside the model's visual encoder.
    """

    def __init__(self, settings: GenerationSettings, video_decode: str = "cpu") -> None:
        super().__init__()
        if video_decode not in VIDEO_DECODE_MODES:
            raise ValueError(f"video_decode {video_decode!r} is not accepted; accepted: {VIDEO_DECODE_MODES}")
        self._settings = settings
        self._video_decode = video_decode

    def expand(self, units: beam.PCollection) -> DecodeOutputs:
        result = (
            units
            | "KeyByScene" >> beam.Map(_by_scene)
            | "GroupTakesByScene" >> beam.GroupByKey()
            | "Decode" >> beam.ParDo(_DecodeSceneFn(self._settings, self._video_decode)).with_outputs(
                FAILURES, main="frames")
        )
        return DecodeOutputs(frames=result.frames, failures=result[FAILURES])


# ----------------------------------------------------------------------------- GenerateAudio


def blend_unit(unit: Unit, windows: np.ndarray, settings: GenerationSettings) -> np.ndarray:
    """(unit.samples,) float32 model-rate audio: the unit's (W, L) windows crossfaded (``media.blend``)."""
    from media.blend import blend_windows

    length = settings.config.window_samples
    if windows.shape != (len(unit.windows), length):
        raise ValueError(f"unit {unit.key}: inference gave windows of shape {windows.shape}, "
                         f"expected ({len(unit.windows)}, {length})")
    starts = [w.start_sample for w in unit.windows]
    overlap = length - (starts[1] - starts[0]) if len(starts) > 1 else 0
    return blend_windows(list(windows.astype(np.float32)), starts, unit.samples, overlap)


def stem_tags(unit: Unit, settings: GenerationSettings) -> dict[str, str]:
    """A stem's provenance tags (``media.flac`` adds ENCODER=generated by Talkie): only what its
    unit key covers, so that one key always gives the same bytes (no film_id, path or run id)."""
    return {
        "TALKIE_UNIT_KEY": unit.key,
        "TALKIE_CONTENT_SHA256": unit.content_sha256,
        "TALKIE_TIME_RANGE": f"{unit.start_pts}-{unit.end_pts}@{unit.time_base}",
        "TALKIE_POSITIVE_PROMPT": unit.positive_prompt,
        "TALKIE_NEGATIVE_PROMPT": unit.negative_prompt,
        "TALKIE_TAKE": str(unit.take),
        "TALKIE_SEED": str(unit.seed),
        **settings.provenance_tags(),
    }


def stem_bytes(unit: Unit, blended: np.ndarray, settings: GenerationSettings) -> bytes:
    """The unit's 48 kHz, 24-bit FLAC stem of exactly ``unit.output_samples`` samples."""
    from media.flac import encode_flac
    from media.resample import resample

    audio = resample(blended, settings.config.audio.sample_rate, OUTPUT_RATE, length=unit.output_samples)
    return encode_flac(np.asarray(audio, dtype=np.float32), OUTPUT_RATE, bits=FLAC_BITS, tags=stem_tags(unit, settings))


class _WriteStemFn(CountsStorageRetries, beam.DoFn):
    """Blends, scores, publishes the stem, then the ledger object (in that order)."""

    def __init__(self, settings: GenerationSettings, output: str, run_id: str, batch_size: int,
                 device: str | None) -> None:
        self._settings = settings
        self._output = output
        self._run_id = run_id
        self._batch_size = batch_size
        self._device = device
        self._generated = _counter("units_generated")
        self._windows = _counter("windows_generated")
        self._audio_ms = _counter("audio_ms_generated")
        self._failed = _counter(f"failures_{STAGE_GENERATE_AUDIO}")

    def setup(self) -> None:
        if self._device is None:  # what model.device.resolve_device picks for "auto"
            import torch

            self._device = "cuda" if torch.cuda.is_available() else "cpu"

    def process(self, result):  # apache_beam.ml.inference.base.PredictionResult
        element: UnitFrames = result.example
        unit = element.unit
        try:
            take = self._publish(element, np.asarray(result.inference))
        except Exception as exc:  # one unit's failure must not stop the others
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(FAILURES, failure_from(
                exc, uri=unit.uri, film_id=unit.film_id, stage=STAGE_GENERATE_AUDIO))
            return
        seconds = unit.output_samples / OUTPUT_RATE
        self._generated.inc()
        self._windows.inc(len(unit.windows))
        self._audio_ms.inc(round(seconds * 1000))
        progress.generated(1, seconds)
        yield take

    def _publish(self, element: UnitFrames, windows: np.ndarray) -> Take:
        from media.sync import sync_score

        unit, settings = element.unit, self._settings
        blended = blend_unit(unit, windows, settings)
        score = float(sync_score(element.frames[: unit.frames], settings.config.video.fps, blended,
                                 settings.config.audio.sample_rate))
        data = stem_bytes(unit, blended, settings)
        flac = stem_uri(self._output, unit.film_id, unit.key)
        storage.write_bytes(flac, data)  # the stem first: a ledger object always has its stem
        take = Take(unit=unit, flac_uri=flac, flac_sha256=hashlib.sha256(data).hexdigest(),
                    sync_score=score if np.isfinite(score) else None, generated=True)
        record = ledger_record(take, settings, output=self._output, run_id=self._run_id,
                               batch_size=self._batch_size, device=self._device)
        storage.write_bytes(ledger_uri(self._output, unit.film_id, unit.key),
                            json.dumps(record, sort_keys=True, indent=1).encode("utf-8"))
        return take


def _inference_failures(dead_letter) -> Iterable[Failure]:
    """A failed RunInference batch -> one Failure per unit in it."""
    batch, error = dead_letter
    error_type, message = (error[0].__name__, str(error[1])) if isinstance(error, tuple) else (
        type(error).__name__, str(error))
    for element in batch or ():
        unit = element.unit
        failure = failure_from(RuntimeError(message), uri=unit.uri, film_id=unit.film_id, stage=STAGE_GENERATE_AUDIO)
        yield Failure(uri=failure.uri, film_id=failure.film_id, stage=failure.stage, error_type=error_type,
                      error=failure.error)


class GenerateAudio(beam.PTransform):
    """UnitFrames -> ``GenerateOutputs(takes, failures)``: generate, then publish each unit.

    ``RunInference(TalkieModelHandler)`` with exception handling: a batch that raises becomes a
    ``generate_audio`` Failure for each of its units. Then, per unit: its windows are blended
    (``media.blend``), scored against its frames (``media.sync.sync_score``, motion onsets
    against audio onsets), resampled to 48 kHz to exactly the scene's samples, written as a
    24-bit FLAC stem with provenance tags to ``OUTPUT/audio/<film_id>/<unit_key>.flac`` and then
    recorded in ``OUTPUT/ledger/<film_id>/<unit_key>.json``.
    """

    def __init__(self, settings: GenerationSettings, output: str, run_id: str, *, batch_size: int = 8,
                 device: str | None = None) -> None:
        super().__init__()
        self._settings = settings
        self._output = output
        self._run_id = run_id
        from transforms.inference import TalkieModelHandler  # Beam's ML package imports torch

        self._handler = TalkieModelHandler(settings, batch_size, device)
        self._batch_size = batch_size
        self._device = device

    def expand(self, frames: beam.PCollection) -> GenerateOutputs:
        from apache_beam.ml.inference.base import RunInference

        inferred, dead = frames | "RunInference" >> RunInference(
            self._handler, metrics_namespace="talkie").with_exception_handling()
        failed_batches = dead.failed_inferences | "FailedBatches" >> beam.FlatMap(_inference_failures)
        written = inferred | "WriteStems" >> beam.ParDo(
            _WriteStemFn(self._settings, self._output, self._run_id, self._batch_size, self._device)).with_outputs(FAILURES, main="takes")
        failures = (failed_batches, written[FAILURES]) | "GenerateFailures" >> beam.Flatten()
        return GenerateOutputs(takes=written.takes, failures=failures)
