"""Beam-free media code: probing, decoding, cadence, scene cuts, shot lists."""
