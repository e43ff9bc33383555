"""The ledger: one JSON object per finished unit, the restore job's durable progress (docs/design.md,
"Durable progress").

    OUTPUT/ledger/<film_id>/<unit_key>.json   (transforms.layout.ledger_uri)

A unit's ledger object is written right after its stem is published, so an object always has its
stem; a rerun reads it back (``read_ledger``) and skips the unit. It records the unit's inputs,
where its stem is (relative to OUTPUT, so a moved or copied output folder stays whole), the
stem's SHA-256, its sync score and the picture's motion onsets it was scored against (seconds from
the scene's start; the score's hits land on them), and who made it (run id, batch size, device).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from media import storage
from transforms.failures import redact
from transforms.layout import ledger_uri, stem_path, stem_uri
from transforms.units import OUTPUT_RATE, GenerationSettings, Take, Unit

log = logging.getLogger(__name__)

LEDGER_SCHEMA = "talkie.ledger/1"


def ledger_record(
    take: Take,
    settings: GenerationSettings,
    *,
    run_id: str,
    batch_size: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """The ledger object of a finished unit: its inputs, where its stem is, and who made it.

    ``batch_size`` and ``device`` are provenance, not key: on the CPU a unit's bytes do not
    depend on them; on CUDA (bf16) they are the same for the same batch size, whatever the
    unit's batch-mates, but another batch size can change the low bits.
    """
    unit = take.unit
    return {
        "schema": LEDGER_SCHEMA,
        "unit_key": unit.key,
        "film_id": unit.film_id,
        "uri": redact(unit.uri),
        "content_sha256": unit.content_sha256,
        "scene_index": unit.scene_index,
        "take": unit.take,
        "seed": unit.seed,
        "time_base": unit.time_base,
        "start_pts": unit.start_pts,
        "end_pts": unit.end_pts,
        "start_s": unit.start_s,
        "end_s": unit.end_s,
        "positive_prompt": unit.positive_prompt,
        "negative_prompt": unit.negative_prompt,
        **settings.key_fields(),
        "flac": stem_path(unit.film_id, unit.key),
        "flac_sha256": take.flac_sha256,
        "sample_rate": OUTPUT_RATE,
        "samples": unit.output_samples,
        "sync_score": take.sync_score,
        "motion_onsets_s": None if take.motion_onsets_s is None else list(take.motion_onsets_s),
        "batch_size": batch_size,
        "device": device,
        "run_id": run_id,
    }


def write_ledger(output: str, record: dict[str, Any]) -> str:
    """Publishes ``record`` (``ledger_record``) as its unit's ledger object; returns its URI."""
    uri = ledger_uri(output, record["film_id"], record["unit_key"])
    storage.write_bytes(uri, json.dumps(record, sort_keys=True, indent=1).encode("utf-8"))
    return uri


def ledger_object(output: str, film_id: str, unit_key: str) -> dict[str, Any] | None:
    """The unit's ledger object as written, or None when there is none."""
    uri = ledger_uri(output, film_id, unit_key)
    if not storage.exists(uri):
        return None
    record: dict[str, Any] = json.loads(storage.read_bytes(uri))
    return record


def read_ledger(output: str, unit: Unit) -> Take | None:
    """The unit's ``Take`` from its ledger object; None when there is none, or when it is not
    usable (unreadable, another unit's, or its stem is gone: logged, and the unit is redone)."""
    uri = ledger_uri(output, unit.film_id, unit.key)
    if not storage.exists(uri):
        return None
    try:
        record = json.loads(storage.read_bytes(uri))
        if record.get("schema") != LEDGER_SCHEMA or record.get("unit_key") != unit.key:
            raise ValueError(f"schema {record.get('schema')!r}, unit_key {record.get('unit_key')!r}")
        flac = stem_uri(output, unit.film_id, unit.key)
        if not storage.exists(flac):
            raise FileNotFoundError(f"its stem {flac} is missing")
        sync = record.get("sync_score")
        motion = record.get("motion_onsets_s")  # absent from objects written before the score
        return Take(
            unit=unit,
            flac_uri=flac,
            flac_sha256=str(record["flac_sha256"]),
            sync_score=None if sync is None else float(sync),
            generated=False,
            motion_onsets_s=None if motion is None else tuple(float(t) for t in motion),
        )
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        log.warning(
            "%s: ledger object not usable (%s); unit %s is generated again",
            redact(uri),
            redact(str(exc)),
            unit.key,
        )
        return None
