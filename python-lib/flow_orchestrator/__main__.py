"""``python -m flow_orchestrator``: the command line (see :mod:`flow_orchestrator.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
