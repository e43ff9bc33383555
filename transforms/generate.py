"""The generation half of the restore job: plan units, skip finished ones, decode, generate, publish.

    ShardedFilm --PlanUnits--> FilmPlan, Unit
    Unit --SkipDone--> Unit (to do), Take (finished earlier, read from the ledger)
    Unit --DecodeWindows--> UnitFrames --GenerateAudio--> Take (stem and ledger object published)

``GenerateAudio`` is Beam's ``RunInference`` with ``TalkieModelHandler`` (``transforms.inference``,
imported when the transform is built: Beam's ML package imports torch): batches of units whose
windows add up to at most ``batch_size`` go through one ``Generator.generate`` call on fixed,
padded batches, so windows of different scenes and films share a forward pass and a unit's audio
does not depend on its batch-mates (docs/design.md, "Determinism"). Right after inference, each
unit's windows are blended, resampled to 48 kHz, published as a 24-bit FLAC stem, and then its
ledger object is written (``transforms.ledger``): from that moment the unit survives any crash
(docs/design.md, "Durable progress").

Every stage sends the elements it cannot process to a ``FAILURES`` output (``FailureGuard``) and
the rest go on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np

from media import storage
from media.decode import OpenFilms, check_video_decode, hwaccel_for
from transforms import progress
from transforms.failures import FAILURES, Failure, FailureGuard, failure_from, redact
from transforms.layout import stem_uri
from transforms.ledger import ledger_record, read_ledger, write_ledger
from transforms.shard import ShardedFilm
from transforms.stages import STAGE_DECODE_WINDOWS, STAGE_GENERATE_AUDIO, STAGE_PLAN_UNITS
from transforms.storage_metrics import CountsStorageRetries
from transforms.units import (
    OUTPUT_RATE,
    GenerationSettings,
    Take,
    Unit,
    plan_film,
    samples_at,
    window_start_sample,
)

log = logging.getLogger(__name__)

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


def _counter(name: str) -> Any:
    return beam.metrics.Metrics.counter("talkie", name)


# ----------------------------------------------------------------------------- PlanUnits


class _PlanUnitsFn(beam.DoFn):
    def __init__(self, settings: GenerationSettings) -> None:
        self._settings = settings
        self._units = _counter("units_planned")
        self._guard = FailureGuard(STAGE_PLAN_UNITS)

    def process(self, film: ShardedFilm) -> Iterator[Any]:
        with self._guard.catching() as caught:  # one film's odd values must not stop the others
            plan = plan_film(film, self._settings)
        if caught.error is not None:
            yield self._guard.failure(caught.error, uri=film.job.video_input, film_id=film.film_id)
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
            "units", FAILURES, main="plans"
        )
        return PlanOutputs(plans=result.plans, units=result.units, failures=result[FAILURES])


# ----------------------------------------------------------------------------- SkipDone


class _SkipDoneFn(CountsStorageRetries, beam.DoFn):
    def __init__(self, output: str, force: bool) -> None:
        self._output = output
        self._force = force
        self._skipped = _counter("units_skipped")
        self._to_do = _counter("units_to_generate")

    def process(self, unit: Unit) -> Iterator[Any]:
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
            "done", main="to_do"
        )
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


def decode_unit_frames(
    unit: Unit, settings: GenerationSettings, hwaccel: str | None = None, films: OpenFilms | None = None
) -> np.ndarray:
    """The unit's scene at the model's fps and size, grayscale, fitted to its windows (``fit_frames``);
    ``hwaccel`` and ``films`` (containers kept open between scenes) as ``media.decode.decode_range``
    takes them (None: the CPU; a film opened for this scene alone)."""
    from media.decode import decode_range  # looked up per call (the stage-failure tests replace it)

    video = settings.config.video
    frames = decode_range(
        unit.uri,
        unit.start_pts,
        unit.end_pts,
        fps=video.fps,
        width=video.width,
        height=video.height,
        gray=True,
        hwaccel=hwaccel,
        films=films,
    )
    needed = unit.windows[-1].start_frame + settings.window_frames
    return fit_frames(np.asarray(frames, dtype=np.uint8), unit.frames, needed)


def _by_scene(unit: Unit) -> tuple[str, Unit]:
    return f"{unit.film_id}/{unit.scene_index}", unit


class _DecodeSceneFn(CountsStorageRetries, beam.DoFn):
    """Decodes a scene once for all its takes to do."""

    def __init__(self, settings: GenerationSettings, video_decode: str) -> None:
        self._settings = settings
        self._video_decode = check_video_decode(video_decode)
        self._scenes = _counter("scenes_decoded")
        self._frames = _counter("frames_decoded")
        self._fallbacks = _counter("video_decode_cpu_fallbacks")
        self._guard = FailureGuard(STAGE_DECODE_WINDOWS)

    def setup(self) -> None:
        self._hwaccel = hwaccel_for(self._video_decode)  # None once NVDEC has failed in this worker
        # A worker's next scene is often of the same film: its container stays open (header and
        # index read once), the two most recent films at a time.
        self._films = OpenFilms(keep=2)

    def teardown(self) -> None:
        self._films.close()

    def _decode(self, unit: Unit) -> np.ndarray:
        if self._hwaccel is not None:
            try:
                return decode_unit_frames(unit, self._settings, self._hwaccel, self._films)
            except Exception as exc:  # no GPU, no NVDEC for this codec, a remote file, ...
                log.warning(
                    "--video_decode=%s: NVDEC decoding failed (%s: %s); decoding on the CPU "
                    "from now on in this worker",
                    self._video_decode,
                    type(exc).__name__,
                    redact(str(exc)),
                )
                self._fallbacks.inc()
                self._hwaccel = None
        return decode_unit_frames(unit, self._settings, films=self._films)

    def process(self, element: tuple[str, Iterable[Unit]]) -> Iterator[Any]:
        _, group = element
        units = sorted(group, key=lambda u: (u.take, u.key))
        first = units[0]
        with self._guard.catching() as caught:  # one scene that will not decode must not stop the others
            frames = self._decode(first)
        if caught.error is not None:
            takes = ", ".join(str(u.take) for u in units)
            for unit in units:
                yield self._guard.failure(
                    caught.error,
                    uri=unit.uri,
                    film_id=unit.film_id,
                    prefix=f"scene {unit.scene_index} (takes {takes}): ",
                )
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
    ``video_decode="cuda"`` it tries NVDEC (``decode_range``'s ``hwaccel="cuda"``) first and falls
    back to the CPU for the rest of the worker's life, logging why and counting
    ``video_decode_cpu_fallbacks``. Duplicated frames need no
    removal here: frames are sampled by time, so a repeated frame keeps its true timing; the
    per-frame brightness clean-up is inside the model's visual encoder.
    """

    def __init__(self, settings: GenerationSettings, video_decode: str = "cpu") -> None:
        super().__init__()
        self._settings = settings
        self._video_decode = check_video_decode(video_decode)

    def expand(self, units: beam.PCollection) -> DecodeOutputs:
        result = (
            units
            | "KeyByScene" >> beam.Map(_by_scene)
            | "GroupTakesByScene" >> beam.GroupByKey()
            | "Decode"
            >> beam.ParDo(_DecodeSceneFn(self._settings, self._video_decode)).with_outputs(
                FAILURES, main="frames"
            )
        )
        return DecodeOutputs(frames=result.frames, failures=result[FAILURES])


