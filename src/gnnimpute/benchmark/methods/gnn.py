"""gnnimpute itself, through its public API (``gnnimpute.api.impute``) with its defaults."""

from __future__ import annotations

import numpy as np

from ..._constants import EMBEDDING_KEY, KEY
from ...options import DEFAULTS
from . import MethodUnavailable


def run(adata, *, seed: int = 0, k: int = DEFAULTS.graph.k, with_layers: bool = False, **options):
    """The default layer and the embedding; with `with_layers`, also the hurdle decoder's layers.

    The level and the expected value (level x P(detected)) come from the same training, so the
    benchmark scores what a user would choose between without training three times.
    """
    try:
        from ...api import impute
    except ImportError as exc:  # the API module is not there (yet)
        raise MethodUnavailable(f"gnnimpute.api is not importable: {exc}") from exc
    options.setdefault("progress", False)
    out = impute(adata, copy=True, random_state=seed, k=k, **options)
    layer, embedding = out.layers[KEY], out.obsm[EMBEDDING_KEY]
    detection = out.layers.get(KEY + "_detection")
    if not with_layers or detection is None:
        return layer, embedding
    level = out.layers[KEY + "_level"]
    extras = {"level": level, "expected": (level * detection).astype(np.float32)}
    return layer, embedding, extras
