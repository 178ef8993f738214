"""The environment node: one Gymnasium environment served over gRPC in parallel slots.

- :mod:`catallax.node.env.server`: :class:`EnvironmentServicer`, :func:`start_server`
  and :func:`serve` (``catallax node env``), with the status code of each refusal.
- :mod:`catallax.node.env.client`: :class:`EnvironmentClient`, which signs requests and
  verifies every reply (the exchange node uses it).
"""

from catallax.node.env.client import EnvironmentClient, RemoteSpec, ca_credentials
from catallax.node.env.server import (
    SERVICE_NAME,
    STATUS,
    EnvironmentServicer,
    NodeServer,
    make_env,
    serve,
    start_server,
    status_of,
)

__all__ = [
    "SERVICE_NAME",
    "EnvironmentServicer",
    "NodeServer",
    "STATUS",
    "make_env",
    "serve",
    "start_server",
    "status_of",
    "EnvironmentClient",
    "RemoteSpec",
    "ca_credentials",
]
