"""A ledger in PostgreSQL from end to end: ``open_ledger(URL)``, the command line on a
URL, and an exchange node whose ``[exchange] ledger`` is a ``postgresql://`` URL.

The store's own contract is in ``tests/test_ledger_store.py``; the server and a fresh
schema per test come from ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from catallax.exchange import crypto
from catallax.exchange.ledger import (
    InvalidArgument,
    LedgerStateError,
    LedgerUnavailable,
    NoLedger,
    Transfer,
    WriterLocked,
    open_ledger,
    verifier_key,
)
from catallax.exchange.ledger.evidence import authorize_transfers
from catallax.node import keys
from catallax.node.exchange.config import ConfigError, parse_config
from catallax.node.exchange.watch import wait_task
from catallax.node.keys import load_public_key
from catallax.node.ledger_client import verify_remote
from catallax.node.localnet import catallax_command, launch, new_key, write_toml

ORIGIN = "catallax.test/postgres"
CHAIN = "catallax/Chain-v0"


@pytest.fixture
def filled(postgres_url: str, tmp_path: Path) -> tuple[str, Path]:
    """A PostgreSQL ledger with an issuer, a trader, the treasury and some rounds; and
    the exchange's public key file."""
    key, trader = crypto.generate_private_key(), crypto.generate_private_key()
    keys.save_private_key(key, tmp_path / "exchange.pem")
    with open_ledger(
        postgres_url, key=key, origin=ORIGIN, create=True, checkpoint_interval=4
    ) as ledger:
        ledger.open_account("env", "issuer", crypto.public_key_bytes(key))
        ledger.open_account("t1", "trader", crypto.public_key_bytes(trader))
        ledger.open_account("treasury", "treasury")
        ledger.commit_round([Transfer("allow", "env", "t1", 3_000_000, "allowance")])
        for r in range(3):
            rent = Transfer(f"rent-{r}", "t1", "treasury", 1000 + r, "rent", "chain", r)
            ledger.commit_round(authorize_transfers([rent], {"t1": trader}, ORIGIN))
    return postgres_url, tmp_path / "exchange.pem.pub"


def test_open_ledger_on_a_url_writes_reopens_and_audits(filled, tmp_path: Path) -> None:
    url, _ = filled
    key = keys.load_private_key(tmp_path / "exchange.pem")
    with open_ledger(url, key=key) as writer:
        assert writer.size == 7 and writer.balance("treasury") == 3003
        with pytest.raises(WriterLocked, match="another writer holds"):
            open_ledger(url, key=key)
        with open_ledger(url) as reader:  # readers are never locked out
            assert reader.readonly and reader.audit().transfers == 4
        writer.commit_round([Transfer("more", "env", "t1", 5, "allowance")])
    with open_ledger(url, create=True, key=key, origin=ORIGIN) as again:  # opened as it is
        assert again.size == 8 and again.checkpoint_interval == 4
    with pytest.raises(LedgerStateError, match="origin"):
        open_ledger(url, key=key, origin="catallax.test/other")
    empty = url.rsplit("schema=", 1)[0] + "schema=nothing_here"
    with pytest.raises(NoLedger, match="no ledger here"):
        open_ledger(empty)
    with pytest.raises(InvalidArgument, match="schema"):
        open_ledger(url.rsplit("schema=", 1)[0] + "schema=No%20Such")


def test_a_writer_whose_session_the_server_ends_is_unavailable_until_reopened(
    filled, tmp_path: Path, postgres_server: str
) -> None:
    """The server ends the writer's session (as a restart of PostgreSQL does): the next
    commit is refused as :class:`LedgerUnavailable` with nothing written, every later
    use too, and the ledger reopened commits it."""
    import psycopg

    url, _ = filled
    key = keys.load_private_key(tmp_path / "exchange.pem")
    allow = Transfer("allow-after", "env", "t1", 5, "allowance")  # needs no mandate
    with open_ledger(url, key=key) as writer:
        (pid,) = writer._store._db.execute("SELECT pg_backend_pid()").fetchone()
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(LedgerUnavailable, match=r"did not land|reopen the ledger"):
            writer.commit_round([allow])
        with pytest.raises(LedgerUnavailable, match="reopen the ledger"):
            writer.commit_round([allow])
        with pytest.raises(LedgerUnavailable, match="reopen the ledger"):
            writer.entry(0)
    with open_ledger(url, key=key) as again:
        assert again.size == 7 and again.balance("t1") == 3_000_000 - 3003  # nothing landed
        again.commit_round([allow])
        assert again.balance("t1") == 3_000_000 - 3003 + 5
        again.audit()


