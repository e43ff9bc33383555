"""The flex-template entry point (the launcher image's FLEX_TEMPLATE_PYTHON_PY_FILE): the restore
job with the template's parameters, on GPU workers running the worker image."""

import os
import sys

from infra.dataflow.job import flex_template_argv
from pipelines.restore import main

if __name__ == "__main__":
    sys.exit(
        main(
            flex_template_argv(sys.argv[1:], os.environ.get("TALKIE_WORKER_IMAGE")),
            prog="talkie restore (flex template)",
        )
    )
