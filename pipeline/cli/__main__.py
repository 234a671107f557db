"""`python -m wirematch.pipeline.cli` is the `wirematch` command."""

import sys

from wirematch.pipeline.cli import main

sys.exit(main())
