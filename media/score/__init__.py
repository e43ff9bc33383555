"""The score: silent-film accompaniment that follows each scene's mood and cuts (issue 21).

Beam-free. A film's scenes -> a cue sheet (one Cue per scene, from its prompts and pacing) ->
note events from Talkie's own composer -> a 48 kHz float32 mono stem rendered by FluidSynth with
a General MIDI soundfont. Equal inputs give byte-identical audio; other seeds, other music.

Modules, one job each:
    cues.py     prompts + --score mode + --score_instrument + pacing -> Cue (the word lists and
                their semantics are in its docstring)
    harmony.py  keys, scales, chords (pitch arithmetic)
    styles.py   each mood's meter, progressions, figures, registers, dynamics, GM programs
    figures.py  one bar of accompaniment or melody
    compose.py  scenes -> notes: phrasing at cuts, transitions, hits
    notes.py    the Note event
    render.py   notes -> audio with FluidSynth; soundfont lookup; ScoreUnavailable
    track.py    a film's stem in one call, and the identity string for cut keys
    listen.py   measurements of rendered audio (tempo, key, change points, tonality), for
                bench/score.py, the tests and reports
    mix.py      the film's mix: the score levelled under the effects and ducked under their
                events (media/cut.py's render_cut sums, normalises and splits it into stems)

The pipeline's calls (film clock in seconds, scenes in any order):

    from media.score import Pacing, ScoreScene, score_cue, score_track, score_identity

    pacing = Pacing.of_film(len(scenes), duration_s, motion)          # or per scene
    cue = score_cue(positive, negative, mode=args.score,               # "auto" | "on" | "off"
                    instrument=args.score_instrument, pacing=pacing)   # None | piano | organ | orchestra
    # cue.sounds, cue.mood, cue.tempo_bpm, cue.key, cue.instrument, cue.hits -> the scenes table
    stem = score_track([ScoreScene(start_s, end_s, cue, take_seed, hit_times_s), ...],
                       num_samples=round(duration_s * 48000))
    # stem is None when no scene sounds: write no .score.flac. Otherwise exactly num_samples.
    cut_key_part = (args.score, args.score_instrument, score_identity())
    # transforms/score.py does all of this for the restore job and talkie choose.

``score_cue`` never raises on a prompt (ValueError only for a bad mode or instrument flag).
``score_track`` raises ScoreUnavailable, naming the packages to install, when pyfluidsynth,
libfluidsynth or the soundfont is missing; there is no silent fallback. hit_times_s are the
film-clock times of strong visible events (the model's timing head, or media/sync.py's motion
onsets); they sound only where cue.hits.

Needs: Debian packages libfluidsynth3 and fluid-soundfont-gm (or musescore-general-soundfont-small;
$TALKIE_SOUNDFONT names any other .sf2/.sf3), and pyfluidsynth from PyPI. ATTRIBUTION.md beside
this file names the soundfont's authors and licence.
"""

from media.score.compose import COMPOSER_VERSION, ScenePlan, ScoreScene, compose_film, plan_film
from media.score.cues import INSTRUMENTS, MODES, MOODS, Cue, Pacing, score_cue
from media.score.notes import Note
from media.score.render import SAMPLE_RATE, ScoreUnavailable, find_soundfont, render_notes, synth_identity
from media.score.track import score_identity, score_track

__all__ = [
    "COMPOSER_VERSION",
    "INSTRUMENTS",
    "MODES",
    "MOODS",
    "SAMPLE_RATE",
    "Cue",
    "Note",
    "Pacing",
    "ScenePlan",
    "ScoreScene",
    "ScoreUnavailable",
    "compose_film",
    "find_soundfont",
    "plan_film",
    "render_notes",
    "score_cue",
    "score_identity",
    "score_track",
    "synth_identity",
]
