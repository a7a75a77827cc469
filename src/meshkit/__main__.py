"""``python -m meshkit``: the command line, as the ``meshkit`` script runs it."""

import sys

from meshkit.cli.main import main

sys.exit(main())
