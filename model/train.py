"""Rectified-flow training of the denoiser over featurize shards, from the command line.

    python -m model.train --shards DIR_OR_GLOB --out model/weights/tiny.safetensors --preset tiny \
        --steps N [--batch 16] [--minutes M] [--seed 0] [--resume] [--device auto|cpu|cuda] \
        [--text_embeddings FILE] [--init CHECKPOINT] [--damage_workers N] [--SETTING VALUE ...]

Every field of ``model.trainer.TrainSettings`` is an option of its own name, with the field's
type, default and help (``batch_size`` is also ``--batch``); the other options belong to the run
(``model.train_loop.train``). Where the parts live:

    model.augment      on-the-fly damage and mirroring of the clips
    model.losses       the rectified-flow and timing-head losses (docs/design.md "Objective")
    model.trainer      TrainSettings, the per-step draws and the Trainer (network, EMA, AdamW)
    model.train_state  the training state and loss log beside --out
    model.train_loop   train(): shards, resume, the step prefetcher and loop, saves
"""

from __future__ import annotations

import argparse
import logging
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import MISSING, Field, fields
from typing import Any

import torch

from model.checkpoint import load_checkpoint
from model.config import PRESET_NAMES, preset
from model.train_loop import train
from model.trainer import TrainSettings

logger = logging.getLogger(__name__)

PROG = "python -m model.train"


def _option_type(hint: Any) -> type:
    """The argparse type of a settings field's type hint: int, float, str or bool, or one of them
    ``| None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if hint not in (int, float, str, bool):
        raise TypeError(
            f"TrainSettings has a field of type {hint!r}: the command line takes int, float, str, bool"
        )
    return typing.cast(type, hint)


def _setting_option(setting: Field[Any], hint: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """(flags, ``add_argument`` keywords) of one ``TrainSettings`` field: ``--<name>``, or the
    field's ``metadata["flags"]``, with its type, default and ``metadata["help"]``."""
    flags = tuple(setting.metadata.get("flags", (f"--{setting.name}",)))
    help_text = str(setting.metadata.get("help", "")).replace("%", "%%")
    kind = _option_type(hint)
    options: dict[str, Any] = {"dest": setting.name}
    if setting.default is MISSING:
        options["required"] = True
    else:
        options["default"] = setting.default
        if setting.default is not None:
            help_text += " (default: %(default)s)"
    if kind is bool:
        options["action"] = argparse.BooleanOptionalAction
    else:
        options["type"] = kind
    return flags, {**options, "help": help_text}


def _run_options(parser: argparse.ArgumentParser) -> None:
    """The options that are not training settings: where the data and files are, how to run."""
    add = parser.add_argument
    add("--shards", required=True, help="featurize --output folder, a glob, or one shard file")
    add("--out", required=True, help="model checkpoint to write (X.safetensors; state and log go beside it)")
    add("--preset", default="tiny", choices=PRESET_NAMES, help="model config preset (default tiny)")
    add("--minutes", type=float, default=None, help="stop cleanly and save after this many minutes")
    add("--session_steps", type=int, default=None, help="stop cleanly and save after this many updates")
    add("--resume", action="store_true", help="continue from --out's training state")
    add(
        "--init",
        default=None,
        metavar="CHECKPOINT",
        help="fine-tune: start from this model checkpoint's weights and train its config "
        "(--preset is ignored)",
    )
    add("--overwrite", action="store_true", help="start afresh over an earlier run's files")
    add("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add(
        "--text_embeddings", default=None, help="precomputed MiniLM embeddings (safetensors) of every caption"
    )
    add(
        "--damage_workers",
        type=int,
        default=None,
        help="processes that damage the next batch's clips (default: none on the CPU; on CUDA one a clip, "
        "at most the cores left over); the weights do not depend on it",
    )
    add(
        "--threads",
        type=int,
        default=None,
        help="CPU intra-op threads (default: torch's choice); 1 can be much faster on a busy machine",
    )
    add("--no_progress", action="store_true", help="no progress bar or progress lines")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Rectified-flow training of Talkie's denoiser over featurize shards."
    )
    _run_options(parser)
    group = parser.add_argument_group("training settings (model.trainer.TrainSettings)")
    hints = typing.get_type_hints(TrainSettings)
    for setting in fields(TrainSettings):
        flags, options = _setting_option(setting, hints[setting.name])
        group.add_argument(*flags, **options)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            print(f"{PROG}: --threads {args.threads}: need 1 or more", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    logger.info("%d CPU threads", torch.get_num_threads())
    try:
        config = load_checkpoint(args.init).config if args.init else preset(args.preset)
        result = train(
            config,
            args.shards,
            args.out,
            minutes=args.minutes,
            resume=args.resume,
            overwrite=args.overwrite,
            device=args.device,
            text_embeddings=args.text_embeddings,
            session_steps=args.session_steps,
            progress=not args.no_progress,
            init=args.init,
            damage_workers=args.damage_workers,
            **{setting.name: getattr(args, setting.name) for setting in fields(TrainSettings)},
        )
    except (ValueError, FileExistsError, FileNotFoundError, TypeError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    print(
        f"trained to step {result.step} ({result.steps_this_run} steps this run, "
        f"stopped by {result.stopped_by}) on {result.device}: {result.seconds_per_step:.3f} s/step, "
        f"loss {result.first_loss:.4f} -> {result.last_loss:.4f}\n"
        f"  model: {result.checkpoint}\n  state: {result.state}\n  log:   {result.log}"
    )
    return 130 if result.stopped_by == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main())
