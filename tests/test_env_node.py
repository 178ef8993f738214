"""The environment node: real servers on port 0 (in-process grpc.aio, and one
``catallax node env`` subprocess), real channels, the real health and reflection clients."""

from __future__ import annotations

import asyncio
import hashlib
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import gymnasium as gym
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

import catallax.exchange.envs as envs
from catallax.exchange import crypto
from catallax.node.env import EnvironmentClient, start_server
from catallax.node.errors import (
    MissingSignature,
    OutsideSpace,
    SlotEnded,
    Stale,
    StaleEpoch,
    UnknownSigner,
    UnknownSlot,
)
from catallax.node.keys import save_private_key
from catallax.node.wire import Sequencer, now_ms, seal
from catallax.node.wire.convert import tensor_to_proto
from catallax.v1 import environment_pb2, environment_pb2_grpc

EXCHANGE = crypto.generate_private_key()
NODE = crypto.generate_private_key()
STRANGER = crypto.generate_private_key()


async def _start(tmp_path: Path, env_id: str, slots: int, **kw):
    return await start_server(
        env_id,
        slots=slots,
        key=NODE,
        exchange_keys=[crypto.public_key_bytes(EXCHANGE)],
        data_dir=tmp_path / "node",
        **kw,
    )


def _client(port: int) -> EnvironmentClient:
    return EnvironmentClient(f"127.0.0.1:{port}", EXCHANGE, crypto.public_key_bytes(NODE))


async def _check_matches_local(client: EnvironmentClient, env_id: str, slots: int, steps: int):
    """Seeded episodes over the wire equal local gym.make copies, step by step."""
    local = [gym.make(env_id) for _ in range(slots)]
    seeds = [11 + s for s in range(slots)]
    obs, infos = await client.reset(list(range(slots)), seeds)
    expected = [env.reset(seed=seed) for env, seed in zip(local, seeds, strict=True)]
    assert obs.tolist() == [o for o, _ in expected]
    assert [i["prob"] for i in infos] == [i["prob"] for _, i in expected]
    rng = np.random.default_rng(0)
    n_actions = int(local[0].action_space.n)
    ends = 0
    for _ in range(steps):
        actions = rng.integers(0, n_actions, size=slots)
        obs, rewards, term, trunc, _ = await client.step(list(range(slots)), actions)
        for s, env in enumerate(local):
            o, r, te, tr, _ = env.step(int(actions[s]))
            assert (obs[s], rewards[s], term[s], trunc[s]) == (o, r, te, tr)
        done = [s for s in range(slots) if term[s] or trunc[s]]
        if done:
            ends += len(done)
            seeds_done = [1000 + ends + s for s in done]
            obs_done, _ = await client.reset(done, seeds_done)
            for s, seed in zip(done, seeds_done, strict=True):
                assert obs_done[done.index(s)] == local[s].reset(seed=seed)[0]
    assert ends > 0  # the run crossed episode ends


async def test_chain_and_frozenlake_match_local_runs_over_several_slots(tmp_path):
    for env_id, steps in (("catallax/Chain-v0", 60), ("FrozenLake-v1", 80)):
        node = await _start(tmp_path / env_id.replace("/", "_"), env_id, slots=4)
        try:
            async with _client(node.port) as client:
                spec = await client.spec()
                assert spec.slots == 4 and spec.env_id == env_id
                reference = gym.make(env_id)
                assert spec.observation_space == reference.observation_space
                assert spec.action_space == reference.action_space
                assert spec.max_episode_steps == reference.spec.max_episode_steps
                await _check_matches_local(client, env_id, 4, steps)
        finally:
            await node.stop(0)


async def test_tmaze_with_a_message_register_is_solved_over_the_network(tmp_path):
    node = await _start(tmp_path, "catallax/TMaze-v0", slots=2, memory=2)
    try:
        async with _client(node.port) as client:
            spec = await client.spec()
            assert spec.action_space == gym.spaces.Discrete(3 * 3)
            for seed in range(6):
                obs, _ = await client.reset([0, 1], [seed, seed + 100])
                returns = [0.0, 0.0]
                running = [0, 1]
                while running:
                    actions = []
                    for s in running:
                        inner, register = envs.decode_observation(int(obs[running.index(s)]), 2)
                        if inner in (0, 1):  # the cue: remember it
                            actions.append(envs.encode_action(0, inner + 1, 2))
                        elif inner == 3:  # the junction: turn as remembered
                            actions.append(envs.encode_action(1 + register, 0, 2))
                        else:
                            actions.append(envs.encode_action(0, 0, 2))
                    obs, rewards, term, trunc, _ = await client.step(running, actions)
                    for i, s in enumerate(running):
                        returns[s] += rewards[i]
                    keep = [i for i in range(len(running)) if not (term[i] or trunc[i])]
                    running = [running[i] for i in keep]
                    obs = obs[keep]
                assert returns == [1.0, 1.0]
    finally:
        await node.stop(0)


