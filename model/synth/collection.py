"""Many films at once: DIR/<name>.mp4, .flac, .json per film and DIR/manifest.jsonl."""

from __future__ import annotations

import json
import os
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
