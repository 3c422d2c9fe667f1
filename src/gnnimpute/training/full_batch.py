"""Full-batch training: each epoch one step on the whole graph, validated on the held-out entries.

The model only ever sees the matrix it is given. Each epoch hides a fresh random share of the
observed non-zero entries from the encoder input and scores the prediction at exactly those
entries; a fixed held-out share, never shown during training, drives early stopping.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import torch

from ..nn.inputs import EncoderInput
from ..nn.model import GNNImputeModel
from .config import TrainConfig, TrainResult
from .entries import training_entries
from .loss import GeneBatchLoss
from .loss_cells import LossCells
from .stopping import EarlyStopping

log = logging.getLogger(__name__)


class Validation:
    """Loss at the held-out entries of the weights as they are now, in eval mode (no dropout).

    The input hides exactly the held-out entries (fixed), so the same weights always score the
    same: the weights early stopping saves are the weights it validated.
    """

    def __init__(self, entries, inputs, edge_index, loss_fn, genes, weights, *, cells=None):
        val = entries.val
        self.x = entries.hidden_input(inputs, val)
        self.edge_index, self.loss_fn = edge_index, loss_fn
        self.cells = None
        sample = cells.draw() if cells is not None else None
        view = cells.view(sample, val) if cells is not None else None
        if view is not None and view.entries.rows.size:  # a fixed sample, the same every epoch
            self.loss_fn, val = view, np.arange(view.entries.rows.size)
            self.cells = torch.as_tensor(sample, device=loss_fn.device)
        self.idx = torch.as_tensor(val, device=loss_fn.device)  # moved once, not per epoch
        self.loss_fn.pin_zeros(genes)
        self.batch = self.loss_fn.pin(self.idx, genes, weights)

    @torch.no_grad()
    def __call__(self, model: GNNImputeModel) -> float:
        was_training = model.training
        model.eval()
        z = model.encode(self.x, self.edge_index)
        h = model.decode_hidden(z if self.cells is None else z[self.cells])
        loss = float(self.loss_fn.score(model, h, self.batch))
        model.train(was_training)
        return loss


def fit_full_batch(
    model: GNNImputeModel,
    inputs: EncoderInput,
    edge_index: torch.Tensor,
    target: sp.csr_matrix,
    config: TrainConfig,
    *,
    seed: int = 0,
) -> TrainResult:
    """`training.fit` on the whole graph: one optimizer step per epoch."""
    device = edge_index.device
    rng = np.random.default_rng(seed)
    entries = training_entries(target, config, rng)
    loss_fn = GeneBatchLoss.for_config(entries, target, config, device)
    val_genes, val_weights = loss_fn.sample_genes(rng)  # fixed, so validation losses compare
    n_cells = target.shape[0]
    # its own generator: scoring every cell leaves the seed's results as they were
    cells = (
        LossCells(entries, loss_fn, n_cells, config.loss_cells, np.random.default_rng([seed, 1]))
        if 0 < config.loss_cells < n_cells
        else None
    )
    validate = Validation(entries, inputs, edge_index, loss_fn, val_genes, val_weights, cells=cells)
    if cells is not None and validate.cells is not None:
        loss_fn.observed = None  # every loss now goes through a cell view: drop the column copy
        if device.type == "cuda":
            log.warning("loss_cells > 0 on a GPU draws each epoch on the host; 0 keeps it there")

    stopping, opt, ema = EarlyStopping.begin(model, config, validate)
    reporter = stopping.reporter
    # On a GPU the epoch's draw, the hidden input and the loss's entries stay on the device; on
    # the CPU the host draw is kept (it fixes the CPU results of a seed). A cell sample is drawn
    # on the host.
    on_device = entries.on_device(device) if device.type == "cuda" and cells is None else None
    generator = torch.Generator(device=device).manual_seed(seed) if on_device else None
    for epoch in reporter.track(stopping.bar):
        model.train()
        if on_device is not None:
            batch = on_device.sample_train(config.mask_rate, generator)
            x = on_device.hidden_input(inputs, batch, base=validate.x)
        else:
            batch = entries.sample_train(config.mask_rate, rng)
            x = entries.hidden_input(inputs, batch, base=validate.x)  # validation's stay hidden
        opt.zero_grad()
        z = model.encode(x, edge_index)
        if cells is None:
            loss = loss_fn(model, model.decode_hidden(z), batch, *loss_fn.sample_genes(rng))
        else:
            sample = cells.draw()
            sample_loss = cells.view(sample, batch)
            h = model.decode_hidden(z[torch.as_tensor(sample, device=device)])
            positions = np.arange(sample_loss.entries.rows.size)
            loss = sample_loss(model, h, positions, *loss_fn.sample_genes(rng))
        loss.backward()
        opt.step()
        scored = model
        if ema is not None:
            ema.update(model)
            scored = ema.model
        val_loss = validate(scored)  # the weights after this step, in eval mode: those we save
        if stopping.update(epoch, float(loss.detach()), val_loss, scored):
            break
    return stopping.finish(model)
