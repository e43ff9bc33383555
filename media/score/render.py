"""Note events -> 48 kHz float32 mono audio, with FluidSynth and a General MIDI soundfont.

FluidSynth (Debian's libfluidsynth3, driven through pyfluidsynth's ctypes binding) renders
offline: a fresh synth per call, no audio driver, one DSP thread, every setting that shapes the
sound pinned below (reverb on, chorus off, 4th-order interpolation), and
``fluid_synth_write_float`` pulled between events. Its reverb and interpolation are plain
arithmetic on the samples, so equal notes give byte-identical audio on one machine and one
libfluidsynth build (synth_identity() names both for cache keys). FluidSynth applies events at
its 64-sample block boundaries: an event lands within 1.3 ms of its time, the same way each run.

The stereo output is downmixed to mono, (L + R) / 2, and has exactly ``num_samples`` samples:
notes that start at or after the end are dropped, and sound still ringing at the end is cut.
Levels are the synth's at GAIN and nothing is normalised here (the caller mixes and normalises):
a piano score sits around -29 dBFS RMS and peaks near -7 dBFS, organ and orchestra around
-23 dBFS RMS; with hits the loudest peak near -2 dBFS.

The soundfont is $TALKIE_SOUNDFONT when set, else the first of SOUNDFONTS that exists. A missing
one raises ScoreUnavailable naming the Debian package to install; there is no fallback sound.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from media.score.notes import Note

SAMPLE_RATE = 48000
SOUNDFONT_ENV = "TALKIE_SOUNDFONT"
# (path, Debian package) in order of preference: FluidR3 opens in milliseconds; MuseScore's
# lighter .sf3 decodes its Ogg samples on load (seconds per program).
SOUNDFONTS: tuple[tuple[str, str], ...] = (
    ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluid-soundfont-gm"),
    ("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3", "musescore-general-soundfont-small"),
)
INSTALL_HINT = (
    "apt-get install libfluidsynth3 fluid-soundfont-gm (or musescore-general-soundfont-small), "
    "then pip install pyfluidsynth"
)
GAIN = 0.5
INTERPOLATION = 4  # FluidSynth's FLUID_INTERP_4THORDER (its default, pinned)
SETTINGS: dict[str, int | float] = {
    "synth.cpu-cores": 1,  # one DSP thread: voices are summed in one order
    "synth.polyphony": 128,
    "synth.chorus.active": 0,
    "synth.reverb.active": 1,
    "synth.reverb.room-size": 0.45,
    "synth.reverb.damp": 0.4,
    "synth.reverb.width": 0.8,
    "synth.reverb.level": 0.3,
    "synth.dynamic-sample-loading": 1,  # load only the programs a piece uses
    "synth.lock-memory": 0,
    "synth.threadsafe-api": 0,
    "synth.midi-channels": 16,
}


class ScoreUnavailable(RuntimeError):
    """The synthesizer or the soundfont is not installed; the message says what to install."""


def find_soundfont() -> Path:
    """$TALKIE_SOUNDFONT, else the first installed of SOUNDFONTS; ScoreUnavailable if none."""
    named = os.environ.get(SOUNDFONT_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ScoreUnavailable(
                f"{SOUNDFONT_ENV}={named}: no such soundfont file; unset it or {INSTALL_HINT}"
            )
        return path
    for candidate, _package in SOUNDFONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    looked = ", ".join(f"{path} ({package})" for path, package in SOUNDFONTS)
    raise ScoreUnavailable(f"no General MIDI soundfont: looked for {looked}. Install one: {INSTALL_HINT}")


@dataclass(frozen=True)
class _Binding:
    module: Any  # the pyfluidsynth module
    write_float: Any  # fluid_synth_write_float
    set_interp: Any  # fluid_synth_set_interp_method
    version: str


_BINDING: _Binding | None = None


def _binding() -> _Binding:
    """pyfluidsynth over libfluidsynth, loaded once; ScoreUnavailable when either is missing."""
    global _BINDING
    if _BINDING is None:
        try:
            # pyfluidsynth prints where it found the library when $CI is set; keep stdout ours.
            with contextlib.redirect_stdout(io.StringIO()):
                fluidsynth = importlib.import_module("fluidsynth")  # pyfluidsynth's module
        except ImportError as error:  # no pip package, or it found no libfluidsynth
            raise ScoreUnavailable(
                f"FluidSynth is not available ({error}). Install it: {INSTALL_HINT}"
            ) from error
        void, cint = ctypes.c_void_p, ctypes.c_int
        write_float = fluidsynth.cfunc(
            "fluid_synth_write_float",
            cint,
            ("synth", void, 1),
            ("len", cint, 1),
            ("lout", void, 1),
            ("loff", cint, 1),
            ("lincr", cint, 1),
            ("rout", void, 1),
            ("roff", cint, 1),
            ("rincr", cint, 1),
        )
        set_interp = fluidsynth.cfunc(
            "fluid_synth_set_interp_method", cint, ("synth", void, 1), ("chan", cint, 1), ("method", cint, 1)
        )
        version = fluidsynth.cfunc("fluid_version_str", ctypes.c_char_p)
        if write_float is None or set_interp is None:
            raise ScoreUnavailable(
                f"libfluidsynth lacks fluid_synth_write_float: need FluidSynth 2. {INSTALL_HINT}"
            )
        _BINDING = _Binding(fluidsynth, write_float, set_interp, version().decode() if version else "unknown")
    return _BINDING


def synth_identity(soundfont: Path | None = None) -> str:
    """What decides the rendered bytes besides the notes: FluidSynth's version and the
    soundfont's name and size (for cache and cut keys)."""
    path = soundfont or find_soundfont()
    return f"fluidsynth {_binding().version}; {path.name} ({path.stat().st_size} bytes); gain {GAIN}"


