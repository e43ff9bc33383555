"""The review report's static HTML: a page per run and a page per film, no script, no network.

Everything a page shows is escaped; every link is relative (pictures beside the page, stems and
previews under OUTPUT/audio and OUTPUT/films), so a report folder works from local disk and from
a bucket served as static files. Audio is referenced with ``preload="metadata"``: a page with
hundreds of takes fetches only their headers until one is played.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;
  color:#1d1d1f;background:#fafafa}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin:0 0 .4rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left;vertical-align:middle}
section.scene{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1rem;margin:1rem 0}
img.evidence{width:100%;max-width:880px;height:auto;display:block}
tr.chosen{background:#e9f6ec;font-weight:600}.status-done{color:#16794a}.status-failed,.status-incomplete{color:#b3261e}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;margin:.4rem 0}
dt{color:#555}dd{margin:0}
video{max-width:100%;background:#000}code{font-size:.9em}
"""


@dataclass(frozen=True)
class TakeEntry:
    take: int
    seed: int
    sync_score: float | None
    audio_href: str
    chosen: bool


@dataclass(frozen=True)
class CueEntry:
    """A scene's line of the cue sheet (the scenes table's score_* columns)."""

    sounds: bool
    mood: str
    tempo_bpm: int
    key: str
    instrument: str
    hits: bool

    def text(self) -> str:
        """E.g. "comedy · 124 BPM · F major · piano · catches the action"."""
        parts = [self.mood, f"{self.tempo_bpm} BPM", self.key, self.instrument]
        return " · ".join(parts + (["catches the action"] if self.hits else []))


@dataclass(frozen=True)
class SceneEntry:
    index: int
    start_s: float
    end_s: float
    positive_prompt: str | None
    negative_prompt: str | None
    picture_href: str
    agreement: float
    takes: tuple[TakeEntry, ...]
    cue: CueEntry | None = None


@dataclass(frozen=True)
class FailureEntry:
    uri: str
    film_id: str | None
    stage: str
    error_type: str
    error: str


@dataclass(frozen=True)
class FilmEntry:
    film_id: str
    run_id: str
    status: str
    duration_s: float | None
    loudness_lufs: float | None
    cut_key: str | None
    run_href: str
    preview_href: str | None
    flac_href: str | None
    video_href: str | None
    scenes: tuple[SceneEntry, ...]
    failures: tuple[FailureEntry, ...] = ()
    effects_href: str | None = None  # a scored cut's stems; None: the film has no score
    score_href: str | None = None


@dataclass(frozen=True)
class FilmSummary:
    film_id: str
    href: str | None
    status: str
    duration_s: float | None
    scenes: int | None
    takes: int
    loudness_lufs: float | None
    failures: int


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    job: str
    started_at: str
    finished_at: str
    code_version: str
    settings: tuple[tuple[str, str], ...]
    totals: tuple[tuple[str, str], ...]
    films: tuple[FilmSummary, ...]
    failures: tuple[FailureEntry, ...]


def seconds(value: float | None) -> str:
    """E.g. "83.250 s"; "–" when unknown."""
    return "–" if value is None or not math.isfinite(value) else f"{value:.3f} s"


def number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<link rel="icon" href="data:,">',
            f"<title>{escape(title)}</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _failures_table(failures: Sequence[FailureEntry]) -> list[str]:
    if not failures:
        return ["<p>No failures.</p>"]
    rows = ['<table class="failures">', "<tr><th>film</th><th>input</th><th>stage</th><th>error</th></tr>"]
    rows += [
        f"<tr><td>{escape(f.film_id or '–')}</td><td><code>{escape(f.uri)}</code></td>"
        f"<td>{escape(f.stage)}</td>"
        f"<td>{escape(f.error_type)}: {escape(f.error)}</td></tr>"
        for f in failures
    ]
    return rows + ["</table>"]


