"""Check that a matrix holds counts a model can be fit on."""

from __future__ import annotations

import anndata as ad
import numpy as np
import scipy.sparse as sp

from ..errors import InputError

# Real cells total well under 1e9 counts; beyond 1e12 per cell, squared normalized errors summed
# over a gene batch can pass float32's 3.4e38 and training returns NaN.
MAX_CELL_TOTAL = 1e12


def validate_counts(
    adata: ad.AnnData, *, allow_non_integer: bool = False, min_cells: int = 1, why: str = ""
) -> None:
    """Refuse matrices that are not non-negative finite counts; a model fit on them is meaningless.

    `why` says which option sets `min_cells` (e.g. "k + 1 for --k 5"), so the message can name it.
    """
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
    totals = np.asarray(adata.X.sum(axis=1, dtype=np.float64)).ravel()
    if totals.max() > MAX_CELL_TOTAL:
        raise InputError(
            f"counts too large: a cell totals {totals.max():.3g} (limit {MAX_CELL_TOTAL:.0e}); "
            "normalized values and squared errors would overflow float32 - are these scaled values?"
        )
    if n_cells < min_cells:
        need = f"{min_cells}: {why}" if why else f"{min_cells}"
        raise InputError(f"too few cells: {n_cells} (need at least {need})")
