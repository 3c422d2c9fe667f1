"""Each epoch's bookkeeping shared by both loops: early stopping, the weight average (EMA) and learning-rate decay."""

from __future__ import annotations

import copy
import math
import sys
import time

import torch
from tqdm.auto import tqdm

from ..errors import DivergenceError
from ..nn.model import GNNImputeModel
from ..progress import EpochReporter
from .config import TrainConfig, TrainResult
from .optim import Adam


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
        self.started = time.perf_counter()
        self.decay = PlateauDecay(opt, config.lr_patience, config.lr_factor) if opt else None

    @classmethod
    def begin(cls, model: GNNImputeModel, config: TrainConfig, validate):
        """What both training loops start with: the optimizer, the weight average (or None), the
        progress output and this rule, its clock started; returns (stopping, opt, ema)."""
        opt = Adam(model.parameters(), config.lr, weight_decay=config.weight_decay)
        ema = WeightAverage(model, config.ema_decay) if config.ema_decay > 0 else None
        result = TrainResult(validate=validate)
        started = time.perf_counter()
        stopping = cls(config, result, *epoch_progress(config), opt)
        stopping.started = started
        return stopping, opt, ema

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

    def finish(self, model: GNNImputeModel, start: float | None = None) -> TrainResult:
        """Close the progress output and restore the best weights into `model`; the time counts
        from `start` (default: when `begin` made this rule)."""
        start = self.started if start is None else start
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


def check_finite(train_loss: float, val_loss: float, epoch: int, lr: float) -> None:
    """Stop on a non-finite loss: the weights are ruined, and going on would return NaN as success."""
    if math.isfinite(train_loss) and math.isfinite(val_loss):
        return
    raise DivergenceError(
        f"training diverged at epoch {epoch} (train loss {train_loss:g}, validation {val_loss:g}): "
        f"the learning rate is likely too high (--lr {lr:g}; try 10x smaller) or the counts are "
        "extreme (check the input's scale)"
    )


def epoch_progress(config: TrainConfig) -> tuple:
    """A run's epoch progress: a bar on a terminal, else a log line every few seconds (or none)."""
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
    return bar, reporter
