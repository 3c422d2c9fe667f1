"""Read count matrices, check that they are counts, and write results atomically."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError

_TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt", ".txt.gz")


def read_input(
    path: str | os.PathLike,
    *,
    layer: str | None = None,
    transpose: bool = False,
    keep_annotations: bool = False,
) -> ad.AnnData:
    """Read `.h5ad`, 10x `.h5`, a 10x matrix folder or a cells x genes table.

    By default the counts end up in `X` as float32 CSR, whatever the source, so every later step
    sees one form. With `keep_annotations` the AnnData comes back whole (X, layers, obsm, varm,
    obsp, uns untouched; take the counts with `counts_of`), so the output can be the user's
    object, annotated. Any failure to parse becomes an `InputError` naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    name = path.name.lower()
    try:
        if path.is_dir():
            adata = _read_10x_folder(path)
        elif name.endswith(".h5ad"):
            _check_h5ad(path, layer)
            adata = ad.read_h5ad(path)
        elif name.endswith(".h5"):
            import scanpy as sc

            _check_10x_h5(path)
            adata = sc.read_10x_h5(path)
        elif name.endswith(_TABLE_SUFFIXES):
            sep = "\t" if ".tsv" in name or ".txt" in name else ","
            frame = pd.read_csv(path, sep=sep, index_col=0)
            if frame.isna().to_numpy().any():
                _check_ragged(path, sep)
            if transpose:
                frame = frame.T
            adata = ad.AnnData(
                X=sp.csr_matrix(frame.to_numpy(dtype=np.float64)),
                obs=pd.DataFrame(index=frame.index.astype(str)),
                var=pd.DataFrame(index=frame.columns.astype(str)),
            )
            transpose = False
        else:
            raise InputError(
                f"unsupported input format: {path} (use .h5ad, .h5, a 10x folder, .csv or .tsv)"
            )
    except InputError:
        raise
    except Exception as exc:  # any parser failure is the file's fault, not ours
        raise InputError(
            f"cannot read {path}: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from exc

    _check_sparse_parts(adata, path)
    if layer is not None and layer not in adata.layers:
        raise InputError(f"layer '{layer}' not found in {path} (has: {list(adata.layers)})")
    if transpose:
        adata = adata.T
    try:
        counts = counts_of(adata, layer)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    if not keep_annotations:
        adata = ad.AnnData(X=counts, obs=adata.obs.copy(), var=adata.var.copy())
    _make_names_unique(adata)
    return adata


def _check_sparse_parts(adata: ad.AnnData, path: Path) -> None:
    """Every sparse matrix in the file must be well formed: scipy crashes (segfaults) when it
    slices one whose indices point outside it, and QC slices them all."""
    parts = {"X": adata.X}
    for name in ("layers", "obsm", "varm", "obsp", "varp"):
        parts.update({f"{name}['{k}']": v for k, v in getattr(adata, name).items()})
    for where, x in parts.items():
        if sp.issparse(x) and hasattr(x, "check_format"):
            try:
                x.check_format(full_check=True)
            except (ValueError, TypeError, IndexError) as exc:
                raise InputError(f"{path}: corrupt sparse matrix {where} ({exc})") from None


def counts_of(adata: ad.AnnData, layer: str | None = None) -> sp.csr_matrix:
    """The counts (X or a layer) as float32 CSR, without touching the AnnData."""
    x = adata.layers[layer] if layer is not None else adata.X
    if x is None:
        raise InputError(
            f"has no X matrix; name the layer holding the counts with --layer "
            f"(layers: {list(adata.layers)})"
        )
    try:
        return _as_csr32(x)
    except (TypeError, ValueError) as exc:
        where = f"layer '{layer}'" if layer is not None else "X"
        raise InputError(f"{where} is not a numeric matrix ({exc})".splitlines()[0]) from None


def _check_h5ad(path: Path, layer: str | None) -> None:
    """Name what is missing before anndata reports it as a shape mismatch."""
    import h5py

    with h5py.File(path, "r") as f:
        if "obs" not in f or "var" not in f:
            raise InputError(f"{path} is not an AnnData .h5ad file (no obs/var groups)")
        if layer is None and "X" not in f:
            layers = list(f["layers"]) if "layers" in f else []
            raise InputError(
                f"{path} has no X matrix; name the layer holding the counts with --layer "
                f"(layers: {layers})"
            )


def _check_10x_h5(path: Path) -> None:
    """A plain HDF5 file is not a 10x matrix: say so instead of a parser's AttributeError.

    The sparse structure is checked too: scanpy builds the matrix unchecked, and scipy indexing
    a corrupt one crashes the process (a segfault, found by fuzzing) instead of raising.
    """
    import h5py

    with h5py.File(path, "r") as f:
        groups = [f["matrix"]] if "matrix" in f else list(f.values())
        needed = ("data", "indices", "indptr", "shape", "barcodes")
        if not groups or not all(
            isinstance(g, h5py.Group) and all(isinstance(g.get(k), h5py.Dataset) for k in needed)
            for g in groups
        ):
            hint = " (an AnnData file? name it .h5ad)" if "X" in f and "obs" in f else ""
            raise InputError(
                f"{path} is not a 10x HDF5 matrix: expected a 'matrix' group with "
                f"data/indices/indptr/shape/barcodes{hint}"
            )
        for group in groups:
            names = group.get("features/name") if "matrix" in f else group.get("gene_names")
            n_names = names.shape[0] if isinstance(names, h5py.Dataset) and names.ndim else None
            _check_csc(
                path,
                group["shape"][()],
                group["indptr"][()],
                group["indices"][()],
                group["data"].shape,
                group["barcodes"].shape,
                n_names,
            )


def _check_csc(path, shape, indptr, indices, data_shape, barcodes_shape, n_names) -> None:
    """Genes x cells CSC parts must agree with each other and with the name lists."""

    def bad(why: str):
        return InputError(f"{path}: corrupt 10x matrix ({why})")

    shape, indptr, indices = np.asarray(shape), np.asarray(indptr), np.asarray(indices)
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or shape.min() < 0:
        raise bad(f"shape {shape.tolist()!r}")
    n_genes, n_cells = (int(v) for v in shape)
    if indptr.ndim != 1 or indptr.dtype.kind not in "iu" or indptr.size != n_cells + 1:
        raise bad(f"indptr has {indptr.size} entries for {n_cells} cells")
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise bad("indptr is not increasing from 0")
    nnz = int(indptr[-1])
    if indices.ndim != 1 or indices.dtype.kind not in "iu" or indices.size != nnz:
        raise bad(f"{indices.size} indices for {nnz} entries")
    if len(data_shape) != 1 or data_shape[0] != nnz:
        raise bad(f"data shape {data_shape} for {nnz} entries")
    if nnz and (indices.min() < 0 or indices.max() >= n_genes):
        raise bad(f"gene indices outside 0..{n_genes - 1}")
    if len(barcodes_shape) != 1 or barcodes_shape[0] != n_cells:
        raise bad(f"{barcodes_shape} barcodes for {n_cells} cells")
    if n_names is None or n_names != n_genes:
        raise bad(f"{n_names} gene names for {n_genes} genes")


def _check_ragged(path: Path, sep: str) -> None:
    """pandas pads a short row with NaN: find it and name it, instead of blaming the values."""
    import csv
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", newline="") as fh:
        reader = csv.reader(fh, delimiter=sep)
        header = next(reader, [])
        for number, row in enumerate(reader, start=2):
            if row and len(row) < len(header):
                raise InputError(
                    f"{path}: line {number} has {len(row)} fields, the header has {len(header)}"
                )


def _read_10x_folder(path: Path) -> ad.AnnData:
    """Cell Ranger matrix folder, v2 (genes.tsv) or v3 (features.tsv), gzipped or not."""
    import gzip

    def find(*names: str) -> Path:
        for name in names:
            for candidate in (path / name, path / f"{name}.gz"):
                if candidate.exists():
                    return candidate
        raise InputError(f"{path} is not a 10x matrix folder (missing {' or '.join(names)}[.gz])")

    def opener(p: Path):
        return gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")

    matrix, features, barcodes = (
        find("matrix.mtx"),
        find("features.tsv", "genes.tsv"),
        find("barcodes.tsv"),
    )
    genes = pd.read_csv(features, sep="\t", header=None, dtype=str)
    cells = pd.read_csv(barcodes, sep="\t", header=None, dtype=str)
    with opener(matrix) as fh:  # 10x stores genes x cells
        x = _read_mtx(fh, matrix, shape=(len(genes), len(cells))).T.tocsr()
    symbols = genes[1] if genes.shape[1] > 1 else genes[0]
    var = pd.DataFrame({"gene_ids": genes[0].to_numpy()}, index=symbols.to_numpy())
    return ad.AnnData(X=x, obs=pd.DataFrame(index=cells[0].to_numpy()), var=var)


def _read_mtx(fh, path: Path, shape: tuple[int, int]) -> sp.coo_matrix:
    """A MatrixMarket coordinate file, parsed here: scipy's C++ reader aborts the whole process
    (std::terminate) on some corrupt files, which no `except` can catch (found by fuzzing)."""
    header = fh.readline().decode("utf-8", errors="replace").split()
    if len(header) < 5 or header[0] != "%%MatrixMarket" or header[1:3] != ["matrix", "coordinate"]:
        raise InputError(f"{path} is not a MatrixMarket coordinate matrix (header {header[:5]})")
    field, symmetry = header[3].lower(), header[4].lower()
    if field not in ("integer", "real", "pattern") or symmetry != "general":
        raise InputError(f"{path}: unsupported MatrixMarket type '{field} {symmetry}'")
    line = b"%"
    while line.startswith(b"%") or not line.strip():
        line = fh.readline()
        if not line:
            raise InputError(f"{path}: MatrixMarket size line missing")
    try:
        n_rows, n_cols, nnz = (int(v) for v in line.split())
    except ValueError:
        raise InputError(f"{path}: bad MatrixMarket size line {line[:60]!r}") from None
    if (n_rows, n_cols) != shape or nnz < 0:
        raise InputError(
            f"{path}: the matrix is {n_rows} x {n_cols} ({nnz} entries) but the folder names "
            f"{shape[0]} features and {shape[1]} barcodes"
        )
    ncol = 2 if field == "pattern" else 3
    table = (
        pd.read_csv(fh, sep=r"\s+", header=None, comment="%", dtype=np.float64, engine="c")
        if nnz
        else pd.DataFrame(np.zeros((0, ncol)))
    )
    if table.shape != (nnz, ncol) or table.isna().to_numpy().any():
        raise InputError(
            f"{path}: expected {nnz} entries of {ncol} fields, found {table.shape[0]} rows "
            f"of {table.shape[1]} fields"
        )
    values = table.to_numpy()
    rows, cols = values[:, 0], values[:, 1]
    if nnz and (
        np.any(rows != np.floor(rows))
        or np.any(cols != np.floor(cols))
        or rows.min() < 1
        or cols.min() < 1
        or rows.max() > n_rows
        or cols.max() > n_cols
    ):
        raise InputError(f"{path}: MatrixMarket indices outside 1..{n_rows} x 1..{n_cols}")
    data = values[:, 2] if ncol == 3 else np.ones(nnz)
    return sp.coo_matrix(
        (_as_csr32_data(data, path), (rows.astype(np.int64) - 1, cols.astype(np.int64) - 1)),
        shape=(n_rows, n_cols),
    )


def _as_csr32_data(data: np.ndarray, path: Path) -> np.ndarray:
    out = data.astype(np.float32)
    if np.isinf(out).any() and np.isfinite(data).all():
        raise InputError(f"{path}: values up to {np.abs(data).max():.3g} do not fit in float32")
    return out


def _as_csr32(x) -> sp.csr_matrix:
    x = sp.csr_matrix(x) if sp.issparse(x) else sp.csr_matrix(np.asarray(x))
    out = sp.csr_matrix(x, dtype=np.float32)
    if np.isinf(out.data).any() and np.isfinite(x.data[np.isinf(out.data)]).all():
        big = float(np.max(np.abs(x.data[np.isinf(out.data)])))
        raise InputError(
            f"values up to {big:.3g} do not fit in float32 (max {np.finfo(np.float32).max:.3g}); "
            "counts this large are not counts"
        )
    return out


def _make_names_unique(adata: ad.AnnData) -> None:
    for axis, names in (("cell", adata.obs_names), ("gene", adata.var_names)):
        if not names.is_unique:
            warnings.warn(f"duplicate {axis} names were made unique", UserWarning, stacklevel=3)
            if axis == "cell":
                adata.obs_names_make_unique()
            else:
                adata.var_names_make_unique()
