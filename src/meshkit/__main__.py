"""``python -m meshkit``: the command line, as the ``meshkit`` script runs it."""

from meshkit.cli.main import run

run()
