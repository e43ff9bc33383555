"""Per-package rules: where each Debian package keeps its sounds, their classes, and their licences.

The rules were written from each package's file list and copyright file (Debian bookworm):
- ufoai-sound 2.5-2: 347 Ogg in base/0snd.pk3 (a zip); DEP-5 copyright, per-file paragraphs
  (GPL-2, GPL-2+, CC-BY-3.0, CC-BY-SA-3.0, public domain).
- sonic-pi-samples 3.2.2~repack-8: 165 FLAC, mostly drum and synth samples; DEP-5, a CC0
  paragraph per freesound.org sample (the rest fall under ``Files: *``, MIT).
- openttd-opensfx 1.0.3-2: 73 WAVE in opensfx.cat (parsed in containers.py, no catcodec needed);
  each sound's description names its sources and licence (CC0-1.0, CC-BY-3.0, CC-BY-SA-3.0);
  the copyright file relicenses the set as a whole under CC-BY-SA-3.0.
- wesnoth-1.16-data 1:1.16.9-1: 146 MB; only its two sound folders (290 sounds) are unpacked; its
  copyright file is not machine-readable and puts the game's data under GPL-2+.
- 0ad-data 0.0.26-1: 1.4 GB, one 3.3 GB public.zip holding 1,095 Ogg files; DEP-5 puts all of it
  under CC-BY-SA-3.0, Wildfire Games (also said by audio/LICENSE.txt in the zip).

A file joins the bank only when a rule names its class; the first matching rule decides, and a
rule without a class leaves its files out with the reason given. Speech, music, game-interface
sounds and science-fiction weapons stay out, and so does anything whose content the name does not
make clear (a "perc_impact" of unknown material, a toy-world jingle).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .classes import CLASSES
from .containers import Member, cat_entries, loose_files, zip_members


@dataclass(frozen=True)
class Label:
    cls: str
    surface: str | None = None


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    cls: str | None  # None leaves the file out
    why: str = ""  # the reason for leaving out, in build.log
    surface: str | None = None  # a fixed surface, or taken from the pattern's (?P<surface>...) group

    def label(self, key: str) -> Label | str | None:
        """Label, a reason for leaving the file out, or None when the rule does not match ``key``."""
        m = self.pattern.search(key)
        if m is None:
            return None
        if self.cls is None:
            return self.why
        surface = self.surface or m.groupdict().get("surface")
        return Label(self.cls, _SURFACES.get(surface.lower(), surface.lower()) if surface else None)


def use(pattern: str, cls: str, surface: str | None = None) -> Rule:
    if cls not in CLASSES:
        raise ValueError(f"class {cls!r} is not one of the bank's classes")
    return Rule(re.compile(pattern, re.I), cls, surface=surface)


def leave(pattern: str, why: str) -> Rule:
    return Rule(re.compile(pattern, re.I), None, why)


# 0ad names stone "rock"; one surface name for one surface
_SURFACES = {"rock": "stone"}


@dataclass(frozen=True)
class Package:
    name: str
    members: tuple[str, ...]  # tar patterns to unpack; empty: the whole package (dpkg-deb -x)
    find: Callable[[Path], Iterator[Member]]  # the package's sound files below the unpacked root
    rules: tuple[Rule, ...]
    # the path by which the copyright file names a member; None: the package's licence below
    copyright_path: Callable[[Member], str] | None = None
    licence: str = ""  # where the copyright file is not machine-readable
    holders: tuple[str, ...] = ()
    note: str = ""  # said in ATTRIBUTION

    def classify(self, member: Member) -> Label | str:
        """Label, or the reason the file stays out."""
        for rule in self.rules:
            found = rule.label(member.key)
            if found is not None:
                return found
        return "no class rule matches its name"


_SPEECH = "speech or voice"
_MUSIC = "music"
_UI = "game-interface sound"

# --- ufoai-sound: keys are paths below sound/ in base/0snd.pk3 -------------------------------------
_UFOAI_PK3 = "usr/share/games/ufoai/base/0snd.pk3"
UFOAI = Package(
    name="ufoai-sound",
    members=(),
    find=lambda root: zip_members(root, _UFOAI_PK3, "sound/"),
    copyright_path=lambda m: "base/" + m.source.split("!", 1)[1],
    rules=(
        leave(r"^(soldiers|civilians|aliens)/", _SPEECH),
        leave(r"^(geoscape|ui)/|^misc/(talk|popup|roundstart|lobbyprivmsg)$", _UI),
        leave(r"^ambience/(disco|jingle2?)$", _MUSIC),
        leave(r"^ambience/(radiomessage|tv_newswav)$", _SPEECH),
        leave(
            r"(laser|plasma|gauss|needler|flechette|bolter|ptl-|psi|electro|taser|hover|alien)",
            "science fiction",
        ),
        use(
            r"^footsteps/(?P<surface>carpet|dirt|grass|gravel|linoleum|metal|sand|snow|stone|tile|wood)\d*$",
            "footsteps",
        ),
        use(r"^footsteps/splash\d$", "footsteps", surface="water"),
        use(r"^footsteps/water_(in|out)$", "water"),
        use(r"^doors/", "door"),
        use(r"^misc/breakglass\d+$", "glass"),
        use(r"^misc/breakwood\d+$", "wood_impact"),
        use(r"^misc/breakmetal\d+$", "metal_impact"),
        use(r"^seq/sword-hit$", "metal_impact"),
        use(r"^ambience/(fire\d*|firesoft|smallfire)$", "fire"),
        use(r"^weapons/flamer-(big|small)$", "fire"),
        use(r"^ambience/thunder\d$", "thunder"),
        use(r"^ambience/(water\d*|waterfontain)$", "water"),
        use(r"^impact/water(bullet)?-impact$", "water"),
        use(r"^ambience/arcticwind$", "wind"),
        use(r"^ambience/cricket_loop$", "animals"),
        use(r"^ambience/(machine1|minepump03)$", "machinery"),
        use(r"^ugv/diesel-(idle|move|stop)$", "engine"),
        use(
            r"^weapons/bullet-(pistol2?|rifle(-\d+x)?|shotgun(-3x|mini)?|smg(-\d+x)?|sniper|hmg-\d+x|chaingun-\d+x)$",
            "gunshot",
        ),
        use(r"^weapons/explosion(-(grenade|rocket|fire|flashbang))?$", "explosion"),
    ),
)

# --- sonic-pi-samples: keys are file names without suffix ---------------------------------------
SONIC_PI = Package(
    name="sonic-pi-samples",
    members=(),
    find=lambda root: loose_files(root, "usr/share/sonic-pi/samples"),
    copyright_path=lambda m: "etc/samples/" + Path(m.source).name,
    rules=(
        leave(r"^(ambi|bass|bd|drum|elec|glitch|guit|loop|mehackit|sn|tabla|vinyl)_", "music sample"),
        leave(r"^misc_burp$", _SPEECH),
        use(r"^perc_door$", "door"),
        use(r"^perc_bell2?$", "bell"),
        use(r"^misc_crow$", "animals"),
    ),
)

# --- openttd-opensfx: keys are the catalogue's titles, lower case -------------------------------
_OPENSFX = "usr/share/games/openttd/baseset/opensfx/opensfx.cat"
OPENSFX = Package(
    name="openttd-opensfx",
    members=(),
    find=lambda root: cat_entries(root, _OPENSFX),
    copyright_path=lambda m: "src/wav/" + m.key,  # the collection's paragraph; each sound's own licence wins
    rules=(
        leave(r"^toyland:", "toy-world effect"),
        leave(r"^unused", "empty placeholder"),
        use(
            r"(steam|diesel/electric|maglev|monorail) train station departure|steam engine going in tunnel",
            "train",
        ),
        use(r"^level crossing$", "bell"),
        use(r"(truck/old bus|modern bus|old bus) start", "engine"),
        use(
            r"^(propeller plane start|helicopter|(early|mach 1\+|modern) jet take off)$",
            "engine",
        ),
        use(r"^(mining machinery|sawmill|lumber mill: chainsaw|jackhammer)$", "machinery"),
        use(r"^explosion$", "explosion"),
        use(r"^(applause|oooh sound)$", "crowd"),
        use(r"^(sheep|cow|horse)$|^tropical: (bird \(\d\)|lion roar|monkeys)$", "animals"),
        use(r"^(heavy )?wind$", "wind"),
        use(r"^lumber mill: (crashing|falling) tree$", "wood_impact"),
        use(r"^building bridge$", "metal_impact"),  # "in the smithy": a hammer on an anvil
    ),
    note="Each sound's own licence is the one its catalogue entry states; the set as a whole is "
    "CC-BY-SA-3.0 (the package's copyright file).",
)

# --- wesnoth-1.16-data: keys are paths below a sounds/ folder --------------------------------------
_WESNOTH = "usr/share/games/wesnoth/1.16"


def _wesnoth_sounds(root: Path) -> Iterator[Member]:
    yield from loose_files(root, f"{_WESNOTH}/data/core/sounds")
    yield from loose_files(root, f"{_WESNOTH}/sounds")


WESNOTH = Package(
    name="wesnoth-1.16-data",
    members=(
        f"./{_WESNOTH}/data/core/sounds/*",
        f"./{_WESNOTH}/sounds/*",
        "./usr/share/doc/wesnoth-1.16-data/*",
    ),
    find=_wesnoth_sounds,
    rules=(
        leave(r"horn-signals/|wardrums|fanfare", _MUSIC),
        use(r"^horse(-elf)?-canter$", "horse_hooves"),
        use(r"^(gunshot|thunderstick(-miss)?)$", "gunshot"),
        use(r"^explosion$", "explosion"),
        use(r"^(fire|flame-big(-miss)?|ambient/campfire)$", "fire"),
        use(r"^lightning$", "thunder"),
        use(r"^ambient/(birds\d|morning|night)$|^wolf-growl-\d$|^horse-hit-\d$", "animals"),
        use(r"^(sword-1|mace)$", "metal_impact"),
        use(r"^bell$", "bell"),
    ),
    licence="GPL-2+",
    holders=("David White and the Battle for Wesnoth contributors (https://www.wesnoth.org/)",),
)

# --- 0ad-data: keys are paths below audio/ in mods/public/public.zip -------------------------------
_ZERO_AD_ZIP = "usr/share/games/0ad/mods/public/public.zip"
ZERO_AD = Package(
    name="0ad-data",
    members=(f"./{_ZERO_AD_ZIP}", "./usr/share/doc/0ad-data/*"),
    find=lambda root: zip_members(root, _ZERO_AD_ZIP, "audio/"),
    copyright_path=lambda m: "binaries/data/mods/public/" + m.source.split("!", 1)[1],
    rules=(
        leave(r"^(voice|music|interface)/", "speech, music or game interface"),
        leave(r"^actor/human/death/", _SPEECH),
        use(r"^actor/mounted/movement/mstep\d+$", "horse_hooves"),
        use(r"^actor/singlesteps/fs_(?P<surface>grass|gravel|rock|sand|snow|wood)_?\d+$", "footsteps"),
        use(
            r"^actor/human/movement/footsteps/foo?r?tstep_(?P<surface>sand|grass|gravel|rock|wood)_(walking|running)$",
            "footsteps",
        ),
        use(r"^actor/human/movement/hstep_(run_)?dirt_mn_\d+$", "footsteps", surface="dirt"),
        use(r"^actor/gate/stonegate_(open|close)_\d+$", "door"),
        use(r"^actor/fauna/(animal|death)/", "animals"),
        use(r"^ambient/weather/rain_\d+$", "rain"),
        use(r"^ambient/weather/thunder_\d+$", "thunder"),
        use(r"^ambient/weather/(wind|windgust|windleaves|windstorm|snowstorm)_\d+$", "wind"),
        use(r"^ambient/water/", "water"),
        use(r"^ambient/dayscape/|^ambient/building/amb_farm_\d+$", "animals"),
        use(r"^ambient/building/amb_trade_\d+$", "crowd"),  # a market's crowd; its chatter is not words
        use(r"^attack/destruction/explode_debris_\d+$", "explosion"),
        use(r"^attack/weapon/musket_\d$", "gunshot"),
        use(r"^attack/weapon/swordhit_\d+[ab]?$|^attack/impact/shield_metal_\d+$", "metal_impact"),
        use(
            r"^attack/impact/shield_wood_\d+$|^resource/(construction/con_wood|lumbering/lumber_tree)_\d+$",
            "wood_impact",
        ),
    ),
)

PACKAGES: dict[str, Package] = {p.name: p for p in (UFOAI, SONIC_PI, OPENSFX, WESNOTH, ZERO_AD)}
