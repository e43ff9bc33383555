"""A training run: ``train`` drives a ``model.trainer.Trainer`` over featurize shards, with saves and resume.

A run checks the shards against the config (``check_shards``), streams shuffled epochs of them
(``BatchStream``), prepares each step's inputs ahead (``StepPrefetcher``), and writes the model,
the training state and the loss log beside ``out`` (``model.train_state``) every ``save_every``
steps and when it stops: at ``steps``, or early and cleanly at ``minutes``, ``session_steps`` or
an interrupt.

Fine-tuning. ``init`` (``--init CHECKPOINT``, any fsspec URI; the shipped
``model/weights/tiny.safetensors`` for instance) starts the weights and their EMA from a model
checkpoint instead of from ``seed``, with a fresh optimizer and LR schedule over ``steps``, and
trains that checkpoint's config (its sampler settings and event threshold carry over until
``model.calibrate`` sets the threshold again). This is how an archive adapts the model to its own
featurized sound films, and how a checkpoint gets a second stage on more data. Resume a fine-tune
with the same ``--init`` (it names the config); the weights then come from the training state, not
from ``--init``.

Determinism. Every random draw of step k comes from generators seeded with (seed, k)
(``model.trainer``), and the data order from (seed, epoch) with a saved cursor, so a run stopped
and resumed (``--resume``) gives the same weights, bit for bit on the CPU, as one that never
stopped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Generic, NamedTuple, TypeVar

import torch

from media import storage
from model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model.conditioning import PrecomputedTextEncoder, TextEncoder, TextEncoderLike
from model.config import ModelConfig
from model.data import ShardDataset, collate, read_shard_metadata, shard_uris
from model.device import resolve_device
from model.train_state import LossLog, load_training_state, save_training_state, sibling_paths
from model.trainer import StepInputs, StepStats, Trainer, TrainSettings

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- data


class BatchStream:
    """Endless batches over shuffled epochs of the shards, with a resumable cursor (epoch, position).

    The order of epoch e is ``ShardDataset(shuffle=True, seed)``'s; batches run across epoch
    boundaries, so every batch has ``batch_size`` rows even when the corpus is smaller.
    """

    def __init__(self, uris: Sequence[str], batch_size: int, *, seed: int, epoch: int = 0, position: int = 0):
        self.dataset = ShardDataset(list(uris), shuffle=True, seed=seed)
        self.batch_size = batch_size
        self.epoch, self.position = epoch, position
        self._examples = self._iterate()

    def _iterate(self) -> Iterator[dict[str, Any]]:
        while True:
            self.dataset.set_epoch(self.epoch)
            seen = 0
            for index, example in enumerate(self.dataset):
                seen += 1
                if index < self.position:
                    continue
                self.position = index + 1
                yield example
            if seen == 0:
                raise ValueError(f"the shards {self.dataset.uris[:3]} hold no training windows")
            self.epoch, self.position = self.epoch + 1, 0

    def next_batch(self) -> dict[str, Any]:
        return collate([next(self._examples) for _ in range(self.batch_size)])

    @property
    def cursor(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}


def _data_fields(config: ModelConfig) -> dict[str, Any]:
    return {"audio": asdict(config.audio), "video": asdict(config.video), "window": asdict(config.window)}


def check_shards(uris: Sequence[str], config: ModelConfig) -> tuple[int, list[str]]:
    """(windows, distinct captions) of the shards, after checking that each was featurized with
    this config's audio, video and window settings (the network's shape may differ)."""
    windows, captions = 0, {}
    wanted = _data_fields(config)
    for uri in uris:
        meta = read_shard_metadata(uri)
        try:
            # shards featurized by earlier code carry an earlier config; only its data fields matter
            theirs = _data_fields(ModelConfig.from_json(meta.get("config", ""), upgrade=True))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{uri}: the shard's config is unreadable ({e})") from None
        if theirs != wanted:
            differ = [
                f"{group}.{key}={theirs[group][key]!r} (model: {value!r})"
                for group, values in wanted.items()
                for key, value in values.items()
                if theirs[group][key] != value
            ]
            raise ValueError(
                f"{uri} was featurized for other audio/video/window settings: {', '.join(differ)}; "
                "featurize again with this model's preset"
            )
        windows += len(meta["captions"])
        captions.update(dict.fromkeys(meta["captions"]))
    return windows, list(captions)


# ----------------------------------------------------------------------------- prefetch


Prepared = TypeVar("Prepared")


class StepPrefetcher(Generic[Prepared]):
    """Prepares step k + 1's inputs while step k trains: ``prepare(step)`` runs on one worker
    thread when ``overlap`` (the CUDA default: the numpy damage of a batch of 16 takes about as
    long as an H200 step, and the GPU would wait for it), inline otherwise (on the CPU it would
    compete with torch's own threads: 0.61 against 0.58 s a step on 2 cores, measured). Steps are
    prepared in order either way, and every draw is seeded by its step, so results are the same."""

    def __init__(self, prepare: Callable[[int], Prepared], *, overlap: bool):
        self._prepare = prepare
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="talkie-prefetch") if overlap else None
        )
        self._pending: Future[Prepared] | None = None

    def _submit(self, step: int) -> Future[Prepared]:
        if self._pool is not None:
            return self._pool.submit(self._prepare, step)
        done: Future[Prepared] = Future()
        done.set_result(self._prepare(step))
        return done

    def start(self, step: int) -> None:
        self._pending = self._submit(step)

    def take(self, next_step: int | None) -> Prepared:
        """The pending step's inputs; starts preparing ``next_step`` (None: nothing more)."""
        if self._pending is None:
            raise RuntimeError("StepPrefetcher.take before start")
        result = self._pending.result()
        self._pending = self._submit(next_step) if next_step is not None else None
        return result

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)