async def test_the_ledger_service_reconnects_when_the_server_ends_its_sessions(
    filled, postgres_server: str
) -> None:
    """The server ends the Ledger service's sessions (its watch and its snapshot): the
    next read opens them again and is answered, with what a writer committed since."""
    import psycopg

    from catallax.node.ledger_service import LedgerSource

    url, _ = filled
    source = LedgerSource(url, verify=True)
    try:
        assert await source.read(lambda ledger: ledger.size) == 7
        pids = [store._db.execute("SELECT pg_backend_pid()").fetchone()[0]
                for store in (source._watch, source._ledger._store)]  # fmt: skip
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert await source.read(lambda ledger: ledger.size) == 7
        assert await source.read(lambda ledger: ledger.entry(6).amount) == 1002
    finally:
        source.close()


def test_the_cli_reads_a_url_like_a_folder(catallax_cli, filled) -> None:
    url, pub = filled
    status, out, err = catallax_cli("ledger", "audit", url, "--key", str(pub))
    assert status == 0, err
    assert out.startswith("ok: 7 entries, 3 accounts, 4 transfers, 3 evidence signatures")
    status, out, _ = catallax_cli("ledger", "verify", url, "--key", str(pub))
    assert status == 0 and out.startswith("ok: 7 entries")
    status, out, _ = catallax_cli("ledger", "balances", url, "--json")
    assert status == 0 and '"account": "treasury"' in out and '"balance": 3003' in out
    status, out, _ = catallax_cli("ledger", "tail", url, "-n", "2")
    assert status == 0 and "rent-2" in out


def test_keys_show_takes_the_name_from_a_url_ledger(catallax_cli, filled) -> None:
    url, pub = filled
    status, out, err = catallax_cli("keys", "show", str(pub), "--vkey", "--ledger", url)
    assert status == 0, err
    assert out.strip() == verifier_key(ORIGIN, load_public_key(pub))
    other = str(pub.parent / "other.pem")
    keys.save_private_key(crypto.generate_private_key(), pub.parent / "other.pem")
    status, _, err = catallax_cli("keys", "show", other + ".pub", "--vkey", "--ledger", url)
    assert status == 2 and "not the key of the ledger" in err and err.count("\n") == 1
    dead = "postgresql://root:secret@127.0.0.1:1/test"
    status, _, err = catallax_cli("keys", "show", str(pub), "--vkey", "--ledger", dead)
    assert status == 2 and "cannot connect" in err and err.count("\n") == 1
    assert "secret" not in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["ledger", "audit", "postgresql://root@127.0.0.1:1/test?schema=x"], "cannot connect"),
        (["ledger", "balances", "postgresql://root:secret@127.0.0.1:1/test"], "cannot connect"),
        (["ledger", "verify", "postgresql://root@127.0.0.1:5432/test?schema=Bad!"], "schema"),
        (["ledger", "verify", "postgresql://root@127.0.0.1:x/test"], "cannot connect"),
        (["ledger", "verify", "postgresql://h/test?bogus=1"], "not a usable URL"),
        (["ledger", "tail", "mysql://root@127.0.0.1/test"], "not a ledger location"),
        (["ledger", "serve", "postgresql://root@127.0.0.1:1/test"], "cannot connect"),
    ],
)
def test_bad_urls_and_dead_servers_are_one_line_and_status_2(catallax_cli, argv, said) -> None:
    status, out, err = catallax_cli(*argv)
    assert status == 2, (out, err)
    assert err.startswith("catallax: error:") and err.count("\n") == 1, err
    assert said in err and "secret" not in err


def test_a_missing_schema_is_status_2(catallax_cli, postgres_url: str) -> None:
    status, _, err = catallax_cli("ledger", "verify", postgres_url)
    assert status == 2 and "no ledger here" in err and err.count("\n") == 1


def test_the_exchange_config_takes_a_postgres_url(tmp_path: Path) -> None:
    base = {"origin": ORIGIN, "key": "k.pem", "data_dir": "d"}
    task = {"tasks": {"chain": {"env": "127.0.0.1:1", "env_key": "e.pub"}}}
    url = "postgresql://root@127.0.0.1:5432/test?schema=demo"
    cfg = parse_config({"exchange": {**base, "ledger": url}, **task}, base=tmp_path)
    assert cfg.ledger == url and cfg.data_dir == tmp_path / "d"
    assert parse_config({"exchange": base, **task}, base=tmp_path).ledger is None
    for bad, why in (("ledger-folder", "expected a postgresql:// URL"), (url + "X-", "schema")):
        with pytest.raises(ConfigError, match=why):
            parse_config({"exchange": {**base, "ledger": bad}, **task}, base=tmp_path)


