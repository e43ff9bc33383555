"""The restore job's review report, opened in headless Chromium as a curator would open it.

Chromium is Debian's ``chromium`` (.ci/run installs it); without it these tests skip.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image

from media.flac import decode_flac
from tests.review.browser import Chromium, find_chromium
from tests.review.conftest import PROMPT_WITH_MARKUP
from transforms.tables import read_table

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (.ci/run installs Debian's chromium)"
)

_PAGE_FACTS = """
JSON.stringify({
  scenes: Array.from(document.querySelectorAll('section.scene')).map(s => Number(s.dataset.scene)),
  images: Array.from(document.images).map(i =>
      ({src: i.currentSrc, width: i.naturalWidth, complete: i.complete})),
  chosen: Array.from(document.querySelectorAll('section.scene')).map(s =>
      Array.from(s.querySelectorAll('tr.chosen')).map(r => Number(r.dataset.take))),
  links: Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href')),
  text: document.body.innerText,
})
"""


@pytest.fixture(scope="module")
def browser():
    with Chromium(CHROMIUM) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def visits(review_run, browser):
    """Every page of the run's report, visited: {"index": visit, film_id: visit}."""
    folder = review_run.output / "report" / review_run.summary.run_id
    pages = {"index": folder / "index.html"}
    for film in read_table(str(review_run.output), "films", run_id=review_run.summary.run_id).to_pylist():
        pages[film["film_id"]] = folder / film["film_id"] / "index.html"
    return {name: browser.open_page(path, evaluate=_PAGE_FACTS) for name, path in pages.items()}


def _local(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


def test_no_page_logs_a_console_error(visits):
    for name, visit in visits.items():
        assert visit.console_errors == [], f"{name}: {visit.console_errors}"


def test_every_take_plays_with_its_flacs_duration(review_run, visits):
    takes = read_table(str(review_run.output), "takes", run_id=review_run.summary.run_id).to_pylist()
    heard = 0
    for film_id in {t["film_id"] for t in takes}:
        audio = [m for m in visits[film_id].media if m["tag"] == "audio"]
        assert len(audio) == sum(t["film_id"] == film_id for t in takes)
        for element in audio:
            assert element["error"] is None and element["readyState"] >= 1, element
            samples, rate, _ = decode_flac(_local(element["src"]).read_bytes())
            assert element["duration"] == pytest.approx(samples.shape[0] / rate, abs=2e-6), element
            heard += 1
    assert heard == len(takes) == 6


def test_each_films_preview_plays_for_the_films_duration(review_run, visits):
    films = read_table(str(review_run.output), "films", run_id=review_run.summary.run_id).to_pylist()
    for film in films:
        [video] = [m for m in visits[film["film_id"]].media if m["tag"] == "video"]
        assert video["error"] is None and video["readyState"] >= 1, video
        assert video["videoWidth"] == 64
        assert (
            _local(video["src"])
            == review_run.output / "films" / film["film_id"] / f"{film['cut_key']}.preview.mp4"
        )
        assert video["duration"] == pytest.approx(film["duration_s"], abs=0.005)


def test_every_scene_has_its_section_picture_and_chosen_take(review_run, visits):
    run_id = review_run.summary.run_id
    scenes = read_table(str(review_run.output), "scenes", run_id=run_id).to_pylist()
    for film_id in {s["film_id"] for s in scenes}:
        own = sorted((s for s in scenes if s["film_id"] == film_id), key=lambda s: s["scene_index"])
        facts = visits[film_id].page_json
        assert facts["scenes"] == [s["scene_index"] for s in own]
        assert facts["chosen"] == [[s["best_take"]] for s in own]
        assert len(facts["images"]) == len(own)
        assert all(image["complete"] and image["width"] == 880 for image in facts["images"]), facts["images"]
    assert PROMPT_WITH_MARKUP in visits[review_run.two_takes].page_json["text"]  # shown as text, not markup


def test_the_run_page_links_every_film_and_lists_the_failure_with_its_stage(review_run, visits):
    facts = visits["index"].page_json
    films = read_table(str(review_run.output), "films", run_id=review_run.summary.run_id).to_pylist()
    assert sorted(facts["links"]) == sorted(f"{f['film_id']}/index.html" for f in films)
    assert "probe_and_shard" in facts["text"] and review_run.bad in facts["text"]
    assert "Settings" in facts["text"] and "text guidance" in facts["text"]


def test_the_screenshot_shows_a_page(visits, tmp_path):
    for name in ("index", *[n for n in visits if n != "index"][:1]):
        png = visits[name].screenshot_png
        path = tmp_path / f"{name}.png"
        path.write_bytes(png)
        image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
        assert image.shape[0] >= 200 and image.shape[1] >= 800
        assert image.std() > 8, f"{path} is nearly blank (std {image.std():.1f})"
        assert (image < 128).mean() > 0.002, f"{path} has almost no dark pixels: no text or pictures drawn"


def test_a_chosen_takes_new_cut_plays_in_its_runs_pages(review_run, browser, tmp_path):
    import shutil

    from pipelines.choose import Choice, choose

    copy = tmp_path / "out"
    shutil.copytree(review_run.output, copy)
    film_id = review_run.two_takes
    scenes = read_table(str(copy), "scenes", run_id=review_run.summary.run_id).to_pylist()
    best = {s["scene_index"]: s["best_take"] for s in scenes if s["film_id"] == film_id}
    result = choose(str(copy), [Choice(film_id, 1, 1 - best[1])])

    [cut] = result.cuts
    visit = browser.open_page(copy / "report" / result.run_id / film_id / "index.html", evaluate=_PAGE_FACTS)
    assert visit.console_errors == []
    assert visit.page_json["chosen"] == [[best[0]], [1 - best[1]]]
    [video] = [m for m in visit.media if m["tag"] == "video"]
    assert _local(video["src"]) == Path(cut.preview_uri)
    film = next(f for f in read_table(str(copy), "films").to_pylist() if f["film_id"] == film_id)
    assert video["error"] is None and video["duration"] == pytest.approx(film["duration_s"], abs=0.005)
    assert all(m["error"] is None for m in visit.media)
    index = browser.open_page(copy / "report" / result.run_id / "index.html", evaluate=_PAGE_FACTS)
    assert index.console_errors == [] and index.page_json["links"] == [f"{film_id}/index.html"]
