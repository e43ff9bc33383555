"""media.audio.decode_audio against the foley world's lossless FLAC ground truth."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from media.audio import NoAudioStream, decode_audio, has_audio
from media.errors import MediaError, UnreadableMedia
from media.resample import resample
from model.synth import SynthConfig, write_collection
from tests.films import encode, textured_shots


@pytest.fixture(scope="module")
def foley(tmp_path_factory) -> tuple[str, np.ndarray]:
    """A 3-4 s foley film (.mp4 with a FLAC stream) and its .flac ground truth at 48 kHz."""
    folder = tmp_path_factory.mktemp("foley_audio")
    config = SynthConfig(width=64, height=48, min_shots=1, max_shots=1, shot_seconds=(3.0, 4.0))
    row = write_collection(folder, films=1, seed=11, config=config, workers=1)[0]
    truth, rate = sf.read(folder / f"{row['film_id']}.flac", dtype="float32")
    assert rate == 48000
    return str(folder / row["video_input"]), truth


def test_whole_track_at_48k_equals_the_flac_exactly(foley):
    video, truth = foley
    audio = decode_audio(video, sample_rate=48000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.shape == truth.shape
    np.testing.assert_array_equal(audio, truth)  # FLAC is lossless: 24-bit integers either way


def test_a_range_has_the_exact_length_and_samples(foley):
    video, truth = foley
    for start_s, duration_s in [(0.0, 1.0), (1.3, 0.7), (0.5, 1.2345)]:
        part = decode_audio(video, sample_rate=48000, start_s=start_s, duration_s=duration_s)
        first, count = round(start_s * 48000), round(duration_s * 48000)
        assert part.shape == (count,)
        np.testing.assert_array_equal(part, truth[first : first + count])


def test_a_range_past_the_end_is_zero_padded(foley):
    video, truth = foley
    end_s = truth.shape[0] / 48000
    part = decode_audio(video, sample_rate=48000, start_s=end_s - 0.5, duration_s=2.0)
    assert part.shape == (96000,)
    np.testing.assert_array_equal(part[:24000], truth[-24000:])
    assert not part[24000:].any()


def test_16k_matches_band_limited_resampling_of_the_truth(foley):
    video, truth = foley
    audio = decode_audio(video, sample_rate=16000)
    reference = resample(truth, 48000, 16000)
    assert audio.shape == reference.shape
    # Two different sinc resamplers (FFmpeg's swresample and media.resample): aligned to the sample,
    # equal to well under 1% of full scale.
    inner = slice(200, -200)
    assert np.abs(audio[inner] - reference[inner]).max() < 0.02
    assert np.corrcoef(audio[inner], reference[inner])[0, 1] > 0.999


def test_a_seeked_window_equals_the_same_span_of_a_full_decode(foley):
    video, _ = foley
    full = decode_audio(video, sample_rate=16000)
    part = decode_audio(video, sample_rate=16000, start_s=1.5, duration_s=1.0)
    np.testing.assert_allclose(part, full[24000:40000], atol=1e-4)


def test_a_video_without_sound_raises_no_audio_stream(tmp_path):
    silent = encode(tmp_path / "silent.mp4", textured_shots([8], size=(32, 32), seed=3))
    assert not has_audio(str(silent))
    with pytest.raises(NoAudioStream, match="no audio stream") as caught:
        decode_audio(str(silent), sample_rate=16000)
    assert isinstance(caught.value, MediaError) and "silent.mp4" in str(caught.value)


def test_unreadable_files_and_bad_arguments(tmp_path, foley):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a film" * 100)
    with pytest.raises(UnreadableMedia, match="junk.mp4"):
        decode_audio(str(junk), sample_rate=16000)
    with pytest.raises(FileNotFoundError):  # as for video: a missing path is not a media error
        decode_audio(str(tmp_path / "missing.mp4"), sample_rate=16000)
    with pytest.raises(ValueError, match="sample_rate=0"):
        decode_audio(foley[0], sample_rate=0)
    with pytest.raises(ValueError, match="start_s=-1"):
        decode_audio(foley[0], sample_rate=16000, start_s=-1.0)
