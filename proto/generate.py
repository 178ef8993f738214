"""Regenerate the Python code of the catallax protocol from its ``.proto`` files.

Run ``python proto/generate.py`` after changing a ``.proto`` file in ``proto/catallax/v1/``;
it writes ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` beside them, and the
generated files are committed. ``tests/test_protos.py`` regenerates into a temporary
folder and fails if the committed files differ (stale).

The include root is ``proto/``, so the files are named ``catallax/v1/<name>.proto`` and
the generated imports are already package paths (``from catallax.v1 import common_pb2``).
``grpcio-tools`` pins the ``protoc`` it ships; its version is pinned in ``pyproject.toml``
(the ``dev`` extra) so that the generated code never needs a newer ``protobuf`` runtime
than the one installed.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGE = Path("catallax") / "v1"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files(root: Path = ROOT) -> list[Path]:
    """The ``.proto`` files of the package, relative to the include root."""
    return sorted(p.relative_to(root) for p in (root / PACKAGE).glob("*.proto"))


def generated_files(folder: Path) -> list[Path]:
    """The generated files under ``folder/catallax/v1``, relative to ``folder``."""
    return sorted(
        p.relative_to(folder) for p in (folder / PACKAGE).iterdir() if p.name.endswith(SUFFIXES)
    )


def generate(out: Path, root: Path = ROOT) -> list[Path]:
    """Write the generated code for every ``.proto`` under ``out/catallax/v1``.

    Returns the written files relative to ``out``; raises ``SystemExit`` with protoc's
    status if it fails.
    """
    from grpc_tools import protoc

    (out / PACKAGE).mkdir(parents=True, exist_ok=True)
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={root}",
        f"--proto_path={well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(p) for p in proto_files(root)),
    ]
    status = protoc.main(args)
    if status != 0:
        raise SystemExit(f"protoc failed with status {status}")
    return generated_files(out)


def main() -> None:
    for path in generate(ROOT):
        print(ROOT / path)


if __name__ == "__main__":
    main()
    sys.exit(0)
