"""Everything in catallax that talks: the command line, the gRPC servers and clients
(exchange node, environment node, trader runner, ledger service), message signing.

``catallax.node`` may import ``catallax.exchange`` and ``catallax.traders``; they never
import it. Importing it lets the ledger read network bids as evidence
(:func:`catallax.node.wire.mandate.read_bids`), so that every process that audits a
network ledger through the node can check them, and a wide market's orders
(:func:`catallax.node.exchange.wide.orders.read_orders`) and demands
(:func:`catallax.node.exchange.wide.demands.read_demand`) likewise.
"""

from catallax.exchange.ledger.evidence import register_reader as _register_reader


def _read_bids(evidence):  # imported on first use: reading a ledger needs no gRPC
    from catallax.node.wire.mandate import read_bids

    return read_bids(evidence)


def _read_orders(evidence):  # a wide market's signed orders
    from catallax.node.exchange.wide.orders import read_orders

    return read_orders(evidence)


def _read_demand(evidence):  # a wide market's signed demand (interactive clearing)
    from catallax.node.exchange.wide.demands import read_demand

    return read_demand(evidence)


_register_reader("Bids", _read_bids)
_register_reader("Orders", _read_orders)
_register_reader("Demand", _read_demand)

__all__: list[str] = []
