"""The web monitor in a real headless Chromium, against a running network.

``catallax monitor --web 0 --mqtt ...`` serves the page; Chromium (Debian's ``chromium``,
driven over its DevTools protocol on a pipe: ``--remote-debugging-pipe``, messages are
JSON separated by NUL bytes on file descriptors 3 and 4) opens it, the test waits for
live rounds to appear (a promise on the page's ``catallax-update`` event, no sleeping),
stops the traders, waits for the page to show the ledger's final checkpoint, and
checks what the page shows (entries, rounds, checkpoint, each identity's wealth) against
the ledger itself. The test skips, saying why, without Chromium; ``.ci/run`` installs it
and sets ``CATALLAX_REQUIRE_BROWSER=1``, which turns the skip into a failure. With
``CATALLAX_SCREENSHOTS=DIR`` it also saves the page as ``DIR/monitor-web.png``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from catallax.exchange.ledger import AccountKind, open_ledger
from catallax.node.exchange.watch import wait_task
from catallax.node.localnet import launch, start_deep_network
from catallax.node.monitor import exchange_id, summarise_rounds
from catallax.node.wire.mandate import identity_name

pytestmark = pytest.mark.timeout(300)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("CATALLAX_REQUIRE_BROWSER") == "1":
    raise RuntimeError("CATALLAX_REQUIRE_BROWSER=1 but no chromium is installed")
if CHROMIUM is None:
    pytest.skip("no chromium binary (apt-get install chromium)", allow_module_level=True)

TASK = "chain"
PATIENCE = 90.0


class Chromium:
    """A headless Chromium driven over the DevTools protocol on a pipe."""

    def __init__(self, folder: Path) -> None:
        ours_in, theirs_in = os.pipe()  # Chromium reads commands on its fd 3
        theirs_out, ours_out = os.pipe()  # and writes replies on its fd 4

        def fds() -> None:
            os.dup2(ours_in, 3)
            os.dup2(ours_out, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-pipe", f"--user-data-dir={folder}", "--window-size=1400,1100",
             "--hide-scrollbars", "about:blank"],
            pass_fds=(3, 4), preexec_fn=fds, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(folder.parent / "chromium.log", "ab"),  # noqa: SIM115
        )  # fmt: skip
        os.close(ours_in)
        os.close(ours_out)
        self._write = theirs_in
        self._read = theirs_out
        self._replies: dict[int, dict] = {}
        self._events: list[str] = []
        self._cond = threading.Condition()
        self._next = 0
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        self.session = ""

    def _pump(self) -> None:
        buffer = b""
        while chunk := os.read(self._read, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._cond:
                for raw in messages:
                    msg = json.loads(raw)
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self._events.append(msg.get("method", ""))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def call(self, method: str, timeout: float = PATIENCE, **params) -> dict:
        with self._cond:
            self._next += 1
            ident = self._next
        msg = {"id": ident, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._write, json.dumps(msg).encode() + b"\0")
        with self._cond:
            if not self._cond.wait_for(lambda: ident in self._replies, timeout):
                raise AssertionError(f"chromium: no reply to {method} in {timeout:g} s")
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise AssertionError(f"chromium: {method}: {reply['error']}")
        return reply["result"]

    def open(self, url: str) -> None:
        """Open ``url`` in a new tab and wait for its load event."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable")
        with self._cond:
            self._events.clear()
        self.call("Page.navigate", url=url)
        with self._cond:
            if not self._cond.wait_for(lambda: "Page.loadEventFired" in self._events, PATIENCE):
                raise AssertionError(f"chromium: {url} did not load")

    def evaluate(self, expression: str, timeout: float = PATIENCE):
        result = self.call("Runtime.evaluate", timeout=timeout, expression=expression,
                           awaitPromise=True, returnByValue=True)  # fmt: skip
        if "exceptionDetails" in result:
            raise AssertionError(f"page: {result['exceptionDetails']}")
        return result["result"].get("value")

    def until(self, condition: str, timeout: float = PATIENCE):
        """Wait until the JavaScript ``condition`` (over the snapshot ``s``) holds after
        an update of the page; returns its value."""
        return self.evaluate(
            "new Promise(resolve => { const check = () => { const s = window.catallax;"
            f" const v = s && ({condition}); if (v) resolve(v); }};"
            " check(); window.addEventListener('catallax-update', check); })",
            timeout,
        )

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._write)
        self._reader.join(5)
        os.close(self._read)


