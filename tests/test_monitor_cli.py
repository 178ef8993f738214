"""The monitoring commands' bad input (one line on stderr, status 2, nothing started),
``catallax plot`` on a real ledger, and the web monitor's HTTP endpoints."""

from __future__ import annotations

import asyncio
import json

import pytest

from catallax.exchange.crypto import generate_private_key, public_key_bytes
from catallax.exchange.ledger import (
    Account,
    AccountKind,
    Opening,
    Transfer,
    TransferKind,
    open_ledger,
)
from catallax.node.keys import save_private_key
from catallax.node.monitor import NetworkView, Status, TaskStatus, exchange_id
from catallax.node.monitor.web import WebMonitor

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def key_file(tmp_path):
    return save_private_key(generate_private_key(), tmp_path / "exchange.pem")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["monitor"], "give --mqtt HOST:PORT or --exchange HOST:PORT"),
        (["monitor", "--mqtt", "nope"], "--mqtt 'nope': expected HOST:PORT"),
        (["monitor", "--exchange", "h:99999"], "--exchange 'h:99999': expected HOST:PORT"),
        (["monitor", "--mqtt", "h:1", "--web", "70000"], "--web: expected a port"),
        (["monitor", "--mqtt", "h:1", "--top", "0"], "--top: expected 1 .. 1000"),
        (["monitor", "--mqtt", "h:1", "--key", "/nonexistent.pem"], "/nonexistent.pem"),
        (["ledger", "watch"], "give --mqtt HOST:PORT or --exchange HOST:PORT"),
        (["ledger", "watch", "--mqtt", "h:1", "--since", "x"], "--since: give the one"),
        (["plot", "/nonexistent", "-o", "x.png"], "'/nonexistent': no such ledger folder"),
        (["trader", "run", "adaptive", "--task", "t", "--key", "k.pem", "--mqtt", "h:1",
          "--exchange", "h:2"], "--mqtt: give one --task and no --exchange"),
        (["trader", "run", "adaptive", "--task", "t", "--key", "k.pem", "--mqtt", "h"],
         "--mqtt 'h': expected HOST:PORT"),
        (["node", "exchange", "--config", "c.toml", "--mqtt", "x"], "--mqtt 'x'"),
        (["node", "exchange", "--config", "c.toml", "--mqtt", "h:1", "--advertise", "y"],
         "--advertise 'y'"),
        (["demo", "--mqtt", "h:0"], "--mqtt 'h:0': expected HOST:PORT"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_status_2(catallax_cli, argv, says):
    code, out, err = catallax_cli(*argv)
    assert code == 2
    assert err.startswith("catallax: error: ") and err.count("\n") == 1, err
    assert says in err
    assert out == ""


def test_watch_refuses_a_kept_checkpoint_that_is_not_signed_by_the_key(
    catallax_cli, tmp_path, key_file
):
    other = generate_private_key()
    with open_ledger(tmp_path / "l", key=other, origin="catallax.test/other", create=True) as led:
        (tmp_path / "kept.txt").write_text(led.checkpoint)
    watch = ("ledger", "watch", "--mqtt", "h:1", "--key", f"{key_file}.pub", "--since")
    code, _, err = catallax_cli(*watch, str(tmp_path / "kept.txt"))
    assert code == 2 and "--since" in err and "no signature by key" in err
    (tmp_path / "junk.txt").write_text("not a checkpoint\n")
    code, _, err = catallax_cli(*watch, str(tmp_path / "junk.txt"))
    assert code == 2 and "not a signed checkpoint" in err


def _small_ledger(folder, key):
    pub = public_key_bytes(key)
    traders = [f"t.{'ab' * 16}.0", f"t.{'cd' * 16}.0"]
    with open_ledger(folder, key=key, origin="catallax.test/plot", create=True) as ledger:
        ledger.commit_round(
            [Opening(Account("t.issuer", AccountKind.ISSUER, pub))]
            + [
                Opening(Account(a, AccountKind.TRADER, public_key_bytes(generate_private_key())))
                for a in traders
            ]
        )
        for r in range(1, 30):
            ledger.commit_round(
                [
                    Transfer(
                        f"t.{r}.0",
                        "t.issuer",
                        traders[r % 2],
                        1000 * r,
                        TransferKind.REWARD,
                        task="t",
                        round=r,
                    )
                ]
            )
        return ledger.size


def test_plot_draws_a_ledger(catallax_cli, tmp_path, key_file):
    _small_ledger(tmp_path / "ledger", generate_private_key())
    out_png = tmp_path / "history.png"
    code, out, err = catallax_cli("plot", str(tmp_path / "ledger"), "-o", str(out_png))
    assert code == 0, err
    assert out.strip() == f"wrote {out_png}"
    assert out_png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    code, _, err = catallax_cli("plot", str(tmp_path / "ledger"), "-o", str(tmp_path / "x.txt"))
    assert code == 2 and "expected a .png file" in err
    assert not (tmp_path / "x.txt").exists()


async def _get(port: int, request: bytes) -> tuple[str, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode()
    length = [
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    ]
    body = await reader.readexactly(length[0]) if length else await reader.readline()
    if not length:  # an event stream: "data: <json>" then a blank line
        body = body + await reader.readline()
    writer.close()
    return status, body


async def test_the_web_endpoints(tmp_path):
    key = public_key_bytes(generate_private_key())
    view = NetworkView()
    ex = exchange_id(key)
    view.on_status(
        Status(ex, "catallax.test/web", key, "127.0.0.1:1", (TaskStatus("t"),), "online")
    )
    web = WebMonitor(view)
    await web.start()
    try:
        status, body = await _get(web.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == "HTTP/1.1 200 OK" and b"<title>catallax monitor</title>" in body
        status, body = await _get(web.port, b"GET /api/snapshot HTTP/1.1\r\n\r\n")
        snap = json.loads(body)
        assert status.endswith("200 OK") and snap["exchanges"][0]["exchange"] == ex
        status, body = await _get(web.port, b"GET /events HTTP/1.1\r\n\r\n")
        assert body.startswith(b"data: ")
        assert json.loads(body[6:])["exchanges"][0]["origin"] == "catallax.test/web"
        assert (await _get(web.port, b"GET /nope HTTP/1.1\r\n\r\n"))[0].endswith("404 Not Found")
        assert (await _get(web.port, b"POST / HTTP/1.1\r\n\r\n"))[0].endswith(
            "405 Method Not Allowed"
        )
        assert (await _get(web.port, b"garbage\r\n\r\n"))[0].endswith("400 Bad Request")
    finally:
        await web.stop()


def test_the_monitor_package_exports_what_it_says():
    import catallax.node.monitor as monitor

    assert set(monitor.__all__) == {
        "PREFIX", "VERSION", "Topic", "exchange_id", "parse_topic", "topic",
        "CheckpointMsg", "EntryMsg", "RoundMsg", "Status", "TaskStatus", "checkpoint_payload",
        "entry_payload", "ledger_payload", "parse_checkpoint_msg", "parse_entry",
        "parse_ledger", "parse_round", "parse_status", "round_payload", "status_payload",
        "CURSOR_FILE", "MqttPublisher", "summarise_rounds", "Advance", "CheckpointChain",
        "describe_checkpoint", "ExchangeView", "Follower", "NetworkView", "follow_all",
        "follow_grpc", "follow_mqtt", "parse_address",
    }  # fmt: skip
    assert len(monitor.__all__) == len(set(monitor.__all__))
    for name in monitor.__all__:
        assert hasattr(monitor, name), name