def film_page_html(film: FilmEntry) -> str:
    """The film's review page: its preview, and per scene its picture, prompts and every take."""
    body = [
        f'<nav><a href="{escape(film.run_href)}">run {escape(film.run_id)}</a></nav>',
        f"<h1>{escape(film.film_id)}</h1>",
        "<dl>",
        f'<dt>status</dt><dd class="status-{escape(film.status)}">{escape(film.status)}</dd>',
        f"<dt>duration</dt><dd>{seconds(film.duration_s)}</dd>",
        f"<dt>scenes</dt><dd>{len(film.scenes)}</dd>",
        f"<dt>loudness</dt><dd>{number(film.loudness_lufs)} LUFS</dd>",
        f"<dt>cut key</dt><dd><code>{escape(film.cut_key or '–')}</code></dd>",
        "</dl>",
    ]
    if film.preview_href:
        body.append(
            f'<video class="preview" controls preload="metadata" width="640" '
            f'src="{escape(film.preview_href)}" '
            f'data-film="{escape(film.film_id)}"></video>'
        )
    downloads = [
        (label, href)
        for label, href in (
            ("FLAC track" if not film.score_href else "FLAC mix", film.flac_href),
            ("MKV video", film.video_href),
            ("FLAC effects stem", film.effects_href),
            ("FLAC score stem", film.score_href),
        )
        if href
    ]
    if downloads:
        body.append(
            "<p>Archival outputs: "
            + ", ".join(f'<a href="{escape(href)}">{escape(label)}</a>' for label, href in downloads)
            + "</p>"
        )
    stems = [(n, h) for n, h in (("effects", film.effects_href), ("score", film.score_href)) if h]
    if stems:
        body += ["<h2>Stems</h2>", '<table class="stems">']
        body += [
            f'<tr data-stem="{name}"><td>{name}</td><td><audio controls preload="metadata" '
            f'src="{escape(href)}" data-stem="{name}"></audio></td>'
            f'<td><a href="{escape(href)}">FLAC</a></td></tr>'
            for name, href in stems
        ]
        body.append("</table>")
    cues = [scene for scene in film.scenes if scene.cue is not None]
    if cues:
        body += [
            "<h2>Cue sheet</h2>",
            '<table class="cues"><tr><th>scene</th><th>from</th><th>music</th><th>mood</th><th>tempo</th>'
            "<th>key</th><th>instrument</th><th>hits</th></tr>",
        ]
        for scene in cues:
            cue = scene.cue
            assert cue is not None
            body.append(
                f'<tr data-scene="{scene.index}"><td>{scene.index}</td><td>{seconds(scene.start_s)}</td>'
                f"<td>{'yes' if cue.sounds else 'no'}</td><td>{escape(cue.mood)}</td>"
                f"<td>{cue.tempo_bpm} BPM</td><td>{escape(cue.key)}</td><td>{escape(cue.instrument)}</td>"
                f"<td>{'yes' if cue.hits else 'no'}</td></tr>"
            )
        body.append("</table>")
    if film.failures:
        body += ["<h2>Failures</h2>", *_failures_table(film.failures)]
    for scene in film.scenes:
        body += _scene_section(scene)
    return _page(f"{film.film_id} · Talkie review", body)


def _scene_section(scene: SceneEntry) -> list[str]:
    lines = [
        f'<section class="scene" id="scene-{scene.index}" data-scene="{scene.index}">',
        f"<h2>Scene {scene.index} · {scene.start_s:.3f}–{scene.end_s:.3f} s</h2>",
        "<dl>",
        f"<dt>prompt</dt><dd>{escape(scene.positive_prompt or '') or '<em>none</em>'}</dd>",
        f"<dt>negative prompt</dt><dd>{escape(scene.negative_prompt or '') or '<em>none</em>'}</dd>",
        *_cue_line(scene.cue),
        "</dl>",
        f'<img class="evidence" src="{escape(scene.picture_href)}" width="880" height="400" '
        f"alt=\"Scene {scene.index}: thumbnails, the film track's spectrogram, and motion against "
        "audio onsets "
        f'(agreement {scene.agreement:.2f})">',
        '<table class="takes"><tr><th>take</th><th>seed</th><th>sync score</th><th>listen</th><th></th></tr>',
    ]
    for take in scene.takes:
        mark = "chosen: in the film track" if take.chosen else ""
        lines.append(
            f'<tr class="{"chosen" if take.chosen else "take"}" data-take="{take.take}"><td>{take.take}</td>'
            f"<td><code>{take.seed}</code></td><td>{number(take.sync_score, 3)}</td>"
            f'<td><audio controls preload="metadata" src="{escape(take.audio_href)}" '
            f'data-scene="{scene.index}" '
            f'data-take="{take.take}"></audio></td><td>{mark}</td></tr>'
        )
    return lines + ["</table>", "</section>"]


def _cue_line(cue: CueEntry | None) -> list[str]:
    if cue is None:
        return []
    text = escape(cue.text())
    shown = f"music: {text}" if cue.sounds else f"<em>no music</em> (the cue would be {text})"
    return [f'<dt>cue sheet</dt><dd class="cue" data-sounds="{str(cue.sounds).lower()}">{shown}</dd>']


def run_page_html(run: RunEntry) -> str:
    """The run's index page: totals, settings, every film with a link to its page, every failure."""
    body = [
        f"<h1>Talkie {escape(run.job)} run {escape(run.run_id)}</h1>",
        "<dl>",
        f"<dt>started</dt><dd>{escape(run.started_at)}</dd>",
        f"<dt>finished</dt><dd>{escape(run.finished_at)}</dd>",
        f"<dt>code</dt><dd><code>{escape(run.code_version)}</code></dd>",
        *(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in run.totals),
        "</dl>",
        "<h2>Settings</h2>",
        "<dl>",
        *(f"<dt>{escape(name)}</dt><dd><code>{escape(value)}</code></dd>" for name, value in run.settings),
        "</dl>",
        "<h2>Films</h2>",
        '<table class="films"><tr><th>film</th><th>status</th><th>duration</th><th>scenes</th><th>takes</th>'
        "<th>loudness</th><th>failures</th></tr>",
    ]
    for film in run.films:
        name = (
            f'<a href="{escape(film.href)}">{escape(film.film_id)}</a>' if film.href else escape(film.film_id)
        )
        body.append(
            f'<tr data-film="{escape(film.film_id)}"><td>{name}</td><td class="status-{escape(film.status)}">'
            f"{escape(film.status)}</td><td>{seconds(film.duration_s)}</td>"
            f"<td>{film.scenes if film.scenes is not None else '–'}</td>"
            f"<td>{film.takes}</td><td>{number(film.loudness_lufs)} LUFS</td><td>{film.failures}</td></tr>"
        )
    body += ["</table>", "<h2>Failures</h2>", *_failures_table(run.failures)]
    return _page(f"Talkie run {run.run_id}", body)