def _envelope(key, body, message=None, *, stamp=True):
    if stamp:
        Sequencer(crypto.public_key_bytes(key)).stamp(body)
    return seal(key, message or type(body), body)


async def _code(call, envelope) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(envelope, timeout=5)
    return info.value.code(), info.value.details()


async def test_bad_input_gets_its_own_status_and_steps_nothing(tmp_path):
    node = await _start(tmp_path, "FrozenLake-v1", slots=2)
    local = gym.make("FrozenLake-v1")
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{node.port}") as channel,
            _client(node.port) as client,
        ):
            stub = environment_pb2_grpc.EnvironmentStub(channel)
            # step before any reset
            with pytest.raises(SlotEnded):
                await client.step([0], [1])
            await client.reset([0], [5])
            local.reset(seed=5)

            epoch = node.servicer.epoch
            assert client.epoch == epoch  # the client read it from the Spec

            def step(slots, actions, key=EXCHANGE, epoch=epoch):
                body = environment_pb2.StepRequest(
                    slots=slots, actions=tensor_to_proto(np.array(actions, dtype=np.int64)),
                    epoch=epoch,
                )  # fmt: skip
                return _envelope(key, body)

            unsigned = step([0], [1])
            unsigned.signature = b""
            cases = [
                (unsigned, grpc.StatusCode.UNAUTHENTICATED, MissingSignature),
                (step([0], [1], key=STRANGER), grpc.StatusCode.PERMISSION_DENIED, UnknownSigner),
                (step([0], [4]), grpc.StatusCode.INVALID_ARGUMENT, OutsideSpace),
                (step([0], [-1]), grpc.StatusCode.INVALID_ARGUMENT, OutsideSpace),
                (step([2], [1]), grpc.StatusCode.INVALID_ARGUMENT, UnknownSlot),
                (step([0, 0], [1, 1]), grpc.StatusCode.INVALID_ARGUMENT, UnknownSlot),
                (step([1], [1]), grpc.StatusCode.FAILED_PRECONDITION, SlotEnded),
                (step([0], [1], epoch=b""), grpc.StatusCode.FAILED_PRECONDITION, StaleEpoch),
                (step([0], [1], epoch=os.urandom(16)), grpc.StatusCode.FAILED_PRECONDITION,
                 StaleEpoch),
            ]  # fmt: skip
            stale_body = environment_pb2.StepRequest(
                slots=[0], actions=tensor_to_proto(np.array([1], dtype=np.int64)), epoch=epoch
            )
            stale_body.sequence = Sequencer(b"x" * 32).next()
            stale_body.timestamp_ms = now_ms() - 60_000
            cases.append(
                (_envelope(EXCHANGE, stale_body, stamp=False), grpc.StatusCode.OUT_OF_RANGE, Stale)
            )
            floats = environment_pb2.StepRequest(
                slots=[0], actions=tensor_to_proto(np.array([1.0])), epoch=epoch
            )
            cases.append(
                (_envelope(EXCHANGE, floats), grpc.StatusCode.INVALID_ARGUMENT, OutsideSpace)
            )
            for envelope, code, cls in cases:
                got, details = await _code(stub.Step, envelope)
                assert (got, details.split(":")[0]) == (code, cls.__name__)
            # replayed: a good request, then the same bytes again
            good = step([0], [2])
            reply = await stub.Step(good, timeout=5)
            assert environment_pb2.StepReply.FromString(reply.body).request_hash == (
                hashlib.sha256(good.body).digest()
            )
            expected = local.step(2)
            got, details = await _code(stub.Step, good)
            assert (got, details.split(":")[0]) == (grpc.StatusCode.ALREADY_EXISTS, "Replayed")
            # none of the refused requests stepped slot 0
            obs, *_ = await client.step([0], [1])
            assert obs.tolist() == [local.step(1)[0]]
            assert environment_pb2.StepReply.FromString(reply.body).obs == tensor_to_proto(
                np.array([expected[0]], dtype=np.int64)
            )
            # the client raises the node's class
            with pytest.raises(OutsideSpace):
                await client.step([0], [9])
    finally:
        await node.stop(0)


