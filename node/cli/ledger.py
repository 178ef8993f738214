"""``catallax ledger``: inspect and check a ledger folder."""

from catallax.node.cli._common import new_app

app = new_app("Inspect and verify a signed wealth ledger folder.")
