"""Write dense layers into an .h5ad one cell chunk at a time, so they never sit in memory whole.

anndata writes everything else (X, obs, var, obsm, uns, the user's own layers) to a temporary
file beside the output; the dense layers are then created there as chunked (optionally
compressed) HDF5 datasets with anndata's array encoding and filled chunk by chunk; a rename
publishes the file. The result reads with `anndata.read_h5ad`, backed mode included.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import anndata as ad
import h5py
import numpy as np

from ..errors import InputError
from .atomic import atomic_path

ChunkFn = Callable[[slice], Mapping[str, np.ndarray]]
ROWS_PER_CHUNK = 2_048
STREAM_ABOVE_BYTES = 1 << 30  # "auto" streams once the dense layers would take more than 1 GiB


def should_stream(
    n_cells: int, n_genes: int, n_layers: int = 1, choice: bool | None = None
) -> bool:
    """`choice` when given; otherwise stream when the dense layers exceed STREAM_ABOVE_BYTES."""
    if choice is not None:
        return bool(choice)
    return n_cells * n_genes * 4 * n_layers > STREAM_ABOVE_BYTES


def fill_layers(chunk_fn: ChunkFn, n_rows: int, rows_per_chunk: int = ROWS_PER_CHUNK) -> dict:
    """The same chunks gathered into in-memory arrays: the non-streamed path, same values."""
    layers: dict[str, np.ndarray] = {}
    for rows in _chunks(n_rows, rows_per_chunk):
        for name, block in chunk_fn(rows).items():
            if name not in layers:
                layers[name] = np.empty((n_rows, block.shape[1]), dtype=block.dtype)
            layers[name][rows] = block
    return layers


def write_h5ad_streamed(
    adata: ad.AnnData,
    path: str | os.PathLike,
    chunk_fn: ChunkFn,
    *,
    rows_per_chunk: int = ROWS_PER_CHUNK,
    compression: str | None = None,
    force: bool = False,
) -> Path:
    """Write `adata` plus the dense layers `chunk_fn(rows)` returns, atomically (temp + rename).

    `chunk_fn` maps a slice of cells to {layer name: rows x columns array}; every call must return
    the same names. Layers already in `adata` with those names are replaced.
    """
    path = Path(path)
    if path.exists() and not force:
        raise InputError(f"output exists: {path} (use --force to overwrite)")
    if compression not in (None, "gzip", "lzf"):
        raise InputError(f"compression must be gzip, lzf or none, got {compression!r}")
    with atomic_path(path, force=force) as tmp:
        n_rows = adata.n_obs
        first = dict(chunk_fn(slice(0, min(rows_per_chunk, n_rows))))
        for name, block in first.items():
            if block.ndim != 2 or block.shape[1] != adata.n_vars:
                raise ValueError(
                    f"layer {name!r} has shape {block.shape}; layers need {adata.n_vars} genes"
                )
        skeleton = adata.copy() if any(k in adata.layers for k in first) else adata
        for name in first:
            if name in skeleton.layers:
                del skeleton.layers[name]
        skeleton.write_h5ad(tmp)
        with h5py.File(tmp, "r+") as f:
            group = f.require_group("layers")
            datasets = {}
            for name, block in first.items():
                datasets[name] = group.create_dataset(
                    name,
                    shape=(n_rows, block.shape[1]),
                    dtype=block.dtype,
                    chunks=(min(rows_per_chunk, n_rows, max(1, (1 << 20) // max(1, block.shape[1]))),
                            block.shape[1]),
                    compression=compression,
                )  # fmt: skip
                datasets[name].attrs["encoding-type"] = "array"
                datasets[name].attrs["encoding-version"] = "0.2.0"
            for i, rows in enumerate(_chunks(n_rows, rows_per_chunk)):
                blocks = first if i == 0 else chunk_fn(rows)
                if set(blocks) != set(datasets):
                    raise ValueError("chunk_fn returned different layers for different chunks")
                for name, block in blocks.items():
                    datasets[name][rows] = block
    return path


def _chunks(n_rows: int, size: int):
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))
