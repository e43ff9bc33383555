"""Benchmarks: each module measures one part of Talkie and prints a table (run from the repository
root, e.g. ``python -m bench.score`` or ``python -m bench.scenes``)."""
