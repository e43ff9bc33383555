"""Stage names: the ``stage`` column of the failures table and the ``talkie/failures_<stage>`` counters.

One name per fallible step of the jobs (docs/design.md, Contracts, "Tables"); a stage's name is part
of the output contract, so it is written here once and imported wherever a failure is made.
"""

from __future__ import annotations

from typing import Final

# Every job: reading the manifest, probing and cutting films into scenes, one film per film_id.
STAGE_READ_MANIFEST: Final = "read_manifest"
STAGE_PROBE_AND_SHARD: Final = "probe_and_shard"
STAGE_DEDUPLICATE_FILMS: Final = "deduplicate_films"

# The shot-list job (pipelines/scenes.py).
STAGE_WRITE_SHOTLIST: Final = "write_shotlist"

# The restore job (pipelines/restore.py), in pipeline order.
STAGE_PLAN_UNITS: Final = "plan_units"
STAGE_DECODE_WINDOWS: Final = "decode_windows"
STAGE_GENERATE_AUDIO: Final = "generate_audio"
STAGE_ASSEMBLE_FILMS: Final = "assemble_films"
STAGE_REPORT: Final = "report"

# The featurize job (pipelines/featurize.py).
STAGE_CUT_TRAINING_WINDOWS: Final = "cut_training_windows"
STAGE_FEATURIZE_WINDOWS: Final = "featurize_windows"
STAGE_WRITE_SHARDS: Final = "write_shards"

STAGES: Final = (
    STAGE_READ_MANIFEST,
    STAGE_PROBE_AND_SHARD,
    STAGE_DEDUPLICATE_FILMS,
    STAGE_WRITE_SHOTLIST,
    STAGE_PLAN_UNITS,
    STAGE_DECODE_WINDOWS,
    STAGE_GENERATE_AUDIO,
    STAGE_ASSEMBLE_FILMS,
    STAGE_REPORT,
    STAGE_CUT_TRAINING_WINDOWS,
    STAGE_FEATURIZE_WINDOWS,
    STAGE_WRITE_SHARDS,
)
