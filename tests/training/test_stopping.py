"""Stopping: early stopping with the best weights, the relative min_delta and the weight average."""

import numpy as np
import torch
from shared_helpers import random_target

from gnnimpute.nn.inputs import GeneInput
from gnnimpute.nn.model import GNNImputeModel
from gnnimpute.training.entries import ObservedEntries

CPU = torch.device("cpu")


def test_weight_average_is_an_exponential_moving_average():
    from gnnimpute.training.stopping import WeightAverage

    torch.manual_seed(0)
    model = GNNImputeModel(6, 4, hidden=(5, 3), heads=2)
    start = [p.detach().clone() for p in model.parameters()]
    ema = WeightAverage(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    for mine, old in zip(ema.model.parameters(), start, strict=True):
        torch.testing.assert_close(mine, old + 0.1)  # 0.9 * old + 0.1 * (old + 1)
    assert not ema.model.training  # scored in eval mode: no dropout, running BatchNorm stats
    assert all(not p.requires_grad for p in ema.model.parameters())


def _graph_for(n):
    from gnnimpute.graph.knn import knn_edge_index

    nbrs = np.stack([(np.arange(n) + 1) % n, (np.arange(n) - 1) % n], axis=1)
    return torch.as_tensor(knn_edge_index(nbrs))


def test_early_stopping_restores_weights_validated_in_eval_mode():
    """The restored weights, in eval mode, reproduce the best validation loss recorded."""
    from gnnimpute.training import fit
    from gnnimpute.training.config import TrainConfig

    t = random_target(shape=(40, 30))
    log_norm = t.copy()
    log_norm.data = np.log1p(log_norm.data)
    inputs = GeneInput(log_norm, np.arange(30), CPU)
    ei = _graph_for(40)
    torch.manual_seed(0)
    model = GNNImputeModel(30, 30, hidden=(16, 4), dropout=0.5)
    cfg = TrainConfig(epochs=30, patience=5, min_epochs=1, lr=1e-2, progress=False,
                      detection_weight=0.0)  # fmt: skip
    result = fit(model, inputs, ei, t, cfg, seed=3)
    best = min(result.history["val_loss"])
    assert result.history["val_loss"][result.best_epoch - 1] == best
    # An independent computation: the held-out entries (the first draw of the seed's generator)
    # hidden from the input, the dense output in eval mode, the MSE at those entries.
    e = ObservedEntries(t, cfg.val_rate, np.random.default_rng(3))
    x = inputs.hidden(e.rows[e.val], e.cols[e.val], np.log1p(e.values[e.val]))
    assert np.isclose(result.validate(model), best, rtol=1e-6) and model.training
    model.eval()
    with torch.no_grad():
        out = model(x, ei)[0].numpy()
        assert np.isclose(
            np.mean((out[e.rows[e.val], e.cols[e.val]] - e.values[e.val]) ** 2), best, rtol=1e-5
        )
        model.train()  # with dropout on (and batch statistics), the same weights score differently
        train_mode = model(x, ei)[0].numpy()
    assert not np.isclose(
        np.mean((train_mode[e.rows[e.val], e.cols[e.val]] - e.values[e.val]) ** 2), best, rtol=1e-3
    )


class _Quiet:
    def set_postfix(self, **_):
        pass

    def update(self, *_):
        pass


def _stopping_run(losses, **config):
    """Feed `losses` to EarlyStopping; the epoch it stops at and the weights it kept."""
    from gnnimpute.training.config import TrainConfig, TrainResult
    from gnnimpute.training.stopping import EarlyStopping

    stopper = EarlyStopping(TrainConfig(min_epochs=1, **config), TrainResult(), _Quiet(), _Quiet())
    scored = torch.nn.Linear(1, 1, bias=False)
    for epoch, loss in enumerate(losses, start=1):
        scored.weight.data.fill_(epoch)  # weights that say which epoch they come from
        if stopper.update(epoch, loss, loss, scored):
            break
    return epoch, stopper.result.best_epoch, float(stopper.best_state["weight"])


def test_min_delta_restarts_patience_only_on_a_relative_gain_but_keeps_the_best_weights():
    slow = [100.0, 95.0, 92.0, 91.0, 90.5, 90.2, 80.0]  # strictly better every epoch
    # without min_delta every epoch is an improvement: no stop
    assert _stopping_run(slow, patience=3, min_delta=0.0) == (7, 7, 7.0)
    # 10 %: 95, 92 and 91 are not 10 % under 100, so patience runs out at epoch 4; the weights
    # kept are epoch 4's, the best scored, not epoch 1's
    assert _stopping_run(slow, patience=3, min_delta=0.1) == (4, 4, 4.0)
    # a real gain restarts patience, measured from the loss at that gain (89 then needs < 80.1)
    assert _stopping_run([100.0, 89.0, 85.0, 81.0, 80.5, 70.0], patience=3, min_delta=0.1) == (
        5, 5, 5.0)  # fmt: skip
