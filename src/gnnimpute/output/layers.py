"""Which dense layers and which embedding key `impute` writes.

Each dense layer costs 4 bytes per cell x gene, so a run writes only the layers asked for:

- ``gnnimpute``: the default layer (``layers[key]``, given by ``--blend``);
- ``level``: ``layers[key + '_level']``, the level where a gene is detected (hurdle decoder);
- ``detection``: ``layers[key + '_detection']``, P(detected) (hurdle decoder);
- ``expected``: ``layers[key + '_expected']``, level x P(detected) (hurdle decoder).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import InputError

DEFAULT_LAYER = "gnnimpute"
LAYER_NAMES = (DEFAULT_LAYER, "level", "detection", "expected")
HURDLE_ONLY = ("level", "detection", "expected")
DEFAULT_LAYERS = (DEFAULT_LAYER,)  # what the command line writes unless told
DECODER_LAYERS = {"hurdle": (DEFAULT_LAYER, "level", "detection"), "level": (DEFAULT_LAYER,)}
EMBEDDING_AUTO = "auto"  # obsm['X_' + key]


def parse_layers(spec: str | Iterable[str] | None, decoder: str = "hurdle") -> tuple[str, ...]:
    """'gnnimpute,level' -> ('gnnimpute', 'level'), in LAYER_NAMES order, no repeats.

    None: the layers the decoder has always produced (the Python API's default); "all": every
    layer the decoder can give. Unknown names, an empty list and hurdle layers with the level
    decoder are refused with a one-line error.
    """
    if spec is None:
        return DECODER_LAYERS.get(decoder, DEFAULT_LAYERS)
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    if names == ["all"]:
        return LAYER_NAMES if decoder == "hurdle" else DEFAULT_LAYERS
    unknown = [n for n in names if n not in LAYER_NAMES]
    if unknown or not names:
        bad = unknown[0] if unknown else ""
        raise InputError(
            f"--layers: unknown layer {bad!r}; choose from {', '.join(LAYER_NAMES)} or all"
        )
    if decoder != "hurdle":
        hurdle = [n for n in names if n in HURDLE_ONLY]
        if hurdle:
            raise InputError(f"--layers {hurdle[0]} needs the hurdle decoder (--decoder hurdle)")
    return tuple(n for n in LAYER_NAMES if n in names)


def layer_key(name: str, key: str) -> str:
    """The `adata.layers` key of a layer name: 'level' -> 'gnnimpute_level'."""
    return key if name == DEFAULT_LAYER else f"{key}_{name}"


def select_layers(computed: Mapping[str, np.ndarray], names: tuple[str, ...], key: str) -> dict:
    """The written layers of one cell chunk, from the decoder's `computed` {layer key: block}.

    'expected' is computed here (level x detection, float32); the rest are passed through.
    """
    out = {}
    for name in names:
        if name == "expected":
            out[layer_key(name, key)] = np.multiply(
                computed[layer_key("level", key)], computed[layer_key("detection", key)]
            )
        else:
            out[layer_key(name, key)] = computed[layer_key(name, key)]
    return out


def resolve_embedding_key(embedding_key: str | None, key: str) -> str | None:
    """The obsm key the embedding is written under, or None: not written.

    "auto" is 'X_' + key; "none" (any case) or None writes no embedding.
    """
    if embedding_key is None or str(embedding_key).lower() == "none":
        return None
    if embedding_key == EMBEDDING_AUTO:
        return "X_" + key
    text = str(embedding_key)
    if not text or "/" in text or text != text.strip():
        raise InputError(
            f"--embedding-key {text!r}: needs a non-empty name without '/' or surrounding spaces"
        )
    return text