# ----------------------------------------------------------------------------- setup and resume


@dataclass(frozen=True)
class TrainResult:
    """What one ``train`` call did."""

    checkpoint: str  # the model (EMA weights)
    state: str  # the training state, for --resume
    log: str  # the loss log (JSON Lines)
    step: int  # updates done in total (this call and any it resumed)
    steps_this_run: int
    stopped_by: str  # "steps", "minutes", "session_steps" or "interrupted"
    device: str
    seconds: float  # this call's training loop
    seconds_per_step: float
    losses: tuple[float, ...] = field(repr=False)  # this call's per-step losses
    checkpoint_sha256: str = ""

    @property
    def first_loss(self) -> float:
        return self.losses[0] if self.losses else float("nan")

    @property
    def last_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")


def _checked_settings(
    steps: int,
    batch_size: int,
    seed: int,
    hyperparameters: Mapping[str, Any],
    *,
    minutes: float | None,
    session_steps: int | None,
    damage_workers: int | None,
) -> TrainSettings:
    """``train``'s settings, or the error of the first argument it cannot take."""
    known = {f.name for f in fields(TrainSettings)} - {"steps", "batch_size", "seed"}
    unknown = sorted(set(hyperparameters) - known)
    if unknown:
        raise TypeError(f"train() got unknown settings {unknown}; accepted: {sorted(known)}")
    settings = TrainSettings(steps=steps, batch_size=batch_size, seed=seed, **hyperparameters)
    if minutes is not None and not minutes > 0:
        raise ValueError(f"minutes={minutes}: need a positive budget")
    if session_steps is not None and session_steps < 1:
        raise ValueError(f"session_steps={session_steps}: need 1 or more")
    if damage_workers is not None and damage_workers < 0:  # before any file is written
        raise ValueError(f"damage_workers={damage_workers}: need 0 or more")
    return settings


def _ready_text_encoder(
    text_encoder: TextEncoderLike | None, text_embeddings: str | None, captions: Sequence[str]
) -> TextEncoderLike:
    """``text_encoder``, else the embeddings file, else MiniLM; each caption encoded once already
    (which fills ``TextEncoder``'s cache and checks a precomputed file's coverage)."""
    if text_encoder is None:
        text_encoder = PrecomputedTextEncoder.load(text_embeddings) if text_embeddings else TextEncoder()
    for start in range(0, len(captions), 256):
        text_encoder.encode(captions[start : start + 256])
    return text_encoder


