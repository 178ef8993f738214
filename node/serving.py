"""The setup every catallax gRPC server shares: health, reflection, limits, graceful stop.

A server is a ``grpc.aio`` server on the running event loop (STYLE.md 13). Hand
:func:`start_server` the services it hosts, each a :class:`Service` (its full proto
name and the ``add_XServicer_to_server`` call); it adds

- gRPC health checking (``grpc.health.v1.Health``): every service, and the server as a
  whole (``""``), report ``SERVING`` once the port is bound and ``NOT_SERVING`` when
  the stop begins;
- server reflection (``grpc.reflection.v1alpha.ServerReflection``) over the hosted
  services, health and reflection;
- keepalive (a ping every :data:`KEEPALIVE_MS` on an idle connection, pings from
  clients accepted every :data:`MIN_PING_INTERVAL_MS`) and a message size limit
  (:data:`MAX_MESSAGE_BYTES` both ways);
- a request (or a frame of a request stream) whose bytes do not parse as the method's
  message is refused with ``INVALID_ARGUMENT`` and the details ``Malformed: ...``
  (gRPC alone would answer ``UNKNOWN``); in a stream handler the request iterator
  raises :class:`~catallax.node.errors.Malformed`, so a servicer that maps its
  refusals itself (the exchange's ``Trade``) answers it as its other malformed input;
- a plain port on loopback by default, TLS when given ``credentials``
  (``grpc.ssl_server_credentials``).

It returns a :class:`Server`: :meth:`Server.stop` marks everything ``NOT_SERVING``,
lets running calls finish for ``grace`` seconds (``grpc.aio.Server.stop(grace)``, as
the gRPC authors' asyncio graceful-shutdown example does), then runs the cleanups the
caller registered (closing a ledger, say). :func:`run_until_signal` serves until
SIGTERM or SIGINT and then stops so.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from catallax.node.errors import Malformed, OptionError

__all__ = [
    "DEFAULT_GRACE",
    "KEEPALIVE_MS",
    "MAX_DETAILS",
    "MAX_MESSAGE_BYTES",
    "MIN_PING_INTERVAL_MS",
    "Server",
    "Service",
    "channel_options",
    "clip_details",
    "run_until_signal",
    "server_credentials",
    "server_options",
    "start_server",
]

#: The largest message a catallax server or client sends or accepts (bytes).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: Keepalive ping interval on an idle connection (milliseconds).
KEEPALIVE_MS = 30_000
#: How long a keepalive ping may go unanswered before the connection is closed.
KEEPALIVE_TIMEOUT_MS = 10_000
#: The shortest interval between client pings a server accepts.
MIN_PING_INTERVAL_MS = 10_000
#: Seconds running calls get to finish when a server stops.
DEFAULT_GRACE = 5.0
#: The most characters of a refusal's details a server sends. A gRPC client refuses
#: trailing metadata beyond 8 KiB by default (and the details travel percent-encoded):
#: longer details would reach it as RESOURCE_EXHAUSTED instead of the refusal's status.
MAX_DETAILS = 400


def clip_details(text: str) -> str:
    """``text`` as the details of a status: cut to :data:`MAX_DETAILS` characters
    (ending in ``...``) when longer, so that it arrives."""
    return text if len(text) <= MAX_DETAILS else text[: MAX_DETAILS - 3] + "..."


@dataclass(frozen=True, slots=True)
class Service:
    """One service a server hosts.

    Attributes:
        name: the full proto service name, e.g. ``"catallax.v1.Ledger"`` (what health
            and reflection report).
        add: registers the servicer, e.g.
            ``lambda s: ledger_pb2_grpc.add_LedgerServicer_to_server(servicer, s)``.
    """

    name: str
    add: Callable[[grpc.aio.Server], None]


def server_options(max_message_bytes: int = MAX_MESSAGE_BYTES) -> list[tuple[str, int]]:
    """The channel arguments of every catallax server: keepalive and message limits."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_PING_INTERVAL_MS),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def channel_options(max_message_bytes: int = MAX_MESSAGE_BYTES) -> list[tuple[str, int]]:
    """The matching channel arguments for clients (pings no faster than servers allow)."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


class Server:
    """A started server: the ``grpc.aio`` server, its health servicer, its cleanups."""

    def __init__(
        self,
        server: grpc.aio.Server,
        health_servicer: health.aio.HealthServicer,
        names: Sequence[str],
        port: int,
    ) -> None:
        self.grpc = server
        self.health = health_servicer
        self.names = tuple(names)
        self.port = port
        self._cleanups: list[Callable[[], object]] = []
        self._stopped = False

    def on_stop(self, cleanup: Callable[[], object]) -> None:
        """Run ``cleanup`` (a function or a coroutine function) after the server stops."""
        self._cleanups.append(cleanup)

    async def stop(self, grace: float | None = DEFAULT_GRACE) -> None:
        """Report NOT_SERVING, let calls finish for ``grace`` seconds, then clean up.

        Streams still open after the grace period are cancelled. Calling it again does
        nothing.
        """
        if self._stopped:
            return
        self._stopped = True
        await self.health.enter_graceful_shutdown()
        await self.grpc.stop(grace)
        for cleanup in reversed(self._cleanups):
            result = cleanup()
            if asyncio.iscoroutine(result):
                await result

    async def wait_for_termination(self) -> None:
        """Until the server has stopped."""
        await self.grpc.wait_for_termination()


def server_credentials(cert: Path | None, key: Path | None) -> grpc.ServerCredentials | None:
    """TLS credentials from a PEM certificate chain and its private key, or None (plain TCP)
    when neither is given. Used by the exchange (``tls_cert``/``tls_key``) and by
    ``catallax node env --tls-cert --tls-key``.

    Raises:
        OptionError: only one of the two is given, a file cannot be read, it holds no PEM
            certificate or key, or the key is not the first certificate's.
    """
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise OptionError("TLS needs both a certificate and its key")
    try:
        chain, private = Path(cert).read_bytes(), Path(key).read_bytes()
    except OSError as exc:
        raise OptionError(f"TLS: cannot read {exc.filename}: {exc.strerror}") from None
    try:
        first = x509.load_pem_x509_certificates(chain)[0]
    except ValueError:
        raise OptionError(f"TLS: {cert}: no PEM certificate in it") from None
    try:
        loaded = serialization.load_pem_private_key(private, password=None)
    except (ValueError, TypeError):
        raise OptionError(f"TLS: {key}: no unencrypted PEM private key in it") from None
    if loaded.public_key() != first.public_key():
        raise OptionError(f"TLS: {key} is not the key of the certificate in {cert}")
    return grpc.ssl_server_credentials([(private, chain)])


async def start_server(
    services: Sequence[Service],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    credentials: grpc.ServerCredentials | None = None,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> tuple[Server, int]:
    """Start a server hosting ``services`` with health and reflection on ``host:port``.

    ``port`` 0 picks a free port; the bound port is returned with the :class:`Server`.
    Must be called on the event loop that will run the server.
    """
    server = grpc.aio.server(
        options=server_options(max_message_bytes), interceptors=[_RefuseUndecodable()]
    )
    for service in services:
        service.add(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [s.name for s in services]
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    address = f"{host}:{port}"
    if credentials is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, credentials)
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Server(server, health_servicer, names, bound), bound


# --- requests that do not parse -------------------------------------------------------


class _Undecodable:
    """What a request deserializer hands on instead of raising (gRPC would answer a
    raising deserializer with ``UNKNOWN``)."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _lenient(deserializer: Callable[[bytes], object]) -> Callable[[bytes], object]:
    def parse(data: bytes) -> object:
        try:
            return deserializer(data)
        except Exception as exc:  # DecodeError, or anything else the bytes provoke
            return _Undecodable(f"the request does not parse ({exc})")

    return parse


