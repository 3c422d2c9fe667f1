"""Self-supervised training: hide observed counts, learn to predict them, stop when held-out loss stalls.

The model only ever sees the matrix it is given. Each epoch hides a fresh random share of the
observed non-zero entries from the encoder input and scores the prediction at exactly those
entries; a fixed held-out share, never shown during training, drives early stopping.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from .errors import DivergenceError
from .inputs import EncoderInput
from .loss_cells import LossCells
from .losses import detection_bce, level_scale
from .model import GNNImputeModel
from .optim import Adam
from .options import TrainingOptions
from .progress import EpochReporter

log = logging.getLogger(__name__)

OUTPUT_CHUNK = 2_048  # cells per chunk when producing the dense output
DECODE_ROWS = 256  # cells decoded at once within a chunk: cache-sized blocks
SAMPLE_CHUNK = 1 << 20  # training entries per chunk when drawing an epoch's hidden share
PINNED_ZEROS_MAX = 1 << 24  # floats (64 MB): largest zero pattern validation keeps between epochs


@dataclass(frozen=True, kw_only=True)
class TrainConfig(TrainingOptions):
    """The training loop's options: the user's, with the batch and loss cells resolved to counts."""

    min_epochs: int = 50
    progress: bool = True
    batch_cells: int = 0  # > 0: mini-batches of this many seed cells (train_batch.py)
    loss_cells: int = 0  # > 0: full batch scores this many random cells per epoch (loss_cells.py)


@dataclass
class TrainResult:
    history: dict[str, list[float]] = field(
        default_factory=lambda: {"train_loss": [], "val_loss": [], "lr": []}
    )
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    validate: Callable[[GNNImputeModel], float] | None = field(default=None, repr=False)


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' means CUDA when present; asking for CUDA without one is an error, not a silent CPU run."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but no CUDA device is available")
    return torch.device(device)


class ObservedEntries:
    """The observed non-zero entries, split into a fixed validation set and the rest."""

    def __init__(
        self,
        target: sp.csr_matrix,
        val_rate: float,
        rng: np.random.Generator,
        val_seed: int | None = None,
    ):
        coo = target.tocoo()
        # a canonical order so the seed alone fixes the split (CSR with sorted indices has it)
        order = (
            np.arange(coo.nnz)
            if sp.issparse(target) and target.format == "csr" and target.has_sorted_indices
            else np.lexsort((coo.col, coo.row))
        )
        self.rows = coo.row[order].astype(_index_dtype(target.shape[0]))
        self.cols = coo.col[order].astype(_index_dtype(target.shape[1]))
        self.values = coo.data[order].astype(np.float32)
        # The permutation fixes the split and the generator's state after it (the gene batches
        # and each epoch's draw). Drawing the split with `choice` instead (10x faster) is the
        # same distribution but another draw, and on PBMC 4k's mask seed 22 that alone moved the
        # default layer's MSE from 214 to 348: the confirmed draws stay.
        perm = rng.permutation(self.rows.size)
        if val_seed is not None:  # another split, the rest of the run's draws unchanged
            perm = np.random.default_rng([int(val_seed), 0x5EED]).permutation(self.rows.size)
        n_val = round(val_rate * self.rows.size)
        # sorted positions by a mask, not by sorting the permutation: O(n), the same arrays
        is_val = np.zeros(self.rows.size, dtype=bool)
        is_val[perm[:n_val]] = True
        del perm
        index = _index_dtype(self.rows.size)
        self.val = np.flatnonzero(is_val).astype(index)
        self.train = np.flatnonzero(~is_val).astype(index)

    def sample_train(self, rate: float, rng: np.random.Generator) -> np.ndarray:
        """Each training entry independently with probability `rate` (at least one), sorted.

        The gaps between picked entries are geometric, so an epoch draws one number per picked
        entry rather than one per entry, and allocates in proportion to the sample.
        """
        n = self.train.size
        if rate >= 1:
            return self.train.copy()
        chunk = int(n * rate * 1.05) + 64  # one chunk of gaps almost always reaches the end
        picked, last = [], -1
        while last < n - 1:
            positions = last + np.cumsum(rng.geometric(rate, size=chunk))
            picked.append(positions[positions < n])
            last = int(positions[-1])
        batch = self.train[np.concatenate(picked)]
        return batch if batch.size else self.train[rng.integers(n, size=1)]

    def hidden_input(self, inputs: EncoderInput, idx: np.ndarray, base=None) -> torch.Tensor:
        """The encoder input with entries `idx` hidden (their log values removed), on top of
        `base` if given (an input that already hides other entries).

        Sorted first (a no-op for an epoch's draw, which comes sorted), so the entries come in
        (row, column) order and the input needs no sort of its own.
        """
        idx = np.sort(idx, kind="stable")
        return inputs.hidden(self.rows[idx], self.cols[idx], np.log1p(self.values[idx]), base=base)

    def on_device(self, device: torch.device) -> DeviceEntries:
        """The same entries as tensors on `device`, for a training loop that stays there."""
        return DeviceEntries(self, device)


class DeviceEntries:
    """`ObservedEntries` on a GPU: an epoch's draw and its hidden input never leave the device.

    Copied once; each epoch draws the hidden share with a device generator, so the hot loop does
    no per-entry work on the host and moves no per-entry arrays across the bus.
    """

    def __init__(self, entries: ObservedEntries, device: torch.device):
        self.rows = torch.as_tensor(entries.rows, device=device)
        self.cols = torch.as_tensor(entries.cols, device=device)
        self.values = torch.as_tensor(entries.values, device=device)
        self.log_values = torch.log1p(self.values)
        self.val = torch.as_tensor(entries.val, device=device).long()
        self.train = torch.as_tensor(entries.train, device=device).long()
        self.device = device

    def sample_train(self, rate: float, generator: torch.Generator) -> torch.Tensor:
        """As `ObservedEntries.sample_train`, with the device's generator (sorted, at least one)."""
        picked = [
            part[torch.rand(part.numel(), generator=generator, device=self.device) < rate]
            for part in torch.split(self.train, SAMPLE_CHUNK)
        ]
        batch = torch.cat(picked)
        if batch.numel():
            return batch
        pick = torch.randint(self.train.numel(), (1,), generator=generator, device=self.device)
        return self.train[pick]

    def hidden_input(self, inputs: EncoderInput, idx: torch.Tensor, base=None) -> torch.Tensor:
        return inputs.hidden(self.rows[idx], self.cols[idx], self.log_values[idx], base=base)


def _index_dtype(size: int) -> type:
    """int32 where every index fits: half the memory of the per-entry bookkeeping."""
    return np.int32 if size < np.iinfo(np.int32).max else np.int64


class GeneBatchLoss:
    """MSE at hidden entries, estimated on a gene batch through one dense (cells x batch) product.

    A dense product over a gene batch is an order of magnitude faster on CPU than gathering a
    weight row per entry, and keeps memory at cells x batch floats. The genes that carry most of
    the squared signal are in every batch; the rest are sampled and up-weighted, so the estimate
    of the all-gene MSE stays unbiased while its variance drops.
    """

    def __init__(
        self,
        entries: ObservedEntries,
        target: sp.csr_matrix,
        batch_size: int,
        device: torch.device,
        *,
        zero_weight: float = 0.0,
        mask_rate: float = 0.1,
        detection_weight: float = 0.0,
    ):
        n_genes = target.shape[1]
        self.entries = entries
        self.n_genes = n_genes
        # only the zero and detection terms read it: a sparse cells x genes copy is not free at
        # atlas scale
        needs_pattern = zero_weight > 0 or detection_weight > 0
        self.observed = sp.csc_matrix(target != 0, dtype=np.float32) if needs_pattern else None
        # A zero is scored every epoch, a non-zero only when hidden (probability mask_rate), so
        # scaling zeros by mask_rate makes zero_weight the weight of a zero relative to a non-zero.
        self.zero_coef = zero_weight * mask_rate
        # Hurdle decoder: weight of the detection cross-entropy, on the level loss's scale.
        self.detection_coef = detection_weight * level_scale(entries.cols, entries.values, n_genes)
        self.device = device
        # share of observed non-zeros hidden in the scored input; None: idx's share of entries
        self.hidden_share: float | None = None
        batch_size = min(batch_size, n_genes)
        mass = np.bincount(
            entries.cols, weights=entries.values.astype(np.float64) ** 2, minlength=n_genes
        )
        n_fixed = batch_size // 4 if batch_size < n_genes else n_genes
        self.fixed = np.sort(np.argsort(-mass, kind="stable")[:n_fixed])
        self.others = np.setdiff1d(np.arange(n_genes), self.fixed)
        self.n_sampled = batch_size - n_fixed
        self._entry_tensors: tuple | None = None  # (entries, rows, cols, values) on the device
        self._pattern_tensors: tuple | None = None  # (observed, CSC indptr, CSC row indices)
        self._pinned_zeros: tuple | None = None  # (observed, genes, zeros) kept by pin_zeros
        self._pinned_entries: tuple | None = None  # ((entries, idx, genes, weights), found)

    def sample_genes(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A gene batch, sorted, and each gene's weight (1 for fixed genes, n_others / n_sampled
        otherwise). Sorted, the batch's entries keep their (row, column) order in its columns."""
        sampled = (
            rng.choice(self.others, size=self.n_sampled, replace=False) if self.n_sampled else []
        )
        genes = np.concatenate([self.fixed, np.asarray(sampled, dtype=np.int64)])
        weights = np.ones(genes.size, dtype=np.float32)
        if self.n_sampled:
            weights[self.fixed.size :] = self.others.size / self.n_sampled
        order = np.argsort(genes, kind="stable")
        return genes[order], weights[order]

    def __call__(
        self,
        model,
        h: torch.Tensor,
        idx: np.ndarray | torch.Tensor,
        genes: np.ndarray,
        weights: np.ndarray,
    ) -> torch.Tensor:
        """Loss at entries `idx` (host array, or a tensor already on the device) for a gene batch."""
        pinned = self._pinned_entries
        key = (self.entries, idx, genes, weights)  # a view replaces `entries`: no pin of its own
        if pinned is not None and all(a is b for a, b in zip(pinned[0], key, strict=True)):
            genes_t, gene_w, rows, cols, values, w, n_idx = pinned[1]
        else:
            genes_t, gene_w, rows, cols, values, w, n_idx = self._batch_entries(idx, genes, weights)
        if self.zero_coef > 0:  # the zero term reads the whole block
            out = model.decode_genes(h, genes_t)
            predicted = out[rows, cols]
        else:  # only the hidden entries: a few percent of the block
            predicted = model.decode_entries(h, genes_t, rows, cols)
        loss = torch.sum(w * (predicted - values) ** 2)
        detect = self.detection_coef > 0 and getattr(model, "det", None) is not None
        zeros = None
        if self.zero_coef > 0 or detect:
            zeros = self._pinned(genes)
            zeros = self._observed_zeros(genes_t) if zeros is None else zeros
        if self.zero_coef > 0:
            loss = loss + self.zero_coef * torch.sum(gene_w * zeros * out**2)
        loss = loss / max(n_idx, 1)
        if detect:
            bce = detection_bce(
                model.detect_genes(h, genes_t),
                zeros,
                rows,
                cols,
                w,
                gene_w,
                self.hidden_share
                if self.hidden_share is not None
                else n_idx / max(self.entries.rows.size, 1),
            )
            loss = loss + self.detection_coef * bce
        return loss

    def _batch_entries(self, idx, genes: np.ndarray, weights: np.ndarray) -> tuple:
        """The gene batch and its weights as tensors, and the entries of `idx` that fall in it:
        rows, batch columns, values and weights, and the number of entries in `idx`."""
        dev = self.device
        all_rows, all_cols, all_values = self._entries_on_device()
        idx = torch.as_tensor(idx, device=dev)
        genes_t = torch.as_tensor(genes, device=dev)
        gene_w = torch.as_tensor(weights, device=dev)
        local = torch.full((self.n_genes,), -1, dtype=torch.int64, device=dev)
        local[genes_t] = torch.arange(genes_t.numel(), device=dev)
        pos = local[all_cols[idx].long()]
        keep = pos >= 0
        cols = pos[keep]
        values = all_values[idx][keep]
        return genes_t, gene_w, all_rows[idx][keep].long(), cols, values, gene_w[cols], idx.numel()

    def pin_entries(self, idx, genes: np.ndarray, weights: np.ndarray) -> None:
        """Keep where validation's entries fall in its gene batch: the same every epoch, and
        finding them again took ~5 ms of a Baron epoch. Used while the very same objects come."""
        key = (self.entries, idx, genes, weights)
        self._pinned_entries = (key, self._batch_entries(idx, genes, weights))

    def _entries_on_device(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """rows, cols, values as tensors: shared memory on the CPU, one copy per entry set on a GPU."""
        cached = self._entry_tensors
        if cached is None or cached[0] is not self.entries:
            e = self.entries
            tensors = tuple(
                torch.as_tensor(a, device=self.device) for a in (e.rows, e.cols, e.values)
            )
            self._entry_tensors = cached = (e, *tensors)
        return cached[1:]

    def pin_zeros(self, genes: np.ndarray) -> None:
        """Keep the zero pattern of a gene batch that is scored every epoch (validation's), when
        it is small: rebuilding it each epoch was ~5 % of a Baron epoch."""
        needed = self.observed is not None and (self.zero_coef > 0 or self.detection_coef > 0)
        if needed and self.observed.shape[0] * len(genes) <= PINNED_ZEROS_MAX:
            zeros = self._observed_zeros(torch.as_tensor(genes, device=self.device))
            self._pinned_zeros = (self.observed, np.array(genes), zeros)

    def _pinned(self, genes: np.ndarray) -> torch.Tensor | None:
        """The pinned zero pattern when `genes` is its batch (compared on the host: no GPU sync)."""
        pinned = self._pinned_zeros
        if pinned is not None and pinned[0] is self.observed and np.array_equal(pinned[1], genes):
            return pinned[2]
        return None

    def _observed_zeros(self, genes: torch.Tensor) -> torch.Tensor:
        """1 at the observed zeros of the gene batch (cells x batch), built where the model is.

        Scatters the batch genes' non-zeros from the pattern's CSC arrays, kept as tensors (on a
        GPU: on the device, so no dense block of the pattern crosses the bus each epoch). It is
        row-major, as the logits are: a column-major block (scipy's CSC slice had that layout)
        made every element-wise pass of the detection loss stride across both.
        """
        cpu = self.device.type == "cpu"
        if cpu and self.observed.format != "csc":  # a view's rows (mini-batch, cell sample)
            return 1.0 - torch.as_tensor(self.observed[:, genes.numpy()].toarray())
        cached = self._pattern_tensors
        if cached is None or cached[0] is not self.observed:
            csc = self.observed.tocsc()  # no copy when it is one already
            cached = self._pattern_tensors = (
                self.observed,
                torch.as_tensor(csc.indptr.astype(np.int64), device=self.device),
                torch.as_tensor(csc.indices, device=self.device),
            )
        n_rows = self.observed.shape[0]
        return scatter_zeros(cached[1], cached[2], genes, n_rows)


def scatter_zeros(
    indptr: torch.Tensor,
    row_index: torch.Tensor,
    genes: torch.Tensor,
    n_rows: int,
) -> torch.Tensor:
    """1 - pattern[:, genes] as a dense (n_rows x genes) tensor, from the pattern's CSC arrays."""
    dev = indptr.device
    starts = indptr[genes]
    lengths = indptr[genes + 1] - starts
    batch_col = torch.repeat_interleave(torch.arange(genes.numel(), device=dev), lengths)
    first = torch.cumsum(lengths, 0) - lengths
    offsets = torch.arange(int(lengths.sum()), device=dev) + torch.repeat_interleave(
        starts - first, lengths
    )
    zeros = torch.ones(n_rows, genes.numel(), device=dev)
    zeros[row_index[offsets].long(), batch_col] = 0.0
    return zeros


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
        self.genes, self.weights = genes, weights
        self.loss_fn.pin_zeros(genes)
        self.loss_fn.pin_entries(self.idx, genes, weights)

    @torch.no_grad()
    def __call__(self, model: GNNImputeModel) -> float:
        was_training = model.training
        model.eval()
        z = model.encode(self.x, self.edge_index)
        h = model.decode_hidden(z if self.cells is None else z[self.cells])
        loss = float(self.loss_fn(model, h, self.idx, self.genes, self.weights))
        model.train(was_training)
        return loss


class WeightAverage:
    """An exponential moving average of the weights, scored in eval mode.

    Each epoch hides a fresh random share of entries, so single-epoch weights are noisy; their
    running average generalizes better and gives early stopping a steadier validation signal.
    """

    def __init__(self, model: GNNImputeModel, decay: float):
        self.model = copy.deepcopy(model).requires_grad_(False).eval()
        self.decay = decay

    @torch.no_grad()
    def update(self, model: GNNImputeModel) -> None:
        for mine, theirs in zip(self.model.parameters(), model.parameters(), strict=True):
            mine.lerp_(theirs, 1.0 - self.decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers(), strict=True):
            if mine.is_floating_point():
                mine.lerp_(theirs, 1.0 - self.decay)
            else:
                mine.copy_(theirs)


class EarlyStopping:
    """Each epoch's bookkeeping, shared by full-batch and mini-batch training.

    Records the losses (a non-finite one stops the run), keeps a copy of the best-scoring
    weights, and says when `patience` epochs have passed without an improvement of at least
    `min_delta` (relative) over the loss at the last improvement. Given the optimizer `opt`, it
    also records each epoch's learning rate and lowers it on plateaus (`PlateauDecay`).
    """

    def __init__(self, config: TrainConfig, result: TrainResult, bar, reporter, opt=None):
        self.config, self.result, self.bar, self.reporter = config, result, bar, reporter
        self.best, self.best_state, self.since_best = math.inf, None, 0
        self.reference = math.inf  # the best loss when patience was last reset
        self.opt = opt
        self.decay = PlateauDecay(opt, config.lr_patience, config.lr_factor) if opt else None

    def update(self, epoch: int, train_loss: float, val_loss: float, scored) -> bool:
        """Record an epoch whose weights `scored` gave `val_loss`; True when training should stop."""
        check_finite(train_loss, val_loss, epoch, self.config.lr)
        result = self.result
        result.history["train_loss"].append(train_loss)
        result.history["val_loss"].append(val_loss)
        if self.opt is not None:
            result.history["lr"].append(self.opt.lr)  # the rate this epoch's step used
        result.epochs_run = epoch
        if val_loss < self.best:  # the weights kept are always the best scored
            self.best, result.best_epoch = val_loss, epoch
            self._keep(scored)
        # patience restarts only on a real gain: the validation loss drifts down by fractions of
        # a percent for hundreds of epochs, within its own epoch-to-epoch noise
        if val_loss < self.reference * (1 - self.config.min_delta):
            self.reference, self.since_best = val_loss, 0
        else:
            self.since_best += 1
        self.bar.set_postfix(
            train=f"{train_loss:.4g}", val=f"{val_loss:.4g}", best=result.best_epoch
        )
        self.reporter.update(
            epoch, train_loss, val_loss, result.best_epoch, epoch - self.since_best
        )
        if self.since_best >= self.config.patience and epoch >= self.config.min_epochs:
            result.stopped_early = True
            return True
        if self.decay is not None:
            self.decay.update(self.since_best)
        return False

    def _keep(self, scored) -> None:
        """Copy the weights into the kept ones, allocated once: a fresh copy each time had to
        fault in new pages, ~15 ms per gene head on a Baron epoch."""
        state = scored.state_dict()
        if self.best_state is None or self.best_state.keys() != state.keys():
            self.best_state = {k: v.detach().clone() for k, v in state.items()}
            return
        for key, value in state.items():
            self.best_state[key].copy_(value)

    def finish(self, model: GNNImputeModel, start: float) -> TrainResult:
        """Close the progress output and restore the best weights into `model`."""
        self.bar.close()
        self.reporter.close()
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        self.result.seconds = time.perf_counter() - start
        return self.result


class PlateauDecay:
    """Multiply the learning rate by `factor` every `patience` epochs without a counted gain.

    At a constant rate the validation loss creeps down within its own noise for hundreds of
    epochs; a smaller step once it stalls settles the weights sooner. `patience` 0: off.
    """

    def __init__(self, opt, patience: int, factor: float):
        self.opt, self.patience, self.factor = opt, patience, factor

    def update(self, since_gain: int) -> None:
        if self.patience > 0 and since_gain > 0 and since_gain % self.patience == 0:
            self.opt.lr *= self.factor


def fit(
    model: GNNImputeModel,
    inputs: EncoderInput,
    edge_index: torch.Tensor,
    target: sp.csr_matrix,
    config: TrainConfig,
    *,
    seed: int = 0,
) -> TrainResult:
    """Train `model` in place and restore the weights of the best validation epoch.

    `inputs` builds the encoder input with chosen entries hidden; `target` holds the normalized
    counts the decoder must predict (cells x all genes).
    """
    if config.batch_cells:
        from .train_batch import fit_minibatch

        return fit_minibatch(model, inputs, edge_index, target, config, seed=seed)
    device = edge_index.device
    rng = np.random.default_rng(seed)
    entries = ObservedEntries(target, config.val_rate, rng, config.val_seed)
    if entries.train.size == 0 or entries.val.size == 0:
        raise ValueError("too few observed non-zero entries to train and validate on")
    loss_fn = GeneBatchLoss(
        entries,
        target,
        config.gene_batch,
        device,
        zero_weight=config.zero_weight,
        mask_rate=config.mask_rate,
        detection_weight=config.detection_weight,
    )
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

    opt = Adam(model.parameters(), config.lr, weight_decay=config.weight_decay)
    ema = WeightAverage(model, config.ema_decay) if config.ema_decay > 0 else None
    result = TrainResult(validate=validate)
    start = time.perf_counter()
    bar = tqdm(
        range(1, config.epochs + 1),
        desc="gnnimpute",
        unit="epoch",
        file=sys.stderr,
        disable=not (config.progress and sys.stderr.isatty()),
        dynamic_ncols=True,
    )
    reporter = EpochReporter(
        config.epochs,
        config.patience,
        config.min_epochs,
        enabled=config.progress and not sys.stderr.isatty(),
    )
    stopping = EarlyStopping(config, result, bar, reporter, opt)
    # On a GPU the epoch's draw, the hidden input and the loss's entries stay on the device; on
    # the CPU the host draw is kept (it fixes the CPU results of a seed). A cell sample is drawn
    # on the host.
    on_device = entries.on_device(device) if device.type == "cuda" and cells is None else None
    generator = torch.Generator(device=device).manual_seed(seed) if on_device else None
    for epoch in reporter.track(bar):
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
    return stopping.finish(model, start)


def check_finite(train_loss: float, val_loss: float, epoch: int, lr: float) -> None:
    """Stop on a non-finite loss: the weights are ruined, and going on would return NaN as success."""
    if math.isfinite(train_loss) and math.isfinite(val_loss):
        return
    raise DivergenceError(
        f"training diverged at epoch {epoch} (train loss {train_loss:g}, validation {val_loss:g}): "
        f"the learning rate is likely too high (--lr {lr:g}; try 10x smaller) or the counts are "
        "extreme (check the input's scale)"
    )


def predict(
    model: GNNImputeModel,
    inputs: EncoderInput,
    edge_index: torch.Tensor,
    *,
    observed: sp.csr_matrix | None = None,
    hide_rate: float = 0.0,
    draws: int = 8,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Imputed level (float32, cells x genes) and the embedding, decoded in cell chunks.

    With `hide_rate` > 0 the output is the mean over `draws` inputs that each hide that share of
    the `observed` non-zeros, as training did: a model trained on inputs with entries hidden is
    off-distribution (and predicts low) on the complete input.
    """
    zs, embedding = encode_draws(
        model, inputs, edge_index, observed=observed, hide_rate=hide_rate, draws=draws, seed=seed
    )
    n_cells = embedding.shape[0]
    level = np.empty((n_cells, model.n_output), dtype=np.float32)
    for start in range(0, n_cells, OUTPUT_CHUNK):
        rows = slice(start, min(start + OUTPUT_CHUNK, n_cells))
        level[rows] = decode_layers(model, zs, rows)[0]
    return level, embedding


def encode_draws(
    model: GNNImputeModel,
    inputs: EncoderInput,
    edge_index: torch.Tensor,
    *,
    observed: sp.csr_matrix | None = None,
    hide_rate: float = 0.0,
    draws: int = 8,
    seed: int = 0,
) -> tuple[list[torch.Tensor], np.ndarray]:
    """The bottleneck embedding of each prediction draw (cells x hidden[1] each) and their mean.

    Only these small matrices are kept; `decode_layers` turns them into output one chunk at a
    time, so the dense cells x genes output never has to exist as a whole.
    """
    model.eval()
    coo = observed.tocoo() if hide_rate > 0 and observed is not None else None
    n_draws = max(1, draws) if coo is not None else 1
    rng = np.random.default_rng(seed)
    zs = []
    with torch.inference_mode():
        for _ in range(n_draws):
            if coo is None:
                x = inputs.full()
            else:
                pick = rng.random(coo.nnz) < hide_rate
                x = inputs.hidden(coo.row[pick], coo.col[pick], np.log1p(coo.data[pick]))
            zs.append(model.encode(x, edge_index))
        z_sum = zs[0].clone()
        for z in zs[1:]:
            z_sum += z
    return zs, (z_sum / n_draws).cpu().numpy().astype(np.float32)


def decode_layers(
    model: GNNImputeModel, zs: list[torch.Tensor], rows: slice
) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean level and P(detected) (None without a detection head) over the draws, for `rows`.

    Decoded DECODE_ROWS cells at a time: a block of that many cells x every gene stays in the
    cache through its softplus, sigmoid and sums (Baron's 8 draws: 5.8 -> 2.7 s).
    """
    model.eval()
    detect = getattr(model, "det", None) is not None
    n_rows = len(range(*rows.indices(zs[0].shape[0])))
    level = np.empty((n_rows, model.n_output), dtype=np.float32)
    prob = np.empty_like(level) if detect else None
    first = rows.indices(zs[0].shape[0])[0]
    step = DECODE_ROWS if zs[0].device.type == "cpu" else max(n_rows, 1)  # a GPU takes it whole
    with torch.inference_mode():
        for start in range(0, n_rows, step):
            block = slice(first + start, first + min(start + step, n_rows))
            out = slice(start, min(start + step, n_rows))
            level_sum = prob_sum = None
            for z in zs:
                h = model.decode_hidden(z[block])
                part = model.decode_all(h)
                level_sum = part if level_sum is None else level_sum.add_(part)
                if detect:
                    p = model.detect_all(h)
                    prob_sum = p if prob_sum is None else prob_sum.add_(p)
            level[out] = (level_sum / len(zs)).cpu().numpy()
            if detect:
                prob[out] = (prob_sum / len(zs)).cpu().numpy()
    return level, prob