def _init_checkpoint(init: str | None, config: ModelConfig) -> Checkpoint | None:
    """The ``--init`` checkpoint, which must hold ``config``; None without one."""
    if init is None:
        return None
    initial = load_checkpoint(init)
    if initial.config.config_hash() != config.config_hash():
        raise ValueError(
            f"--init {init} holds config {initial.config.config_hash()}, not the {config.config_hash()} "
            "being trained: fine-tune a checkpoint with its own config (the CLI does so when --init is given)"
        )
    return initial


class _Start(NamedTuple):
    cursor: dict[str, int]  # BatchStream's (epoch, position)
    elapsed_before: float  # seconds trained by the calls this one resumes
    resumed_from: int | None  # the step resumed from; None for a new run


def _resume(trainer: Trainer, state_uri: str) -> _Start:
    """``trainer`` as the training state at ``state_uri`` left it, if that state is the same run's."""
    config, settings = trainer.config, trainer.settings
    tensors, meta = load_training_state(state_uri)
    if meta["config_hash"] != config.config_hash():
        raise ValueError(
            f"{state_uri} trains config {meta['config_hash']}, not {config.config_hash()}: resume with the "
            "same preset, or start a new --out"
        )
    for name in ("seed", "batch_size"):
        if meta["settings"][name] != getattr(settings, name):
            raise ValueError(
                f"{state_uri} was trained with {name}={meta['settings'][name]}, "
                f"not {getattr(settings, name)}: a resumed run must keep them"
            )
    if meta["settings"]["steps"] != settings.steps:
        logger.warning(
            "resuming with steps=%d (was %d): the LR schedule changes",
            settings.steps,
            meta["settings"]["steps"],
        )
    trainer.load_state_tensors(tensors, int(meta["step"]))
    logger.info("resumed from %s at step %d", state_uri, int(meta["step"]))
    return _Start(meta["cursor"], float(meta["seconds"]), int(meta["step"]))


def _resume_or_start(
    trainer: Trainer,
    out: str,
    state_uri: str,
    *,
    resume: bool,
    overwrite: bool,
    initial: Checkpoint | None,
    init: str | None,
) -> _Start:
    """Resume ``out``'s run, or start a new one (from ``initial``'s weights where given), refusing
    to replace an earlier run's files unless ``overwrite``."""
    if resume and storage.exists(state_uri):
        return _resume(trainer, state_uri)
    if resume:
        logger.warning("--resume: no training state at %s, so training starts from step 0", state_uri)
    if not overwrite and (storage.exists(state_uri) or storage.exists(out)):
        raise FileExistsError(
            f"{out if storage.exists(out) else state_uri} exists"
            + (" without a training state to resume from" if resume else "")
            + ": pass resume=True (--resume) to continue its run, or overwrite=True (--overwrite) to "
            "start a new one over it"
        )
    if initial is not None:
        trainer.start_from(initial.state_dict)
        logger.info("weights and EMA from %s", init)
    return _Start({"epoch": 0, "position": 0}, 0.0, None)


