"""One module per Talkie job (scenes, restore, ...): an options class, run(), a two-line __main__."""
