"""The output layout: every path a Talkie job writes under OUTPUT (docs/design.md, Contracts,
"Output layout").

    OUTPUT/audio/<film_id>/<unit_key>.flac                a unit's 48 kHz stem              stem_uri
    OUTPUT/ledger/<film_id>/<unit_key>.json               a finished unit's ledger object   ledger_uri
    OUTPUT/films/<film_id>/<cut_key>.flac, .mkv           a film cut's track and video      film_uris
    OUTPUT/films/<film_id>/<cut_key>.effects.flac         a scored cut's effects stem       film_stem_uris
    OUTPUT/films/<film_id>/<cut_key>.score.flac           a scored cut's score stem
    OUTPUT/films/<film_id>/<cut_key>.preview.mp4          the cut's browser preview         preview_uri
    OUTPUT/meta/<table>/<run_id>-SSSSS-of-NNNNN.parquet   a run's files of a table          table_prefix
    OUTPUT/shotlists/<film_id>.csv, .edl                  a film's newest shot list         shotlist_uris
    OUTPUT/report/<run_id>/index.html                     the run's review index            report_index_uri
    OUTPUT/report/<run_id>/<film_id>/index.html           a film's review page              film_page_paths
    OUTPUT/report/<run_id>/<film_id>/scene-NNNNN.png      a picture per scene, beside it
    OUTPUT/shards/<run_id>-NNNNN.safetensors              the featurize job's shards        shard_uri

Each function takes the output root (a local folder or a URI) and the keys, and returns the URI.
Film ids and keys are checked to be safe path segments (``transforms.manifest.validate_film_id``'s
rule) where a path is built from them, so that no path leaves OUTPUT whichever table or ledger
they were read from; a run id is checked by the job that takes it (``transforms.tables``).

``media/`` writes some of these files but knows nothing of this layout (media imports no
transforms): ``film_page_paths`` hands the film report its paths, and the ledger stores its stem
by ``stem_path``, relative to OUTPUT, so that a moved output folder stays whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from media import storage
from transforms.manifest import validate_film_id

if TYPE_CHECKING:
    from media.review.film_report import FilmPagePaths

AUDIO = "audio"
LEDGER = "ledger"
FILMS = "films"
META = "meta"
SHOTLISTS = "shotlists"
REPORT = "report"
SHARDS = "shards"
PAGE = "index.html"  # a report page, the run's or a film's
PREVIEW_SUFFIX = ".preview.mp4"
EFFECTS_SUFFIX = ".effects.flac"  # a scored cut's generated sound alone
SCORE_SUFFIX = ".score.flac"  # a scored cut's music alone
PICTURE_NAME = "scene-{:05d}.png"  # a film page's picture of scene N, beside the page
_PAGE_TO_OUTPUT = "../../.."  # from OUTPUT/report/<run_id>/<film_id>/ up to OUTPUT


def _segments(film_id: str, key: str) -> tuple[str, str]:
    """``film_id`` and ``key`` when both are safe path segments; raises ManifestError (a ValueError)
    for the film_id and ValueError for the key otherwise."""
    validate_film_id(film_id)
    try:
        validate_film_id(key)
    except ValueError as exc:
        raise ValueError(f"key {str(exc).split(' ', 1)[1]}") from None  # the same rule, named for the key
    return film_id, key


# ----------------------------------------------------------------------------- units and films


def _stem(film_id: str, unit_key: str) -> str:
    return f"{AUDIO}/{film_id}/{unit_key}.flac"


def _film(film_id: str, cut_key: str, suffix: str) -> str:
    return f"{FILMS}/{film_id}/{cut_key}{suffix}"


def stem_path(film_id: str, unit_key: str) -> str:
    """``audio/<film_id>/<unit_key>.flac``: a unit's stem relative to OUTPUT, as its ledger object
    records it."""
    return _stem(*_segments(film_id, unit_key))


def stem_uri(output: str, film_id: str, unit_key: str) -> str:
    """``OUTPUT/audio/<film_id>/<unit_key>.flac``: a unit's 48 kHz stem."""
    return storage.join(output, stem_path(film_id, unit_key))


