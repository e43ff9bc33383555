"""The foley world: seeded procedural archival-looking films with exactly known sounds.

    from model.synth import SynthConfig, make_film, write_film, write_collection
    film = make_film(7, SynthConfig(damage=0.5))   # frames, clean_frames, pcm/audio, truth
    write_film(film, "out/")                       # out/foley_7.mp4, .flac, .json
    write_collection("out/", films=100, seed=0)    # plus out/manifest.jsonl

Only numpy, PyAV and soundfile are needed (no Beam, no torch). ``damage.degrade`` is usable on
its own for training augmentation.
"""

from .collection import make_collection_film, write_collection
from .config import CLASSES, SAMPLE_RATE, SynthConfig
from .damage import DamageLog, DamageParams, apply_damage, degrade, hold_frames
from .encode import encode_flac, encode_mp4, manifest_row, write_film
from .film import Film, film_name, film_seed, make_film

__all__ = [
    "CLASSES",
    "SAMPLE_RATE",
    "SynthConfig",
    "Film",
    "make_film",
    "film_seed",
    "film_name",
    "make_collection_film",
    "write_film",
    "write_collection",
    "manifest_row",
    "encode_mp4",
    "encode_flac",
    "DamageParams",
    "DamageLog",
    "apply_damage",
    "degrade",
    "hold_frames",
]