def test_an_exchange_node_runs_on_a_postgres_ledger(tmp_path: Path, postgres_url: str) -> None:
    """A short Chain task on an exchange whose ledger is in PostgreSQL; then its ledger
    is audited through the URL and verified through the exchange's Ledger service."""
    folder = tmp_path
    ex_key, env_key = (
        new_key(folder / "keys" / "exchange.pem"),
        new_key(folder / "keys" / "env.pem"),
    )
    procs = []
    try:
        env = launch(
            "env",
            ["node", "env", CHAIN, "--key", str(env_key), "--slots", "1",
             "--exchange-key", f"{ex_key}.pub", "--data-dir", str(folder / "env")],
            folder / "logs" / "env.log",
        )  # fmt: skip
        procs.append(env)
        config = write_toml(
            folder / "exchange.toml",
            {
                "exchange": {"origin": ORIGIN, "key": str(ex_key), "port": 0,
                             "data_dir": str(folder / "exchange"), "ledger": postgres_url},
                "tasks.chain": {"env": env.address, "env_key": f"{env_key}.pub",
                                "bid_deadline_ms": 10_000},
            },
        )  # fmt: skip
        exchange = launch(
            "exchange", ["node", "exchange", "--config", str(config)], folder / "logs" / "ex.log"
        )
        procs.append(exchange)
        trader_key = new_key(folder / "keys" / "trader-0.pem")
        procs.append(
            launch(
                "trader-0",
                ["trader", "run", "adaptive", "--exchange", exchange.address, "--task",
                 "chain", "--key", str(trader_key), "--seed", "0"],
                folder / "logs" / "trader-0.log",
                ready=False,
            )
        )  # fmt: skip
        wait_task(exchange.address, "chain", lambda i: i.rounds >= 3, timeout=120)
        checked = asyncio.run(verify_remote(exchange.address, load_public_key(f"{ex_key}.pub")))
        assert checked.checkpoint.size > 0 and checked.entries == checked.checkpoint.size
        for proc in reversed(procs):
            assert proc.stop() == 0, proc.tail()
    finally:
        for proc in reversed(procs):
            proc.kill()
    assert not (folder / "exchange" / "ledger.sqlite").exists()  # only the sequence book
    done = subprocess.run(
        [*catallax_command(), "ledger", "audit", postgres_url, "--key", f"{ex_key}.pub"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok:") and "balances sum to 0" in done.stdout


def test_train_records_a_run_on_a_postgresql_ledger_and_refuses_what_would_clash(
    postgres_url: str, tmp_path: Path, catallax_cli
) -> None:
    """``catallax train --ledger URL --ledger-key FILE``: the run's rounds are committed
    to a new ledger in the URL's schema, its key written to FILE, and the ledger audits
    against FILE.pub; a second run on the same schema, a key file that exists, a URL
    without ``--ledger-key`` and ``--ledger-key`` with a folder are refused with one line
    and exit status 2, and leave nothing behind."""
    import json

    from catallax.exchange.ledger.location import describe

    key = tmp_path / "run.pem"
    status, out, err = catallax_cli(
        "train", "CliffWalking-v1", "--episodes", "3", "--envs", "2", "--eval-episodes", "1",
        "--ledger", postgres_url, "--ledger-key", str(key), "--json",
    )  # fmt: skip
    assert status == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["ledger"]["rounds"] > 0 and summary["ledger"]["dir"] == describe(postgres_url)
    with open_ledger(postgres_url) as ledger:
        assert ledger.size == summary["ledger"]["entries"]
        kinds = {e.kind.value for _, e in ledger.entries() if isinstance(e, Transfer)}
    assert {"cost", "allowance"} <= kinds  # a task of costs, on the ledger's rules
    status, out, err = catallax_cli("ledger", "audit", postgres_url, "--key", f"{key}.pub")
    assert status == 0 and out.startswith("ok:"), out + err

    def refused(argv: list[str], says: str) -> None:
        before = sorted(p.name for p in tmp_path.iterdir())
        status, _, err = catallax_cli("train", "catallax/Chain-v0", "--episodes", "2", *argv)
        assert status == 2 and len(err.strip().splitlines()) == 1 and says in err, err
        assert sorted(p.name for p in tmp_path.iterdir()) == before

    refused(["--ledger", postgres_url, "--ledger-key", str(tmp_path / "new.pem")],
            "already holds a ledger; use a new schema")  # fmt: skip
    refused(["--ledger", postgres_url, "--ledger-key", str(key)], "exists; use a new file")
    refused(["--ledger", postgres_url], "needs --ledger-key FILE")
    refused(["--ledger", str(tmp_path / "folder"), "--ledger-key", str(tmp_path / "k.pem")],
            "--ledger-key is for a PostgreSQL --ledger URL")  # fmt: skip
    with open_ledger(postgres_url) as ledger:
        assert ledger.size == summary["ledger"]["entries"]  # the refused runs wrote nothing
