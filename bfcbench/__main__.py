"""``python -m bfcbench`` runs the command line."""

import sys

from bfcbench.cli import main

sys.exit(main())
