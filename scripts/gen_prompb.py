"""Regenerate contracts/prompb/*_pb2.py and .pyi from the .proto files beside them.

Run once after editing a .proto (the generated modules are checked in, so neither the gateway
nor CI needs protoc): `uvx --from grpcio-tools python scripts/gen_prompb.py`, or with any
Python that has grpcio-tools installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "contracts" / "prompb"


def main() -> int:
    for proto in sorted(PROTO_DIR.glob("*.proto")):
        code = protoc.main(
            [
                "protoc",
                f"-I{PROTO_DIR}",
                f"--python_out={PROTO_DIR}",
                f"--pyi_out={PROTO_DIR}",
                str(proto),
            ]
        )
        if code:
            print(f"protoc failed on {proto}", file=sys.stderr)
            return code
        print(f"generated from {proto.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
