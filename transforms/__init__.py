"""Composite PTransforms and their DoFns: the only place Beam meets media/ and model/."""
