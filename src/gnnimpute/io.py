"""Read count matrices, check that they are counts, and write results atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import InputError

_TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt", ".txt.gz")


def read_input(
    path: str | os.PathLike, *, layer: str | None = None, transpose: bool = False
) -> ad.AnnData:
    """Read `.h5ad`, 10x `.h5`, a 10x matrix folder or a cells x genes table.

    The counts end up in `X` as float32 CSR, whatever the source, so every later step sees one form.
    Any failure to parse becomes an `InputError` naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    name = path.name.lower()
    try:
        if path.is_dir():
            adata = _read_10x_folder(path)
        elif name.endswith(".h5ad"):
            adata = ad.read_h5ad(path)
        elif name.endswith(".h5"):
            import scanpy as sc

            adata = sc.read_10x_h5(path)
        elif name.endswith(_TABLE_SUFFIXES):
            sep = "\t" if ".tsv" in name or ".txt" in name else ","
            frame = pd.read_csv(path, sep=sep, index_col=0)
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

    if layer is not None:
        if layer not in adata.layers:
            raise InputError(f"layer '{layer}' not found in {path} (has: {list(adata.layers)})")
        adata.X = adata.layers[layer]
    if transpose:
        adata = adata.T
    adata = ad.AnnData(X=_as_csr32(adata.X), obs=adata.obs.copy(), var=adata.var.copy())
    _make_names_unique(adata)
    return adata


def _read_10x_folder(path: Path) -> ad.AnnData:
    """Cell Ranger matrix folder, v2 (genes.tsv) or v3 (features.tsv), gzipped or not."""
    import gzip

    import scipy.io

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
    with opener(matrix) as fh:
        x = sp.csr_matrix(scipy.io.mmread(fh).T, dtype=np.float32)  # 10x stores genes x cells
    genes = pd.read_csv(features, sep="\t", header=None, dtype=str)
    cells = pd.read_csv(barcodes, sep="\t", header=None, dtype=str)
    symbols = genes[1] if genes.shape[1] > 1 else genes[0]
    var = pd.DataFrame({"gene_ids": genes[0].to_numpy()}, index=symbols.to_numpy())
    return ad.AnnData(X=x, obs=pd.DataFrame(index=cells[0].to_numpy()), var=var)


def _as_csr32(x) -> sp.csr_matrix:
    if sp.issparse(x):
        return sp.csr_matrix(x, dtype=np.float32)
    return sp.csr_matrix(np.asarray(x, dtype=np.float32))


def _make_names_unique(adata: ad.AnnData) -> None:
    for axis, names in (("cell", adata.obs_names), ("gene", adata.var_names)):
        if not names.is_unique:
            warnings.warn(f"duplicate {axis} names were made unique", UserWarning, stacklevel=3)
            if axis == "cell":
                adata.obs_names_make_unique()
            else:
                adata.var_names_make_unique()


def validate_counts(
    adata: ad.AnnData, *, allow_non_integer: bool = False, min_cells: int = 1
) -> None:
    """Refuse matrices that are not non-negative finite counts; a model fit on them is meaningless."""
    n_cells, n_genes = adata.shape
    if n_cells == 0 or n_genes == 0:
        raise InputError(f"empty matrix: {n_cells} cells x {n_genes} genes")
    values = adata.X.data if sp.issparse(adata.X) else np.asarray(adata.X).ravel()
    if not np.all(np.isfinite(values)):
        raise InputError("matrix has NaN or infinite values; counts must be finite")
    if values.size and values.min() < 0:
        raise InputError(f"matrix has negative values (min {values.min():g}); counts must be >= 0")
    if not allow_non_integer and not np.all(np.equal(np.mod(values, 1), 0)):
        raise InputError(
            "matrix has non-integer values; gnnimpute expects raw counts "
            "(pass --allow-non-integer to accept them)"
        )
    if values.size == 0 or not np.any(values):
        raise InputError("matrix has no non-zero counts")
    if n_cells < min_cells:
        raise InputError(f"too few cells: {n_cells} (need at least {min_cells})")


def check_output_path(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Fail before any work if OUTPUT exists (without force) or its folder cannot take it."""
    path = Path(path)
    if path.exists() and not force:
        raise InputError(f"output exists: {path} (use --force to overwrite)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"output folder does not exist: {folder}")
    if path.suffix != ".h5ad":
        raise InputError(f"output must end in .h5ad: {path}")
    try:  # a real probe: permission bits say nothing for root or read-only mounts
        with tempfile.NamedTemporaryFile(prefix=f".{path.name}.", suffix=".probe", dir=folder):
            pass
    except OSError as exc:
        raise InputError(
            f"output folder is not writable: {folder} ({exc.strerror or exc})"
        ) from exc
    return path


def write_h5ad_atomic(adata: ad.AnnData, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write to a temporary file beside `path`, then rename: a crash never leaves a partial file."""
    path = check_output_path(path, force=force)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        adata.write_h5ad(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    return path
