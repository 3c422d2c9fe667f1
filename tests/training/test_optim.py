"""The fused Adam and the plateau decay of the learning rate."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from shared_helpers import imports_module

from gnnimpute.nn.model import GNNImputeModel
from gnnimpute.training import fit
from gnnimpute.training.config import TrainConfig
from gnnimpute.training.optim import Adam
from gnnimpute.training.stopping import PlateauDecay


def _trajectory(make, steps=12):
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(50, 7)) for _ in range(3)]
    opt = make(params)
    for i in range(steps):
        opt.zero_grad()
        used = params[: 2 + i % 2]  # the last one has no gradient every other step
        sum(((p - i) ** 2 * (k + 1)).sum() for k, p in enumerate(used)).backward()
        opt.step()
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_adam_is_torch_fused_adam_step_for_step(weight_decay):
    ours = _trajectory(lambda p: Adam(p, 3e-2, weight_decay=weight_decay))
    fused = _trajectory(lambda p: torch.optim.Adam(p, 3e-2, weight_decay=weight_decay, fused=True))
    plain = _trajectory(lambda p: torch.optim.Adam(p, 3e-2, weight_decay=weight_decay))
    start = _trajectory(lambda p: Adam(p, 3e-2), steps=0)
    for a, b, c, s in zip(ours, fused, plain, start, strict=True):
        assert torch.equal(a, b)  # the same kernel: the same bytes
        torch.testing.assert_close(a, c, rtol=0, atol=1e-5)  # torch's default loop, to rounding
        assert not torch.equal(a, s)  # and the weights did move


def test_adam_leaves_parameters_without_gradients_alone():
    p, q = torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(4))
    opt = Adam([p, q], 0.1)
    p.grad = torch.ones(4)
    opt.step()
    assert torch.all(p < 1) and torch.equal(q.detach(), torch.ones(4))


def test_training_does_not_import_torch_dynamo():
    """torch.optim's first use imports torch._dynamo, about 2 s of CPU on every run."""
    code = (
        "import numpy as np, scipy.sparse as sp, anndata as ad\n"
        "from gnnimpute.api import impute\n"
        "x = sp.csr_matrix(np.random.default_rng(0).poisson(1.0, (40, 30)).astype('float32'))\n"
        "impute(ad.AnnData(X=x), epochs=3, progress=False, predict_draws=1)"
    )
    assert not imports_module(code, "torch._dynamo")


def test_plateau_decay_multiplies_the_rate_every_patience_epochs_without_gain():
    opt = Adam([torch.nn.Parameter(torch.ones(1))], 1.0)
    decay = PlateauDecay(opt, patience=3, factor=0.5)
    rates = []
    for since_gain in [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3]:
        decay.update(since_gain)
        rates.append(opt.lr)
    assert rates == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125]
    off = PlateauDecay(opt, patience=0, factor=0.5)
    for since_gain in range(10):
        off.update(since_gain)
    assert opt.lr == 0.125


def _fit(**overrides):
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, (60, 24)).astype(np.float32)
    target = sp.csr_matrix(counts)
    from gnnimpute.nn.inputs import GeneInput

    log_norm = target.copy()
    log_norm.data = np.log1p(log_norm.data)
    inputs = GeneInput(log_norm, np.arange(24), torch.device("cpu"))
    src = np.repeat(np.arange(60), 3)
    dst = (src + np.tile([0, 1, 2], 60)) % 60
    edges = torch.as_tensor(np.stack([np.sort(src), dst[np.argsort(src, kind="stable")]]))
    torch.manual_seed(0)
    model = GNNImputeModel(24, 24, hidden=(16, 4), heads=1)
    config = TrainConfig(epochs=40, min_epochs=1, progress=False, **overrides)
    return fit(model, inputs, edges, target, config, seed=0)


def test_fit_records_the_learning_rate_it_used():
    constant = _fit(patience=100, lr=0.05, lr_patience=0)
    assert constant.history["lr"] == [0.05] * 40
    decayed = _fit(patience=100, lr=0.05, lr_patience=1, lr_factor=0.5)
    lr = np.asarray(decayed.history["lr"])
    assert lr[0] == 0.05 and np.all(np.diff(lr) <= 0) and lr[-1] < 0.05
    ratios = lr[1:][np.diff(lr) < 0] / lr[:-1][np.diff(lr) < 0]
    np.testing.assert_allclose(ratios, 0.5)
    # the same epochs until the first decay: the rate alone changed
    first = int(np.argmax(lr < 0.05))
    assert first > 0
    assert decayed.history["val_loss"][:first] == constant.history["val_loss"][:first]
    assert decayed.history["val_loss"][first] != constant.history["val_loss"][first]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr-factor", "1"], "--lr-factor"),
        (["--lr-factor", "0"], "--lr-factor"),
        (["--lr-factor", "nan"], "--lr-factor"),
        (["--lr-patience", "-1"], "--lr-patience"),
        (["--lr-patience", "2.5"], "--lr-patience"),
    ],
)
def test_cli_refuses_bad_decay_options_before_any_work(tmp_path, sim_h5ad, args, message):
    from click.testing import CliRunner

    from gnnimpute.cli import main

    out = tmp_path / "out.h5ad"
    result = CliRunner().invoke(main, ["impute", str(sim_h5ad), str(out), "--quiet", *args])
    assert result.exit_code == 2 and message in result.output
    assert not out.exists()


def test_api_refuses_bad_decay_options():
    import anndata as ad

    from gnnimpute.api import impute
    from gnnimpute.errors import InputError

    x = sp.csr_matrix(np.random.default_rng(0).poisson(1.0, (40, 30)).astype(np.float32))
    for bad in ({"lr_patience": -1}, {"lr_patience": 1.5}, {"lr_factor": 1.0}, {"lr_factor": 0}):
        with pytest.raises(InputError):
            impute(ad.AnnData(X=x), progress=False, **bad)