def _progress(total: int, initial: int, enabled: bool) -> Any:
    """A tqdm bar, or None when disabled or tqdm is missing."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)


# ----------------------------------------------------------------------------- the run


@dataclass
class _Run:
    """One ``train`` call's bookkeeping beside the Trainer: its files, data cursor, losses and clock."""

    trainer: Trainer
    stream: BatchStream
    log: LossLog
    out: str
    state_uri: str
    uris: list[str]
    windows: int
    init: str | None
    elapsed_before: float
    progress: bool
    applied_cursor: dict[str, int] = field(init=False)  # the data cursor after the last batch trained on
    began: float = field(init=False, default=0.0)  # perf_counter at the loop's start
    losses: list[float] = field(init=False, default_factory=list)  # this call's per-step losses
    window: list[StepStats] = field(init=False, default_factory=list)  # the steps since the last log line

    def __post_init__(self) -> None:
        self.applied_cursor = dict(self.stream.cursor)

    def prepare(self, step: int) -> tuple[StepInputs, dict[str, int]]:
        """The next batch and its augmentation (numpy damage, text, the copy to the device)."""
        inputs = self.trainer.inputs(self.stream.next_batch(), step)
        return inputs, dict(self.stream.cursor)

    def save(self) -> str:
        """The model, the training state and the loss log as of now; returns the model's SHA-256."""
        trainer = self.trainer
        settings = asdict(trainer.settings)
        meta = {
            "step": trainer.step,
            "seconds": self.elapsed_before + (time.perf_counter() - self.began),
            "cursor": self.applied_cursor,
            "config_hash": trainer.config.config_hash(),
            "settings": settings,
            "shards": self.uris,
        }
        digest = save_checkpoint(
            self.out,
            trainer.ema_state_dict(),
            trainer.config,
            extra_metadata={
                "train_step": str(trainer.step),
                "train_seconds": f"{meta['seconds']:.1f}",
                "train_settings": json.dumps(settings, sort_keys=True),
                "train_windows": str(self.windows),
                **({"train_init": self.init} if self.init is not None else {}),
            },
        )
        save_training_state(self.state_uri, trainer, meta)
        self.log.publish()
        return digest

    def log_window(self, step: int, last: StepStats, bar: Any) -> None:
        """One loss-log line: the mean losses since the last one, ``last`` step's lr and gradient norm."""
        seconds = time.perf_counter() - self.began
        window = self.window
        record = {
            "step": step,
            "loss": sum(w.loss for w in window) / len(window),
            "flow": sum(w.flow for w in window) / len(window),
            "onset": sum(w.onset for w in window) / len(window),
            "lr": last.lr,
            "grad_norm": last.grad_norm,
            "seconds": round(self.elapsed_before + seconds, 3),
        }
        self.log.add(record)
        self.window = []
        if bar is not None:
            bar.set_postfix(flow=f"{record['flow']:.4f}", onset=f"{record['onset']:.4f}", lr=f"{last.lr:.2e}")
        elif self.progress:
            logger.info(
                "step %d/%d loss %.4f (flow %.4f, onset %.4f) lr %.2e %.3f s/step",
                step,
                self.trainer.settings.steps,
                record["loss"],
                record["flow"],
                record["onset"],
                last.lr,
                seconds / len(self.losses),
            )

    def step_loop(
        self,
        prefetch: StepPrefetcher[tuple[StepInputs, dict[str, int]]],
        bar: Any,
        *,
        minutes: float | None,
        session_steps: int | None,
    ) -> str:
        """Updates until ``steps``, or ``minutes`` or ``session_steps`` run out; returns which stopped it."""
        trainer, settings = self.trainer, self.trainer.settings
        while trainer.step < settings.steps:
            if session_steps is not None and len(self.losses) >= session_steps:
                return "session_steps"
            if minutes is not None and time.perf_counter() - self.began >= minutes * 60:
                return "minutes"
            inputs, cursor_after = prefetch.take(
                trainer.step + 1 if trainer.step + 1 < settings.steps else None
            )
            stats = trainer.apply(inputs)
            self.applied_cursor = cursor_after
            self.losses.append(stats.loss)
            self.window.append(stats)
            step = trainer.step
            if step % settings.log_every == 0 or step == settings.steps:
                self.log_window(step, stats, bar)
            if bar is not None:
                bar.update(1)
            if step % settings.save_every == 0 and step < settings.steps:
                self.save()
        return "steps"

    def loop(self, *, damage_workers: int | None, minutes: float | None, session_steps: int | None) -> str:
        """The step loop with its progress bar, damage workers and prefetch thread around it; returns
        what stopped it ("interrupted" on Ctrl-C, after which the caller still saves)."""
        trainer = self.trainer
        bar = _progress(trainer.settings.steps, trainer.step, self.progress)
        self.began = time.perf_counter()
        workers = trainer.start_damage_workers(damage_workers)
        if workers:
            logger.info("damaging clips in %d worker processes", workers)
        prefetch = StepPrefetcher(self.prepare, overlap=trainer.device.type == "cuda")
        if trainer.step < trainer.settings.steps:
            prefetch.start(trainer.step)
        try:
            return self.step_loop(prefetch, bar, minutes=minutes, session_steps=session_steps)
        except KeyboardInterrupt:
            logger.warning("interrupted at step %d: saving", trainer.step)
            return "interrupted"
        finally:
            prefetch.close()
            trainer.stop_damage_workers()
            if bar is not None:
                bar.close()


