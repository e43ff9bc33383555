"""Talkie's model package: pure PyTorch networks, conditioning, sampling and training (no Beam).

The foley world in ``model.synth`` needs only numpy, PyAV and soundfile; nothing here imports
torch at package import time, so ``import model.synth`` stays light.
"""