def render_notes(notes: Iterable[Note], num_samples: int, *, soundfont: Path | None = None) -> np.ndarray:
    """(num_samples,) float32 mono at SAMPLE_RATE: ``notes`` played from time 0 on."""
    if num_samples < 0:
        raise ValueError(f"num_samples={num_samples}: need >= 0")
    path = soundfont or find_soundfont()
    binding = _binding()
    events = _events(notes, num_samples)
    left = np.zeros(num_samples, np.float32)
    right = np.zeros(num_samples, np.float32)
    if not events or num_samples == 0:
        return left
    synth = binding.module.Synth(gain=GAIN, samplerate=float(SAMPLE_RATE), **SETTINGS)
    try:
        font = synth.sfload(str(path))
        if font < 0:
            raise ScoreUnavailable(
                f"FluidSynth could not load the soundfont {path}. Reinstall it: {INSTALL_HINT}"
            )
        handle = ctypes.c_void_p(synth.synth)
        binding.set_interp(handle, -1, INTERPOLATION)
        programs: dict[int, int] = {}
        position = 0
        for sample, kind, channel, pitch, value in events:
            if sample > position:
                _write(binding, handle, left, right, position, sample)
                position = sample
            if kind == _OFF:
                synth.noteoff(channel, pitch)
            else:
                if programs.get(channel) != value >> 8:
                    programs[channel] = value >> 8
                    synth.program_select(channel, font, 0, value >> 8)
                synth.noteon(channel, pitch, value & 0xFF)
        _write(binding, handle, left, right, position, num_samples)
    finally:
        synth.delete()
    return (0.5 * (left + right)).astype(np.float32)


_OFF, _ON = 0, 1


def _events(notes: Iterable[Note], num_samples: int) -> list[tuple[int, int, int, int, int]]:
    """(sample, kind, channel, pitch, program << 8 | velocity) sorted, offs before ons at one
    sample. A note is cut where the same key on its channel starts again."""
    by_key: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}
    for note in notes:
        if not (0 <= note.channel <= 15 and 0 <= note.pitch <= 127 and 0 <= note.program <= 127):
            raise ValueError(f"{note}: channel 0..15, pitch and program 0..127")
        on = max(0, round(note.start_s * SAMPLE_RATE))
        off = round(note.end_s * SAMPLE_RATE)
        if off <= on or on >= num_samples:
            continue
        velocity = max(1, min(127, int(note.velocity)))
        by_key.setdefault((note.channel, note.pitch), []).append((on, off, note.program, velocity))
    events: list[tuple[int, int, int, int, int]] = []
    for (channel, pitch), spans in by_key.items():
        spans.sort()
        for i, (on, off, prog, velocity) in enumerate(spans):
            if i + 1 < len(spans):
                off = min(off, spans[i + 1][0])
            if off <= on:
                continue
            events.append((on, _ON, channel, pitch, prog << 8 | velocity))
            if off < num_samples:
                events.append((off, _OFF, channel, pitch, 0))
    events.sort()
    return events


def _write(
    binding: _Binding, handle: ctypes.c_void_p, left: np.ndarray, right: np.ndarray, start: int, stop: int
) -> None:
    """Render samples [start, stop) into the two channel buffers."""
    count = stop - start
    if count <= 0:
        return
    offset = start * left.itemsize
    status = binding.write_float(
        handle,
        count,
        ctypes.c_void_p(left.ctypes.data + offset),
        0,
        1,
        ctypes.c_void_p(right.ctypes.data + offset),
        0,
        1,
    )
    if status != 0:
        raise RuntimeError(f"fluid_synth_write_float failed ({status}) rendering samples {start}..{stop}")
