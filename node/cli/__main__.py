"""``python -m catallax.node.cli``: the ``catallax`` command (for subprocesses)."""

from catallax.node.cli import main

main()
