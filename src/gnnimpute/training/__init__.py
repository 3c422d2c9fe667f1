"""Self-supervised training: hide observed counts, learn to predict them, stop when held-out loss stalls.

The model only ever sees the matrix it is given. Each epoch hides a fresh random share of the
observed non-zero entries from the encoder input and scores the prediction at exactly those
entries; a fixed held-out share, never shown during training, drives early stopping.

The path: `entries` (the split and each epoch's draw) -> `loss` (scored on a gene batch, or on
chosen cells) -> one of two loops, `full_batch` or `minibatch` (2-hop subgraphs), both closing
each epoch through `stopping`.
"""

from __future__ import annotations


def fit(model, inputs, edge_index, target, config, *, seed: int = 0):
    """Train `model` in place and restore the weights of the best validation epoch.

    Full batch unless `config.batch_cells` asks for mini-batches of seed cells; both return a
    `TrainResult`. `inputs` builds the encoder input with chosen entries hidden; `target` holds
    the normalized counts the decoder must predict (cells x all genes).
    """
    if config.batch_cells:
        from .minibatch import fit_minibatch

        return fit_minibatch(model, inputs, edge_index, target, config, seed=seed)
    from .full_batch import fit_full_batch

    return fit_full_batch(model, inputs, edge_index, target, config, seed=seed)
