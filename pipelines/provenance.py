"""What a ``runs`` row records about a run: the code version and the options, without secrets."""

from __future__ import annotations

import json
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.failures import redact

_CREDENTIAL_LIKE = re.compile(r"(?i)token|secret|password|passwd|credential|private|auth|key")


def code_version() -> str:
    """The installed talkie version, plus ``+g<commit>[.dirty]`` when running from a git checkout."""
    try:
        version = metadata.version("talkie")
    except metadata.PackageNotFoundError:
        version = "unknown"
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return version
    described = subprocess.run(
        ["git", "-C", str(root), "describe", "--always", "--dirty=.dirty", "--abbrev=12"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    commit = described.stdout.strip()
    return f"{version}+g{commit}" if described.returncode == 0 and commit else version


def options_json(*options: PipelineOptions) -> str:
    """The options that were set (later ones win), as JSON, with credential-like ones dropped."""
    merged: dict[str, Any] = {}
    for each in options:
        merged.update(each.get_all_options(drop_default=True, retain_unknown_options=True))
    kept = {k: _redacted(v) for k, v in merged.items() if not _CREDENTIAL_LIKE.search(k)}
    return json.dumps(kept, sort_keys=True, default=str)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items() if not _CREDENTIAL_LIKE.search(str(k))}
    return value
