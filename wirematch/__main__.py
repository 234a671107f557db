"""`python -m wirematch` is the `wirematch` command."""

import sys

from wirematch.pipeline.cli import main

sys.exit(main())
