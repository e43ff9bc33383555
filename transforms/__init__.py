"""Composite PTransforms and their DoFns: the only place Beam meets media/ and model/."""

from media import storage
from transforms.storage_options import pipeline_s3_options

# Workers read and write s3:// with the pipeline's --s3_* flags (transforms/storage_options.py).
storage.follow_s3_options(pipeline_s3_options)