def ledger_uri(output: str, film_id: str, unit_key: str) -> str:
    """``OUTPUT/ledger/<film_id>/<unit_key>.json``: written once the unit's stem is published."""
    film_id, unit_key = _segments(film_id, unit_key)
    return storage.join(output, LEDGER, film_id, f"{unit_key}.json")


def film_uris(output: str, film_id: str, cut_key: str) -> tuple[str, str]:
    """``OUTPUT/films/<film_id>/<cut_key>.flac`` and ``.mkv``: a film cut's track and its video."""
    film_id, cut_key = _segments(film_id, cut_key)
    flac, mkv = _film(film_id, cut_key, ".flac"), _film(film_id, cut_key, ".mkv")
    return storage.join(output, flac), storage.join(output, mkv)


def film_stem_uris(output: str, film_id: str, cut_key: str) -> tuple[str, str]:
    """``OUTPUT/films/<film_id>/<cut_key>.effects.flac`` and ``.score.flac``: a scored cut's two stems,
    beside its track (the mix). A cut without music has neither."""
    film_id, cut_key = _segments(film_id, cut_key)
    effects, score = _film(film_id, cut_key, EFFECTS_SUFFIX), _film(film_id, cut_key, SCORE_SUFFIX)
    return storage.join(output, effects), storage.join(output, score)


def preview_uri(output: str, film_id: str, cut_key: str) -> str:
    """``OUTPUT/films/<film_id>/<cut_key>.preview.mp4``: the cut's browser preview, beside its FLAC
    and MKV."""
    return storage.join(output, _film(*_segments(film_id, cut_key), PREVIEW_SUFFIX))


def stems_pattern(output: str) -> str:
    """``OUTPUT/audio/<film_id>/<unit_key>.flac``, for people: where the stems are."""
    return storage.join(output, _stem("<film_id>", "<unit_key>"))


def films_pattern(output: str) -> str:
    """``OUTPUT/films/<film_id>/<cut_key>.flac, .mkv``, for people: where the films are."""
    return f"{storage.join(output, _film('<film_id>', '<cut_key>', '.flac'))}, .mkv"


def film_stems_pattern(output: str) -> str:
    """``OUTPUT/films/<film_id>/<cut_key>.effects.flac, .score.flac``, for people: where a scored
    cut's stems are."""
    return f"{storage.join(output, _film('<film_id>', '<cut_key>', EFFECTS_SUFFIX))}, {SCORE_SUFFIX}"


# ----------------------------------------------------------------------------- tables


def table_folder(output: str, table: str) -> str:
    """``OUTPUT/meta/<table>``: every run's files of ``table`` (``transforms.tables`` checks the name)."""
    return storage.join(output, META, table)


def table_prefix(output: str, table: str, run_id: str) -> str:
    """``OUTPUT/meta/<table>/<run_id>``: what a run's files of ``table`` are named after; Beam's
    Parquet sink adds ``-SSSSS-of-NNNNN.parquet``."""
    return storage.join(table_folder(output, table), run_id)


def table_file_uri(output: str, table: str, run_id: str) -> str:
    """``OUTPUT/meta/<table>/<run_id>-00000-of-00001.parquet``: a run's only file of ``table``,
    written outside a pipeline."""
    return f"{table_prefix(output, table, run_id)}-00000-of-00001.parquet"


def table_glob(output: str, table: str, run_id: str | None = None) -> str:
    """``OUTPUT/meta/<table>/<run_id>-*.parquet`` (every run's files when ``run_id`` is None);
    ``table`` may be a glob too, e.g. ``*`` for every table of a run."""
    return storage.join(table_folder(output, table), f"{run_id}-*.parquet" if run_id else "*.parquet")


# ----------------------------------------------------------------------------- shot lists


