"""Many films at once: DIR/<name>.mp4, .flac, .json per film and DIR/manifest.jsonl.

For the demo only, ``write_music_manifest(DIR)`` (``make demo`` calls it) writes
DIR/manifest_music.jsonl beside it: the same rows, every other one with words that ask the
restore job for a score (media/score). The foley world itself has no music, and no training
manifest carries these words.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from .config import SynthConfig
from .encode import manifest_row, write_film
from .film import Film, film_name, film_seed, make_film


def make_collection_film(collection_seed: int, index: int, config: SynthConfig | None = None) -> Film:
    """Film ``index`` of the collection ``collection_seed`` (named foley_s<seed>_<index:04d>)."""
    film = make_film(film_seed(collection_seed, index), config, film_name(collection_seed, index))
    film.truth["collection_seed"] = int(collection_seed)
    film.truth["index"] = int(index)
    return film


def _one(args: tuple[str, int, int, SynthConfig]) -> tuple[dict[str, Any], float]:
    out_dir, seed, index, config = args
    film = make_collection_film(seed, index, config)
    write_film(film, out_dir)
    return manifest_row(film), film.truth["duration_s"]


def write_collection(
    out_dir: str | os.PathLike[str],
    films: int,
    seed: int,
    config: SynthConfig | None = None,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    """Generate and write ``films`` films; returns the manifest rows, also in DIR/manifest.jsonl.

    Films are independent (each has its own seed), so the files do not depend on ``workers``.
    """
    if films < 0:
        raise ValueError(f"films={films}: need a count >= 0")
    cfg = config or SynthConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), int(seed), i, cfg) for i in range(films)]
    workers = max(1, min(workers or os.cpu_count() or 1, max(films, 1)))
    if workers == 1:
        results = [_one(j) for j in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_one, jobs, chunksize=max(1, films // (4 * workers))))
    rows = [r for r, _ in results]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    tmp = out / f".manifest.jsonl.tmp{os.getpid()}"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out / "manifest.jsonl")
    return rows


# The demo's music: words added to the prompts of rows 0, 2, 4, ... (cycling); the other rows stay
# foley only. Each names an instrument and a mood of the cue sheet (media/score/cues.py).
MUSIC_PROMPTS = (
    "piano music, a comedy chase",
    "theatre organ music, suspense",
    "small orchestra, a triumphant march, mickey-mousing the hits",
)
MUSIC_MANIFEST = "manifest_music.jsonl"


def with_music_prompts(
    rows: Sequence[dict[str, Any]], words: Sequence[str] = MUSIC_PROMPTS
) -> list[dict[str, Any]]:
    """``rows`` with ", <words>" added to every prompt (the row's and its scenes') of every other
    row, from the first, cycling through ``words``; the other rows unchanged."""
    out = []
    for index, row in enumerate(rows):
        if index % 2 or not words:
            out.append(dict(row))
            continue
        music = words[(index // 2) % len(words)]
        scenes = [
            {**scene, "positive_prompt": _with_words(scene.get("positive_prompt"), music)}
            for scene in row.get("scenes", [])
        ]
        out.append(
            {**row, "positive_prompt": _with_words(row.get("positive_prompt"), music), "scenes": scenes}
        )
    return out


def _with_words(prompt: object, words: str) -> str:
    return f"{prompt}, {words}" if isinstance(prompt, str) and prompt else words


def write_music_manifest(folder: str | os.PathLike[str]) -> Path:
    """DIR/manifest_music.jsonl: DIR/manifest.jsonl's rows ``with_music_prompts``; returns its path."""
    path = Path(folder)
    rows = [
        json.loads(line)
        for line in (path / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
        if line
    ]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in with_music_prompts(rows))
    tmp = path / f".{MUSIC_MANIFEST}.tmp{os.getpid()}"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path / MUSIC_MANIFEST)
    return path / MUSIC_MANIFEST
