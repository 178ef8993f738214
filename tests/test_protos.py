"""The generated protocol code is committed, current, and importable with the runtime."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "proto"
MODULES = ("common", "environment", "exchange", "ledger", "wide")


def _generator():
    spec = importlib.util.spec_from_file_location("_catallax_generate", PROTO / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_not_stale(tmp_path):
    generate = _generator()
    fresh = generate.generate(tmp_path)
    committed = generate.generated_files(PROTO)
    assert fresh == committed, "run python proto/generate.py: the set of files differs"
    stale = [
        str(path) for path in fresh if (tmp_path / path).read_bytes() != (PROTO / path).read_bytes()
    ]
    assert stale == [], f"stale generated files, run python proto/generate.py: {stale}"


def test_every_proto_has_its_generated_files():
    names = sorted(p.stem for p in (PROTO / "catallax" / "v1").glob("*.proto"))
    assert names == sorted(MODULES)
    for name in names:
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert (PROTO / "catallax" / "v1" / f"{name}{suffix}").is_file()


@pytest.mark.parametrize("name", MODULES)
def test_generated_modules_import_with_the_installed_runtime(name):
    pb2 = importlib.import_module(f"catallax.v1.{name}_pb2")
    importlib.import_module(f"catallax.v1.{name}_pb2_grpc")
    assert pb2.DESCRIPTOR.package == "catallax.v1"


def test_services_and_their_methods():
    def methods(module: str, service: str) -> dict[str, tuple[bool, bool]]:
        descriptor = importlib.import_module(f"catallax.v1.{module}_pb2").DESCRIPTOR
        return {
            m.name: (m.client_streaming, m.server_streaming)
            for m in descriptor.services_by_name[service].methods
        }

    assert methods("exchange", "Exchange") == {
        "Register": (False, False),
        "ListTasks": (False, False),
        "Trade": (True, True),
        "Balances": (False, False),
    }
    assert methods("environment", "Environment") == {
        "Spec": (False, False),
        "Reset": (False, False),
        "Step": (False, False),
        "Produce": (False, False),
    }
    assert methods("ledger", "Ledger") == {
        "LatestCheckpoint": (False, False),
        "Entries": (False, False),
        "InclusionProof": (False, False),
        "ConsistencyProof": (False, False),
        "Tail": (False, True),
    }


def test_signed_bodies_start_with_sequence_and_timestamp():
    """common.proto's convention: fields 1 and 2 of every signed body."""
    from catallax.v1 import environment_pb2, exchange_pb2, wide_pb2

    bodies = [
        exchange_pb2.Registration, exchange_pb2.Registered, exchange_pb2.Hello,
        exchange_pb2.Round, exchange_pb2.Bids,
        environment_pb2.SpecRequest, environment_pb2.EnvSpec, environment_pb2.ResetRequest,
        environment_pb2.ResetReply, environment_pb2.StepRequest, environment_pb2.StepReply,
        wide_pb2.WideRound, wide_pb2.Orders, wide_pb2.PriceProposal,
        wide_pb2.Demand,
    ]  # fmt: skip
    for body in bodies:
        fields = body.DESCRIPTOR.fields_by_number
        assert fields[1].name == "sequence", body.DESCRIPTOR.name
        assert fields[2].name == "timestamp_ms", body.DESCRIPTOR.name
        assert fields[1].type == fields[1].TYPE_UINT64
        assert fields[2].type == fields[2].TYPE_INT64


def test_library_code_never_imports_generated_code():
    """STYLE.md 6: exchange/ and traders/ never see a _pb2 module (nor catallax.v1)."""
    import ast

    offenders = []
    for package in ("exchange", "traders"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                else:
                    continue
                for name in names:
                    if (
                        "_pb2" in name
                        or name == "catallax.v1"
                        or name.startswith(("catallax.v1.", "google.protobuf", "grpc"))
                    ):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert offenders == []