def shotlist_uris(output: str, film_id: str) -> tuple[str, str]:
    """``OUTPUT/shotlists/<film_id>.csv`` and ``.edl``; ManifestError (a ValueError) unless
    ``film_id`` is a safe path segment."""
    validate_film_id(film_id)
    folder = storage.join(output, SHOTLISTS)
    return storage.join(folder, f"{film_id}.csv"), storage.join(folder, f"{film_id}.edl")


def shotlists_pattern(output: str) -> str:
    """``OUTPUT/shotlists/<film_id>.csv, .edl``, for people: where the shot lists are."""
    return f"{storage.join(output, SHOTLISTS)}/<film_id>.csv, .edl"


# ----------------------------------------------------------------------------- the review report


def report_folder(output: str, run_id: str) -> str:
    """``OUTPUT/report/<run_id>``: the run's index page and a folder per film."""
    return storage.join(output, REPORT, run_id)


def report_index_uri(output: str, run_id: str) -> str:
    """``OUTPUT/report/<run_id>/index.html``: the run's index page."""
    return storage.join(report_folder(output, run_id), PAGE)


def film_page_folder(output: str, run_id: str, film_id: str) -> str:
    """``OUTPUT/report/<run_id>/<film_id>``: a film's page for run ``run_id`` and its pictures."""
    return storage.join(report_folder(output, run_id), validate_film_id(film_id))


def film_page_uri(output: str, run_id: str, film_id: str) -> str:
    """``OUTPUT/report/<run_id>/<film_id>/index.html``: a film's page for run ``run_id``."""
    return storage.join(film_page_folder(output, run_id, film_id), PAGE)


def film_page_href(film_id: str) -> str:
    """``<film_id>/index.html``: a film's page, linked from the run's index."""
    return f"{validate_film_id(film_id)}/{PAGE}"


def film_page_paths(output: str, run_id: str, film_id: str, cut_key: str | None) -> FilmPagePaths:
    """Where ``media.review.film_report`` writes a film's page and preview, and the links on the
    page, relative to it (so the report works from disk or a bucket and survives a move):
    ``../../../films/<film_id>/<cut_key>.flac``, ``../../../audio/<film_id>/<unit_key>.flac``, ...

    ``cut_key`` is the film's cut (None: it has none, so no preview and no track links).
    """
    from media.review.film_report import FilmPagePaths

    folder = film_page_folder(output, run_id, film_id)

    def href(relative: str) -> str:
        return f"{_PAGE_TO_OUTPUT}/{relative}"

    cut = None if cut_key is None else _segments(film_id, cut_key)[1]
    return FilmPagePaths(
        folder=folder,
        page=storage.join(folder, PAGE),
        picture_name=PICTURE_NAME,
        run_href=f"../{PAGE}",
        stem_href=href(_stem(film_id, "{}")),
        preview=None if cut is None else preview_uri(output, film_id, cut),
        preview_href=None if cut is None else href(_film(film_id, cut, PREVIEW_SUFFIX)),
        flac_href=None if cut is None else href(_film(film_id, cut, ".flac")),
        video_href=None if cut is None else href(_film(film_id, cut, ".mkv")),
        effects_href=None if cut is None else href(_film(film_id, cut, EFFECTS_SUFFIX)),
        score_href=None if cut is None else href(_film(film_id, cut, SCORE_SUFFIX)),
    )


# ----------------------------------------------------------------------------- featurize shards


def shard_uri(output: str, run_id: str, shard: int) -> str:
    """``OUTPUT/shards/<run_id>-NNNNN.safetensors``: training shard ``shard`` of run ``run_id``."""
    return storage.join(output, SHARDS, f"{run_id}-{shard:05d}.safetensors")


def shard_glob(output: str, run_id: str) -> str:
    """``OUTPUT/shards/<run_id>-*.safetensors``: every training shard of run ``run_id``."""
    return storage.join(output, SHARDS, f"{run_id}-*.safetensors")
