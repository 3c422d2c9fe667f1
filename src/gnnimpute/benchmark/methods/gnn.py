"""gnnimpute itself, through its public API (``gnnimpute.api.impute``) with its defaults."""

from __future__ import annotations

from ..._constants import EMBEDDING_KEY, KEY
from . import MethodUnavailable


def run(adata, *, seed: int = 0, k: int = 5, **options):
    try:
        from ...api import impute
    except ImportError as exc:  # the API module is not there (yet)
        raise MethodUnavailable(f"gnnimpute.api is not importable: {exc}") from exc
    options.setdefault("progress", False)
    out = impute(adata, copy=True, random_state=seed, k=k, **options)
    return out.layers[KEY], out.obsm[EMBEDDING_KEY]