# ----------------------------------------------------------------------------- GenerateAudio


def blend_unit(unit: Unit, windows: np.ndarray, settings: GenerationSettings) -> np.ndarray:
    """(samples,) float32 audio at the vocoder's rate (``settings.vocoder_rate``): the unit's
    (W, L) windows crossfaded (``media.blend``); at the model's rate, samples is ``unit.samples``."""
    from media.blend import blend_windows

    rate, config = settings.vocoder_rate, settings.config
    length = round(config.window.window_s * rate)  # config.window_samples at the model's rate
    if windows.shape != (len(unit.windows), length):
        raise ValueError(
            f"unit {unit.key}: inference gave windows of shape {windows.shape}, "
            f"expected ({len(unit.windows)}, {length}) at {rate} Hz"
        )
    starts = [window_start_sample(w.start_frame, config.video.fps, rate) for w in unit.windows]
    overlap = length - (starts[1] - starts[0]) if len(starts) > 1 else 0
    samples = samples_at(unit.end_time - unit.start_time, rate)
    return blend_windows(list(windows.astype(np.float32)), starts, samples, overlap)


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

    audio = resample(blended, settings.vocoder_rate, OUTPUT_RATE, length=unit.output_samples)
    return encode_flac(
        np.asarray(audio, dtype=np.float32), OUTPUT_RATE, bits=FLAC_BITS, tags=stem_tags(unit, settings)
    )


