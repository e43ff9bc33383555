"""Progress lines for a local run: units to do and done, audio seconds generated, rate and ETA.

Time counts from the first unit planned in this process (so model loading and decoding are in
the rate), and the ETA assumes the remaining units take as long as the finished ones did.

Beam metrics count the same things on every runner (``talkie`` namespace); these lines are for
the person watching a local run. The tally is per worker process: on the in-process runners it
is the whole run's, and with several worker processes each prints its own share.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("talkie.progress")
log.setLevel(logging.INFO)

_MIN_INTERVAL_S = 2.0


class _Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.to_do = 0
        self.skipped = 0
        self.done = 0
        self.audio_s = 0.0
        self.films = 0
        self.scenes = 0
        self.started: float | None = None
        self.last_line = 0.0


_TALLY = _Tally()


def reset() -> None:
    """Forget what this process has counted (the launcher calls it before each run)."""
    with _TALLY.lock:
        _TALLY.reset()


def planned(to_do: int = 0, skipped: int = 0) -> None:
    """Count units found to generate or to skip."""
    with _TALLY.lock:
        if _TALLY.started is None:
            _TALLY.started = time.monotonic()
        _TALLY.to_do += to_do
        _TALLY.skipped += skipped


def generated(units: int, audio_s: float) -> None:
    """Count generated units and their audio; logs a line at most every 2 s, and for the last unit."""
    now = time.monotonic()
    with _TALLY.lock:
        tally = _TALLY
        if tally.started is None:
            tally.started = now
        tally.done += units
        tally.audio_s += audio_s
        last = tally.to_do and tally.done >= tally.to_do
        if not last and now - tally.last_line < _MIN_INTERVAL_S:
            return
        tally.last_line = now
        line = _line(tally, now)
    log.info("%s", line)


def _line(tally: _Tally, now: float) -> str:
    elapsed = max(now - (tally.started or now), 1e-9)
    rate = tally.audio_s / elapsed
    text = (
        f"restore: {tally.done}/{tally.to_do or '?'} units generated, {tally.skipped} skipped, "
        f"{tally.audio_s:.1f} s of audio"
    )
    text += f" in {elapsed:.0f} s ({rate:.2f} audio-s/s)"
    remaining = tally.to_do - tally.done
    if remaining > 0:
        eta = remaining * elapsed / tally.done
        text += f", ETA {int(eta // 60)}m{int(eta % 60):02d}s"
    return text


def assembled(film_id: str, scenes: int, seconds: float) -> None:
    """Count and log one assembled film."""
    with _TALLY.lock:
        _TALLY.films += 1
        _TALLY.scenes += scenes
        films, total = _TALLY.films, _TALLY.scenes
    log.info(
        "restore: %s assembled (%d scenes, %.1f s); %d films, %d scenes so far",
        film_id,
        scenes,
        seconds,
        films,
        total,
    )
