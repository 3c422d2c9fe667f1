"""MAGIC (van Dijk et al. 2018; pip package ``magic-impute``).

Input: the normalized counts (cell i scaled by median(L) / L_i), square-root transformed as the
MAGIC authors recommend and as the Open Problems denoising task runs it; the diffused values
are squared back, so the output is in normalized-count space. MAGIC's own defaults otherwise
(knn=5 unless ``k`` says otherwise, decay=1, t=3, n_pca=100, exact solver).
"""

from __future__ import annotations

import numpy as np

from . import MethodUnavailable
from ._util import normalized


def run(adata, *, seed: int = 0, k: int = 5, t: int | str = 3, n_jobs: int = 1, **options):
    try:
        import magic
    except Exception as exc:  # ImportError, or numpy/pandas incompatibilities at import
        raise MethodUnavailable(
            f"magic-impute not importable: {type(exc).__name__}: {exc}"
        ) from exc
    X = normalized(adata)
    X.data = np.sqrt(X.data)
    n_pca = min(100, X.shape[0] - 1, X.shape[1] - 1)
    op = magic.MAGIC(
        knn=k, t=t, n_pca=n_pca, random_state=seed, n_jobs=n_jobs, verbose=0, **options
    )
    Y = op.fit_transform(X, genes="all_genes")
    Y = np.asarray(Y, dtype=np.float32)
    return np.square(Y)