READ_PAGE = """(() => {
  const cells = (sel) => [...document.querySelectorAll(sel)].map(td => td.textContent);
  return {
    entries: cells("#exchanges tbody td.entries"),
    rounds: cells("#exchanges tbody td.rounds"),
    size: cells("#checkpoints tbody td.size"),
    signature: cells("#checkpoints tbody td:nth-child(4)"),
    match: cells("#checkpoints tbody td:nth-child(6)"),
    richest: [...document.querySelectorAll("#richest tbody tr")].map(
      tr => [tr.dataset.identity, tr.querySelector("td.total").textContent]),
    recent: [...document.querySelectorAll("#rounds tbody tr")].map(tr => Number(tr.dataset.round)),
  };
})()"""


def test_the_web_monitor_shows_live_rounds_and_what_the_ledger_holds(tmp_path, mqtt_broker):
    broker = f"{mqtt_broker[0]}:{mqtt_broker[1]}"
    net = start_deep_network(
        tmp_path / "net", "catallax/Chain-v0", task=TASK, origin="catallax.local/web",
        rules={"bid_deadline_ms": 1500, "min_traders": 1}, seed=9,
        traders=[("adaptive", {}), ("adaptive", {}), ("adaptive", {})],
        exchange_args=["--mqtt", broker],
    )  # fmt: skip
    key = net.exchange_pub
    ex = exchange_id(bytes.fromhex(_raw_key_hex(key)))
    web = net.add(launch("monitor", ["monitor", "--web", "0", "--mqtt", broker, "--key", str(key)],
                         tmp_path / "monitor.log"))  # fmt: skip
    profile = tmp_path / "chromium"
    profile.mkdir()
    browser = Chromium(profile)
    try:
        browser.open(f"http://{web.address}/")
        mine = f"s.exchanges.find(e => e.exchange === '{ex}')"
        assert browser.until(f"{mine} && {mine}.rounds_seen >= 5 && {mine}.rounds_seen")
        assert browser.evaluate("document.querySelectorAll('#rounds tbody tr').length") > 0
        for trader in net.traders:
            trader.stop()
        wait_task(net.exchange.address, TASK, lambda i: i.sessions == 0, timeout=PATIENCE)
        with open_ledger(net.ledger_dir, verify=False) as ledger:
            size = ledger.size
            wealth: dict[str, int] = {}
            for state in ledger.accounts():
                acc = state.account
                if acc.kind is AccountKind.TRADER:
                    who = identity_name(acc.public_key)
                    wealth[who] = wealth.get(who, 0) + state.balance
            rounds = summarise_rounds(ex, list(ledger.entries()))
        browser.until(f"{mine} && {mine}.checkpoint && {mine}.checkpoint.size === {size}")
        page = browser.evaluate(READ_PAGE)
        shot = browser.screenshot()
    finally:
        browser.close()
        net.stop()
    assert page["entries"] == [str(size)] and page["size"] == [str(size)]
    assert page["signature"] == ["yes"] and page["match"] == ["yes"]
    assert page["rounds"] == [str(len(rounds))]
    assert page["recent"] == [r.round for r in rounds][-10:][::-1]  # the newest first
    shown = dict(page["richest"])
    assert shown == {who: f"{units / 1e6:.6f}" for who, units in wealth.items()}
    assert shot.startswith(b"\x89PNG\r\n\x1a\n") and len(shot) > 10_000
    where = os.environ.get("CATALLAX_SCREENSHOTS")
    if where:
        Path(where, "monitor-web.png").write_bytes(shot)


def _raw_key_hex(path: Path) -> str:
    from catallax.node.keys import load_public_key

    return load_public_key(path).hex()