class _WriteStemFn(CountsStorageRetries, beam.DoFn):
    """Blends, scores, publishes the stem, then the ledger object (in that order)."""

    def __init__(
        self, settings: GenerationSettings, output: str, run_id: str, batch_size: int, device: str | None
    ) -> None:
        self._settings = settings
        self._output = output
        self._run_id = run_id
        self._batch_size = batch_size
        self._device = device
        self._generated = _counter("units_generated")
        self._windows = _counter("windows_generated")
        self._audio_ms = _counter("audio_ms_generated")
        self._guard = FailureGuard(STAGE_GENERATE_AUDIO)

    def setup(self) -> None:
        if self._device is None:  # what model.device.resolve_device picks for "auto"
            import torch

            self._device = "cuda" if torch.cuda.is_available() else "cpu"

    def process(self, result: Any) -> Iterator[Any]:  # apache_beam.ml.inference.base.PredictionResult
        element: UnitFrames = result.example
        unit = element.unit
        with self._guard.catching() as caught:  # one unit's failure must not stop the others
            take = self._publish(element, np.asarray(result.inference))
        if caught.error is not None:
            yield self._guard.failure(caught.error, uri=unit.uri, film_id=unit.film_id)
            return
        seconds = unit.output_samples / OUTPUT_RATE
        self._generated.inc()
        self._windows.inc(len(unit.windows))
        self._audio_ms.inc(round(seconds * 1000))
        progress.generated(1, seconds)
        yield take

    def _publish(self, element: UnitFrames, windows: np.ndarray) -> Take:
        from media.sync import audio_onsets, motion_onsets, onset_agreement

        unit, settings = element.unit, self._settings
        blended = blend_unit(unit, windows, settings)
        # media.sync.sync_score, with the motion onsets kept: the score's hits land on them.
        motion = motion_onsets(element.frames[: unit.frames], settings.config.video.fps)
        score = float(onset_agreement(motion, audio_onsets(blended, settings.vocoder_rate)))
        data = stem_bytes(unit, blended, settings)
        flac = stem_uri(self._output, unit.film_id, unit.key)
        storage.write_bytes(flac, data)  # the stem first: a ledger object always has its stem
        take = Take(
            unit=unit,
            flac_uri=flac,
            flac_sha256=hashlib.sha256(data).hexdigest(),
            sync_score=score if np.isfinite(score) else None,
            generated=True,
            motion_onsets_s=tuple(float(t) for t in motion),
        )
        record = ledger_record(
            take, settings, run_id=self._run_id, batch_size=self._batch_size, device=self._device
        )
        write_ledger(self._output, record)
        return take


def _inference_failures(dead_letter: tuple[Any, Any]) -> Iterator[Failure]:
    """A failed RunInference batch (its elements, and the error as Beam gives it: an exception or
    (type, value, traceback)) -> one Failure per unit in it."""
    batch, error = dead_letter
    error_type, message = (
        (error[0].__name__, str(error[1])) if isinstance(error, tuple) else (type(error).__name__, str(error))
    )
    for element in batch or ():
        unit = element.unit
        failure = failure_from(
            RuntimeError(message), uri=unit.uri, film_id=unit.film_id, stage=STAGE_GENERATE_AUDIO
        )
        yield dataclasses.replace(failure, error_type=error_type)


class GenerateAudio(beam.PTransform):
    """UnitFrames -> ``GenerateOutputs(takes, failures)``: generate, then publish each unit.

    ``RunInference(TalkieModelHandler)`` with exception handling: a batch that raises becomes a
    ``generate_audio`` Failure for each of its units. Then, per unit: its windows are blended
    (``media.blend``), scored against its frames (``media.sync.sync_score``, motion onsets
    against audio onsets; the motion onsets are kept in its ledger object for the score's hits),
    resampled to 48 kHz to exactly the scene's samples, written as a 24-bit FLAC stem with
    provenance tags to ``OUTPUT/audio/<film_id>/<unit_key>.flac`` and then recorded in
    ``OUTPUT/ledger/<film_id>/<unit_key>.json``.
    """

    def __init__(
        self,
        settings: GenerationSettings,
        output: str,
        run_id: str,
        *,
        batch_size: int = 8,
        device: str | None = None,
    ) -> None:
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

        inferred, dead = (
            frames
            | "RunInference"
            >> RunInference(self._handler, metrics_namespace="talkie").with_exception_handling()
        )
        failed_batches = dead.failed_inferences | "FailedBatches" >> beam.FlatMap(_inference_failures)
        writer = _WriteStemFn(self._settings, self._output, self._run_id, self._batch_size, self._device)
        written = inferred | "WriteStems" >> beam.ParDo(writer).with_outputs(FAILURES, main="takes")
        failures = (failed_batches, written[FAILURES]) | "GenerateFailures" >> beam.Flatten()
        return GenerateOutputs(takes=written.takes, failures=failures)
