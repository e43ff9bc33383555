"""Talkie's ``ModelHandler`` for Beam's ``RunInference`` (used by ``transforms.generate.GenerateAudio``).

Kept apart from ``transforms.generate`` because ``apache_beam.ml.inference.base`` imports torch,
which the jobs never import before they run (``--help`` stays fast).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from transforms.checks import is_whole
from transforms.generate import UnitFrames
from transforms.units import GenerationSettings

log = logging.getLogger(__name__)


def window_count(element: UnitFrames) -> int:
    """A unit's weight in a batch: its windows (``batch_size`` counts windows, not units)."""
    return len(element.unit.windows)


class TalkieModelHandler(ModelHandler):
    """RunInference's handler for Talkie's generator.

    ``load_model`` loads the checkpoint (``model.generate.load_generator``: CUDA with bf16 when
    there is one, logged either way) and checks that it is the checkpoint the unit keys were
    made with. ``run_inference`` generates every window of a batch of units in one
    ``Generator.generate`` call, ``batch_size`` windows at a time on padded batches, each window
    from its own seed. Batches hold at most ``batch_size`` windows (one unit with more windows
    makes a batch of its own). One model per process on the CPU; on a GPU worker the processes
    share one copy (``share_model_across_processes``).
    """

    def __init__(self, settings: GenerationSettings, batch_size: int, device: str | None = None) -> None:
        if not is_whole(batch_size) or batch_size < 1:
            raise ValueError(f"batch_size {batch_size!r} must be a whole number of windows >= 1")
        # A fixed target (min = max): batch sizes do not wander with measured timings.
        super().__init__(min_batch_size=batch_size, max_batch_size=batch_size, element_size_fn=window_count)
        self._settings = settings
        self._batch_size = batch_size
        self._device = device

    def load_model(self):
        from model.generate import load_generator
        from model.vocoders import vocoder_named

        vocoder = vocoder_named(self._settings.vocoder, self._settings.config.audio)
        generator = load_generator(self._settings.checkpoint, device=self._device, vocoder=vocoder)
        if generator.checkpoint_sha256 != self._settings.checkpoint_sha256:
            raise ValueError(
                f"checkpoint {self._settings.checkpoint or 'model/weights/tiny.safetensors'} has SHA-256 "
                f"{generator.checkpoint_sha256} on this worker, but the job's unit keys were made with "
                f"{self._settings.checkpoint_sha256}: the file changed after the job started"
            )
        if generator.vocoder.name != self._settings.vocoder:
            raise ValueError(
                f"the worker's vocoder is {generator.vocoder.name!r}; the job's unit keys name "
                f"{self._settings.vocoder!r}"
            )
        log.info("generator loaded on %s (checkpoint %s)", generator.device, generator.checkpoint_sha256[:12])
        return generator

    def run_inference(self, batch: Sequence[UnitFrames], model, inference_args: dict[str, Any] | None = None):
        if not batch:
            return []
        settings = self._settings
        length = settings.window_frames
        frames, positive, negative, seeds, owners = [], [], [], [], []
        for position, element in enumerate(batch):
            unit = element.unit
            for window in unit.windows:
                frames.append(element.frames[window.start_frame : window.start_frame + length])
                positive.append(unit.positive_prompt)
                negative.append(unit.negative_prompt)
                seeds.append(window.seed)
                owners.append(position)
        audio = model.generate(
            np.stack(frames),
            positive,
            negative,
            seeds=seeds,
            steps=settings.steps,
            text_guidance=settings.text_guidance,
            video_guidance=settings.video_guidance,
            negative_guidance=settings.negative_guidance,
            sampler=settings.sampler,
            batch_size=self._batch_size,
        ).numpy()
        owners_array = np.asarray(owners)
        return [
            PredictionResult(example=element, inference=audio[owners_array == position])
            for position, element in enumerate(batch)
        ]

    def get_num_bytes(self, batch: Sequence[UnitFrames]) -> int:
        return sum(element.frames.nbytes for element in batch)

    def get_metrics_namespace(self) -> str:
        return "talkie"

    def share_model_across_processes(self) -> bool:
        import torch

        return torch.cuda.is_available()

    def model_copies(self) -> int:
        return 1
