"""``catallax keys``: Ed25519 key files."""

from catallax.node.cli._common import new_app

app = new_app("Make and inspect Ed25519 key files (PEM).")
