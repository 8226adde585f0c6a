"""``python -m flitstack``: the same command as ``flitstack``."""

from flitstack.cli import main

main()
