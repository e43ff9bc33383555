"""The sound bank's classes: what each one holds (issue 19's list of sounds archival films need).

Footsteps are one class whose rows carry a ``surface`` (wood, gravel, stone...), so the count of
classes is not inflated by splitting one sound into many. The issue's "knock" has no class: none of
the packages holds a recording that is plainly a knock on a door.
"""

from __future__ import annotations

CLASSES: dict[str, str] = {
    "footsteps": "single steps and walking or running on one surface (the row's surface field)",
    "horse_hooves": "hoof falls of a walking or cantering horse",
    "door": "doors and gates opening, closing, creaking",
    "glass": "glass breaking",
    "wood_impact": "wood struck, hammered, chopped or breaking",
    "metal_impact": "metal struck: blades clashing, blows on metal shields, metal breaking, hammer on anvil",
    "gunshot": "firearms: pistols, rifles, shotguns, machine guns, muskets",
    "explosion": "explosions and blasts",
    "thunder": "thunder claps and rolling thunder",
    "rain": "rainfall",
    "wind": "wind, gusts and storms",
    "fire": "flames, crackling fires, campfires",
    "water": "flowing, splashing and breaking water",
    "engine": "motor vehicles, aircraft and their engines",
    "train": "trains departing, passing, in tunnels",
    "crowd": "applause and crowds",
    "bell": "bells ringing",
    "animals": "animal calls and natural ambiences of birds and insects",
    "machinery": "machines and power tools at work",
}
