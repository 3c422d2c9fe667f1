"""Hash what `gnnimpute impute` writes, four ways, to show that a refactor keeps the same bytes.

    python scripts/output_hash.py [INPUT.h5ad]      (default: Baron from ../shared/data)

Each way runs `impute --epochs 10 --seed 0 --threads 1 --layers all` in a fresh process:
default (full batch), forced mini-batches, a sampled loss, and streamed output. It prints a
sha256 (16 hex digits) of X, of every layer and of every obsm entry (dtype, shape and bytes;
the file itself holds versions and times), and ALL, a hash of those.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
BARON = ROOT.parent / "shared" / "data" / "baron_mouse_pancreas.h5ad"
COMMON = ["--epochs", "10", "--seed", "0", "--threads", "1", "--layers", "all", "--quiet"]
WAYS = {
    "default": [],
    "minibatch": ["--batch-cells", "256"],
    "losscells": ["--batch-cells", "0", "--loss-cells", "500"],
    "streamed": ["--out-chunked"],
}


def _array_hash(a) -> str:
    h = hashlib.sha256()
    if sp.issparse(a):
        a = a.tocsr()
        parts = (a.data, a.indices, a.indptr)
        h.update(repr(a.shape).encode())
    else:
        parts = (np.asarray(a),)
    for part in parts:
        part = np.ascontiguousarray(part)
        h.update(f"{part.dtype.str}{part.shape}".encode())
        h.update(part.tobytes())
    return h.hexdigest()[:16]


def digest(path: Path) -> dict[str, str]:
    import anndata as ad

    adata = ad.read_h5ad(path)
    out = {"X": _array_hash(adata.X)}
    out |= {f"layers/{k}": _array_hash(adata.layers[k]) for k in sorted(adata.layers.keys())}
    out |= {f"obsm/{k}": _array_hash(adata.obsm[k]) for k in sorted(adata.obsm.keys())}
    out["ALL"] = hashlib.sha256("".join(f"{k}={v};" for k, v in out.items()).encode()).hexdigest()[
        :16
    ]
    return out


def main() -> int:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else BARON
    if not data.exists():
        print(f"input not found: {data}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        for way, extra in WAYS.items():
            out = Path(tmp) / f"{way}.h5ad"
            cmd = [sys.executable, "-m", "gnnimpute.cli", "impute", str(data), str(out)]
            subprocess.run([*cmd, *COMMON, *extra], check=True)
            for name, value in digest(out).items():
                print(f"{way:10s} {name:28s} {value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
