"""scVI (Lopez et al. 2018; pip package ``scvi-tools``).

Trained on the raw counts with scvi-tools' defaults (ZINB likelihood, 10 latent dimensions,
its default number of epochs unless ``max_epochs`` is given; ``early_stopping=True`` uses its own
validation-ELBO early stopping), on the CPU unless a GPU is there.
Output: ``get_normalized_expression(library_size=median(L))``, the posterior mean over
``n_samples`` draws, which is the normalized-count space the benchmark scores.
"""

from __future__ import annotations

import sys

import numpy as np

from . import MethodUnavailable
from ._util import counts, median_library


def run(
    adata, *, seed: int = 0, k: int = 5, max_epochs: int | None = None, n_samples: int = 25,
    early_stopping: bool = False, accelerator: str = "auto", **options,
):  # fmt: skip
    try:
        import scvi
    except Exception as exc:
        raise MethodUnavailable(f"scvi-tools not importable: {type(exc).__name__}: {exc}") from exc
    import logging

    import anndata as ad

    logging.getLogger("scvi").setLevel(logging.WARNING)
    logging.getLogger("lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    scvi.settings.seed = int(seed)
    a = ad.AnnData(X=counts(adata), obs=adata.obs[[]].copy(), var=adata.var[[]].copy())
    scvi.model.SCVI.setup_anndata(a)
    model = scvi.model.SCVI(a, **options)
    model.train(
        max_epochs=max_epochs, accelerator=accelerator, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False,
        early_stopping=bool(early_stopping),
    )  # fmt: skip
    epochs = len(model.history.get("elbo_train", [])) if model.history else None
    print(f"[scvi] trained {epochs} epochs", file=sys.stderr)
    out = model.get_normalized_expression(
        a, library_size=median_library(adata), n_samples=n_samples, return_mean=True,
        return_numpy=True,
    )  # fmt: skip
    return np.asarray(out, dtype=np.float32)
