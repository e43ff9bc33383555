"""Captions for shots and films, from templates with synonyms (never speech or music).

caption_shot(rng, shot) -> "a wooden crate falls and bounces on a stone floor, light rain"
caption_film(shot_captions) -> the distinct shot captions joined with "; "
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .world import ShotPlan, Source

SURFACE_WORDS = {
    "gravel": ("gravel", "a gravel path", "loose gravel", "a gravel yard"),
    "wood": ("wooden floorboards", "a wooden floor", "bare boards", "a plank floor"),
    "concrete": ("concrete", "a stone floor", "a paved street", "the pavement"),
    "grass": ("grass", "a lawn", "a grassy field", "soft turf"),
    "dirt": ("the dirt", "a dusty yard", "packed earth", "the ground"),
}
MATERIAL_ADJ = {"wood": ("wooden",), "metal": ("metal", "tin", "iron"), "glass": ("glass",)}
OBJECT_NOUNS = {
    "crate": ("crate",),
    "box": ("box", "chest"),
    "ball": ("ball",),
    "block": ("block", "log"),
    "pot": ("pot", "pan", "kettle"),
    "can": ("can", "canister"),
    "bucket": ("bucket", "pail"),
    "bottle": ("bottle",),
    "jar": ("jar",),
}
IMPACT_SOUNDS = {
    "wood": ("a dull knock", "a hollow thud", "a wooden clack"),
    "metal": ("a metallic clang", "a ringing clank", "a loud clatter"),
    "glass": ("a bright clink", "a glassy tink", "a sharp clink"),
}
STEP_VERBS = {
    "gravel": ("crunching on", "crunching across"),
    "wood": ("knocking on", "thudding on"),
    "concrete": ("clicking on", "tapping on"),
    "grass": ("swishing through", "brushing through"),
}
TEXTURES = {
    ("rain", "light"): ("light rain", "a gentle drizzle", "soft rain pattering", "a light shower"),
    ("rain", "heavy"): ("heavy rain", "a downpour", "rain pouring down", "driving rain"),
    ("wind", "grass"): (
        "wind blowing through tall grass",
        "a breeze rustling the grass",
        "gusts sweeping the grass",
    ),
    ("wind", "trees"): ("wind in the trees", "gusts shaking the trees", "leaves rustling in the wind"),
    ("wind", "flag"): (
        "a flag flapping in the wind",
        "wind snapping a flag",
        "a banner fluttering in a gusty wind",
    ),
    ("engine", "car"): (
        "a car drives past",
        "an old motor car passes by",
        "a car engine revving as it passes",
    ),
    ("engine", "truck"): ("a truck rumbles past", "a lorry drives by", "the engine of a heavy truck passing"),
    ("engine", "motorcycle"): (
        "a motorcycle roars past",
        "a motorbike drives by",
        "the buzz of a passing motorcycle",
    ),
    ("water", "waves"): ("waves lapping", "waves washing onto the shore", "the sea rolling in"),
    ("water", "stream"): ("a babbling stream", "water flowing in a brook", "a running stream"),
    ("fire", "campfire"): ("a crackling campfire", "a campfire burning", "fire crackling and popping"),
    ("fire", "fireplace"): (
        "a fire crackling in the fireplace",
        "logs burning in a hearth",
        "a crackling hearth fire",
    ),
    ("crowd", "small"): (
        "a small crowd murmuring",
        "a few people milling about, a low murmur",
        "the quiet hubbub of a small crowd",
    ),
    ("crowd", "large"): ("the murmur of a large crowd", "a bustling crowd", "the hubbub of a busy square"),
}
FORBIDDEN = re.compile(
    r"\b(speech|speak\w*|talk\w*|voice\w*|words?|music\w*|sing\w*|songs?|chat\w*|conversation\w*|lyric\w*)\b"
)


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return str(options[int(rng.integers(len(options)))])


def _a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def _door(rng: np.random.Generator, src: Source) -> str:
    if src.fine == "metal":
        return _pick(
            rng, ("a metal door clangs shut", "an iron door slams with a clang", "a steel door bangs closed")
        )
    return _pick(
        rng,
        (
            "a wooden door slams shut",
            "a door bangs closed",
            "someone slams a wooden door",
            "a door swings shut with a thud",
        ),
    )


def _impacts(rng: np.random.Generator, srcs: list[Source], surface: str) -> str:
    doors = [s for s in srcs if s.visual == "door"]
    srcs = [s for s in srcs if s.visual != "door"]
    if doors:
        said = _door(rng, doors[0])
        return said if not srcs else said + " and " + _impacts(rng, srcs, surface)
    floor = _pick(rng, SURFACE_WORDS[surface])
    words: dict[tuple[str, str], tuple[str, str]] = {}  # one wording per (material, object) in a shot
    counts: dict[tuple[str, str], int] = {}
    for s in srcs:
        key = (s.fine, s.visual)
        if key not in words:
            words[key] = (_pick(rng, MATERIAL_ADJ[s.fine]), _pick(rng, OBJECT_NOUNS[s.visual]))
        counts[key] = counts.get(key, 0) + 1
    numbers = {2: "two", 3: "three"}
    things = [
        _a(f"{adj} {noun}") if counts[k] == 1 else f"{numbers[counts[k]]} {adj} {_plural(noun)}"
        for k, (adj, noun) in words.items()
    ]
    bounces = any(len(s.hits) > 1 for s in srcs)
    if len(srcs) == 1:
        thing, mat = things[0], srcs[0].fine
        if bounces:
            forms = (
                f"{thing} falls and bounces on {floor}",
                f"{thing} drops and bounces across {floor}",
                f"{thing} bounces on {floor} with {_pick(rng, IMPACT_SOUNDS[mat])}",
            )
        else:
            forms = (
                f"{thing} falls onto {floor}",
                f"{thing} drops onto {floor}",
                f"{thing} hits {floor} with {_pick(rng, IMPACT_SOUNDS[mat])}",
            )
        return _pick(rng, forms)
    listed = things[0] if len(things) == 1 else ", ".join(things[:-1]) + " and " + things[-1]
    verb = (
        _pick(rng, ("fall onto", "drop onto", "tumble onto"))
        if not bounces
        else _pick(rng, ("fall and bounce on", "drop and bounce on"))
    )
    return f"{listed} {verb} {floor}"


def _footsteps(rng: np.random.Generator, srcs: list[Source], surface: str) -> str:
    where = _pick(rng, SURFACE_WORDS[surface])
    if len(srcs) > 1:
        return _pick(
            rng,
            (
                f"two people walking on {where}",
                f"footsteps of two people on {where}",
                f"two sets of footsteps on {where}",
            ),
        )
    s = srcs[0]
    pace = "brisk" if s.params["step_s"] < 0.5 else _pick(rng, ("steady", "slow", "measured"))
    shoe = {"boots": "boots", "shoes": "shoes", "heels": "heels"}[s.params["shoe"]]
    return _pick(
        rng,
        (
            f"footsteps on {where}",
            f"{pace} footsteps on {where}",
            f"someone walks across {where}",
            f"a person walking on {where}",
            f"{shoe} {_pick(rng, STEP_VERBS[surface])} {where}",
        ),
    )


def phrase(rng: np.random.Generator, cls: str, srcs: list[Source], surface: str) -> str:
    """One clause for all of a shot's sources of class ``cls``."""
    if cls == "impact":
        return _impacts(rng, srcs, surface)
    if cls == "footsteps":
        return _footsteps(rng, srcs, surface)
    return _pick(rng, TEXTURES[(cls, srcs[0].fine)])


def caption_shot(rng: np.random.Generator, shot: ShotPlan) -> str:
    parts = [
        phrase(rng, cls, [s for s in shot.sources if s.cls == cls], shot.background.surface)
        for cls in shot.recipe
    ]
    if len(parts) == 1:
        return parts[0]
    joiner = _pick(rng, (", ", " with ", "; ", " and "))
    return parts[0] + joiner + parts[1]


def caption_film(shot_captions: list[str]) -> str:
    return "; ".join(dict.fromkeys(shot_captions))


def is_clean(text: str) -> bool:
    """True when a caption names no speech or music."""
    return FORBIDDEN.search(text.lower()) is None