async def test_replay_is_refused_after_a_restart_with_the_same_data_dir(tmp_path):
    """A request of the node's earlier run is refused for its epoch; a client that was
    talking to that run hears StaleEpoch once, then reads the new Spec by itself."""
    node = await _start(tmp_path, "catallax/Chain-v0", slots=1)
    first_epoch = node.servicer.epoch
    body = environment_pb2.ResetRequest(slots=[0], seeds=[1], epoch=first_epoch)
    envelope = _envelope(EXCHANGE, body)
    client = _client(node.port)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{node.port}") as channel:
            await environment_pb2_grpc.EnvironmentStub(channel).Reset(envelope, timeout=5)
        await client.reset([0], [1])
        port = node.port
        await node.stop(0)
        node = await _start(tmp_path, "catallax/Chain-v0", slots=1, port=port)
        assert node.servicer.epoch != first_epoch
        async with grpc.aio.insecure_channel(f"127.0.0.1:{node.port}") as channel:
            stub = environment_pb2_grpc.EnvironmentStub(channel)
            got, details = await _code(stub.Reset, envelope)
            assert (got, details.split(":")[0]) == (
                grpc.StatusCode.FAILED_PRECONDITION,
                "StaleEpoch",
            )
        with pytest.raises(StaleEpoch):
            await client.reset([0], [1])
        obs, _ = await client.reset([0], [1])  # it read the new Spec: fresh numbers pass
        assert obs.tolist() == [0] and client.epoch == node.servicer.epoch
    finally:
        await client.close()
        await node.stop(0)


def _health_and_reflection(address: str) -> tuple[int, set[str]]:
    with grpc.insecure_channel(address) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="catallax.v1.Environment"), timeout=5
        )
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    return status.status, services


async def test_health_and_reflection_in_process(tmp_path):
    node = await _start(tmp_path, "catallax/Chain-v0", slots=1)
    try:
        status, services = await asyncio.to_thread(_health_and_reflection, f"127.0.0.1:{node.port}")
        assert status == health_pb2.HealthCheckResponse.SERVING
        assert {"catallax.v1.Environment", "grpc.health.v1.Health"} <= services
    finally:
        await node.stop(0)


def _keys(tmp_path: Path) -> tuple[Path, Path]:
    node = save_private_key(NODE, tmp_path / "node.pem")
    exchange = save_private_key(EXCHANGE, tmp_path / "exchange.pem")
    return node, exchange.with_name("exchange.pem.pub")


def _catallax() -> str:
    return str(Path(sys.executable).with_name("catallax"))


def test_subprocess_serves_checks_health_and_stops_on_sigterm(tmp_path):
    node_key, exchange_pub = _keys(tmp_path)
    proc = subprocess.Popen(
        [_catallax(), "node", "env", "catallax/Chain-v0", "--port", "0", "--slots", "3",
         "--key", str(node_key), "--exchange-key", str(exchange_pub),
         "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the node did not start"
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on 127.0.0.1:"), line
        address = line.removeprefix("listening on ")
        status, services = _health_and_reflection(address)
        assert status == health_pb2.HealthCheckResponse.SERVING
        assert "catallax.v1.Environment" in services

        async def run() -> None:
            async with _client(int(address.rsplit(":", 1)[1])) as client:
                await _check_matches_local(client, "catallax/Chain-v0", 3, 50)

        asyncio.run(run())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        logs = proc.stderr.read()
        assert "event=start" in logs and "event=rpc rpc=Step" in logs and "event=stop" in logs
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no/Such-v9"], "cannot make this environment"),
        (["catallax/Chain-v0", "--slots", "0"], "--slots"),
        (["catallax/Chain-v0", "--port", "70000"], "--port"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(tmp_path, argv, message):
    node_key, exchange_pub = _keys(tmp_path)
    proc = subprocess.run(
        [_catallax(), "node", "env", *argv, "--key", str(node_key),
         "--exchange-key", str(exchange_pub), "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("catallax: error: ") and message in lines[0]
