from __future__ import annotations

import numpy as np
import pytest

from model.synth.timing import Timing


@pytest.mark.parametrize(
    "fps,content,period,repeats",
    [(20, 16, 5, 1), (24, 18, 4, 1), (24, 20, 6, 1), (18, 12, 3, 1), (24, 16, 3, 1)],
)
def test_cadence_repeats_the_last_frame_of_each_group(fps, content, period, repeats):
    t = Timing(fps, content, pictures=content * 3)
    dups = t.duplicated_frames()
    assert t.frames == fps * 3
    assert len(dups) == (fps - content) * 3
    assert dups[:2] == [period - 1, 2 * period - 1]
    p = t.picture_of_frame(np.arange(t.frames))
    assert p[0] == 0 and p[-1] == t.pictures - 1 and np.all(np.diff(p) >= 0)
    # a picture's first frame shows it, the frame before shows the previous picture
    q = np.arange(1, t.pictures)
    f = t.frame_of_picture(q)
    assert np.array_equal(t.picture_of_frame(f), q) and np.array_equal(t.picture_of_frame(f - 1), q - 1)
    assert t.cadence()["pattern"] == f"{repeats} in {period} repeated"


@pytest.mark.parametrize("fps", [16, 18, 20, 24])
def test_samples_match_video_duration(fps):
    for frames in (1, 37, 95, 96, 401):
        t = Timing(fps, fps, frames)
        assert t.samples == round(frames / fps * 48000)
        assert t.sample_of_frame(frames - 1) == round((frames - 1) / fps * 48000)


def test_no_cadence_has_no_duplicates():
    t = Timing(24, 24, 50)
    assert t.frames == 50 and t.duplicated_frames() == [] and t.cadence()["kind"] == "none"