async def _refuse(context: grpc.aio.ServicerContext, why: str) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed: {why}")


class _Requests:
    """A request stream whose undecodable frames raise :class:`Malformed`."""

    def __init__(self, requests) -> None:
        self._requests = requests.__aiter__()
        self.refused: Malformed | None = None

    def __aiter__(self) -> _Requests:
        return self

    async def __anext__(self) -> object:
        request = await self._requests.__anext__()
        if isinstance(request, _Undecodable):
            self.refused = Malformed(request.why)
            raise self.refused
        return request


def _unary_request(behavior: Callable) -> Callable | None:
    if inspect.isasyncgenfunction(behavior):

        async def replies(request, context):
            if isinstance(request, _Undecodable):
                await _refuse(context, request.why)
            async with contextlib.aclosing(behavior(request, context)) as inner:
                async for reply in inner:
                    yield reply

        return replies
    if inspect.iscoroutinefunction(behavior):

        async def reply(request, context):
            if isinstance(request, _Undecodable):
                await _refuse(context, request.why)
            return await behavior(request, context)

        return reply
    return None


def _stream_request(behavior: Callable) -> Callable | None:
    if inspect.isasyncgenfunction(behavior):

        async def replies(request_iterator, context):
            requests = _Requests(request_iterator)
            try:
                async with contextlib.aclosing(behavior(requests, context)) as inner:
                    async for reply in inner:
                        yield reply
            except Malformed as exc:
                if exc is not requests.refused:
                    raise
                await _refuse(context, str(exc))

        return replies
    if inspect.iscoroutinefunction(behavior):

        async def reply(request_iterator, context):
            requests = _Requests(request_iterator)
            try:
                return await behavior(requests, context)
            except Malformed as exc:
                if exc is not requests.refused:
                    raise
                await _refuse(context, str(exc))

        return reply
    return None


class _RefuseUndecodable(grpc.aio.ServerInterceptor):
    """Every handler with a request deserializer, wrapped so that bytes which do not
    parse are ``INVALID_ARGUMENT`` (``Malformed: ...``), never ``UNKNOWN``."""

    def __init__(self) -> None:
        self._wrapped: dict[grpc.RpcMethodHandler, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        wrapped = self._wrapped.get(handler)
        if wrapped is None:
            wrapped = self._wrapped[handler] = _wrap(handler)
        return wrapped


def _wrap(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    if handler.request_streaming:
        field = "stream_stream" if handler.response_streaming else "stream_unary"
        behavior = _stream_request(getattr(handler, field))
    else:
        field = "unary_stream" if handler.response_streaming else "unary_unary"
        behavior = _unary_request(getattr(handler, field))
    if behavior is None:  # a synchronous handler: left as it is
        return handler
    return handler._replace(
        request_deserializer=_lenient(handler.request_deserializer), **{field: behavior}
    )


async def run_until_signal(server: Server, grace: float | None = DEFAULT_GRACE) -> None:
    """Serve until SIGTERM or SIGINT, then :meth:`Server.stop` with ``grace``."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        done = asyncio.ensure_future(server.wait_for_termination())
        signalled = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({done, signalled}, return_when=asyncio.FIRST_COMPLETED)
        signalled.cancel()
        await server.stop(grace)
        done.cancel()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