def train(
    config: ModelConfig,
    shards: str | Sequence[str],
    out: str,
    *,
    steps: int,
    batch_size: int = 16,
    minutes: float | None = None,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    device: str | torch.device = "auto",
    text_embeddings: str | None = None,
    text_encoder: TextEncoderLike | None = None,
    session_steps: int | None = None,
    progress: bool = True,
    init: str | None = None,
    damage_workers: int | None = None,
    **hyperparameters: Any,
) -> TrainResult:
    """Train the denoiser of ``config`` on featurize ``shards`` and save its EMA weights to ``out``.

    ``steps`` is the total number of updates (and the schedule's length); with ``resume`` the run
    continues from ``out``'s training state, else it starts from ``seed`` (refusing to replace an
    earlier run's files unless ``overwrite``). ``minutes`` and ``session_steps`` stop this call
    early, cleanly: the model and training state are saved, and a later ``resume`` goes on.
    Text comes from ``text_encoder``, else the embeddings file ``text_embeddings``, else MiniLM.
    ``init``: a model checkpoint (path or URI) whose weights a new run starts from instead of
    ``seed``'s; its config must be ``config`` (the CLI trains the checkpoint's own config).
    ``damage_workers``: processes that damage the clips of the next batch
    (``Trainer.start_damage_workers``; None: its default). The weights are the same for any number.
    Other keyword arguments are ``TrainSettings`` fields (lr, warmup_steps, ema_decay, ...).
    """
    settings = _checked_settings(
        steps,
        batch_size,
        seed,
        hyperparameters,
        minutes=minutes,
        session_steps=session_steps,
        damage_workers=damage_workers,
    )
    state_uri, log_uri = sibling_paths(out)
    uris = shard_uris(shards)
    windows, captions = check_shards(uris, config)
    logger.info("%d training windows in %d shards, %d distinct captions", windows, len(uris), len(captions))
    device = resolve_device(device, task="training")
    text_encoder = _ready_text_encoder(text_encoder, text_embeddings, captions)
    initial = _init_checkpoint(init, config)
    trainer = Trainer(config, settings, text_encoder=text_encoder, device=device)
    start = _resume_or_start(
        trainer, out, state_uri, resume=resume, overwrite=overwrite, initial=initial, init=init
    )
    stream = BatchStream(uris, settings.batch_size, seed=settings.seed, **start.cursor)
    log = LossLog(log_uri, keep_through=start.resumed_from)
    run = _Run(trainer, stream, log, out, state_uri, uris, windows, init, start.elapsed_before, progress)
    stopped_by = run.loop(damage_workers=damage_workers, minutes=minutes, session_steps=session_steps)
    seconds = time.perf_counter() - run.began
    digest = run.save()
    log.close()
    done = len(run.losses)
    logger.info(
        "stopped by %s at step %d: %d steps in %.1f s (%.3f s/step); model %s",
        stopped_by,
        trainer.step,
        done,
        seconds,
        seconds / max(done, 1),
        out,
    )
    return TrainResult(
        checkpoint=out,
        state=state_uri,
        log=log_uri,
        step=trainer.step,
        steps_this_run=done,
        stopped_by=stopped_by,
        device=str(device),
        seconds=seconds,
        seconds_per_step=seconds / max(done, 1),
        losses=tuple(run.losses),
        checkpoint_sha256=digest,
    )
