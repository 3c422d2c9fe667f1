"""Prediction: one pass on the complete input, or the mean over inputs that hide entries."""

import numpy as np
import torch
from shared_helpers import random_target

from gnnimpute.nn.inputs import GeneInput
from gnnimpute.nn.model import GNNImputeModel

CPU = torch.device("cpu")


def _small_model_and_graph(target):
    torch.manual_seed(0)
    log_norm = target.copy()
    log_norm.data = np.log1p(log_norm.data)
    inputs = GeneInput(log_norm, np.arange(target.shape[1]), CPU)
    n = target.shape[0]
    src = np.concatenate([np.arange(n), np.arange(n)])
    dst = np.concatenate([np.arange(n), (np.arange(n) + 1) % n])
    edge_index = torch.as_tensor(np.stack([src, dst]))
    model = GNNImputeModel(inputs.n_features, target.shape[1], hidden=(8, 4), heads=2).eval()
    return model, inputs, edge_index


def predict(model, inputs, edge_index, **draws):
    """Every cell's level and the embedding, as the API's writers get them (`encode_draws`, then
    `decode_layers` over all cells)."""
    from gnnimpute.output.predict import decode_layers, encode_draws

    zs, embedding = encode_draws(model, inputs, edge_index, **draws)
    return decode_layers(model, zs, slice(0, embedding.shape[0]))[0], embedding


def test_predict_on_the_complete_input_is_one_forward_pass():
    target = random_target()
    model, inputs, edge_index = _small_model_and_graph(target)
    out, z = predict(model, inputs, edge_index)
    with torch.no_grad():
        dense, z_ref = model(inputs.full(), edge_index)
    np.testing.assert_allclose(out, dense.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(z, z_ref.numpy(), rtol=1e-5, atol=1e-5)


def test_predict_with_hiding_averages_inputs_that_hide_observed_entries():
    target = random_target()
    model, inputs, edge_index = _small_model_and_graph(target)
    # hide_rate 1: every draw hides every observed entry, i.e. an all-zero input
    out, _ = predict(model, inputs, edge_index, observed=target, hide_rate=1.0, draws=3)
    with torch.no_grad():
        dense, _ = model(torch.zeros_like(inputs.full()), edge_index)
    np.testing.assert_allclose(out, dense.numpy(), rtol=1e-5, atol=1e-5)
    # a partial share: reproducible for a seed, and not the complete-input prediction
    a, _ = predict(model, inputs, edge_index, observed=target, hide_rate=0.3, draws=4, seed=1)
    b, _ = predict(model, inputs, edge_index, observed=target, hide_rate=0.3, draws=4, seed=1)
    full, _ = predict(model, inputs, edge_index)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, full)


def test_decoding_in_cache_sized_blocks_changes_nothing(monkeypatch):
    import gnnimpute.output.predict as predict_module

    torch.manual_seed(0)
    model = GNNImputeModel(4, 12, hidden=(8, 3), detection=True).eval()
    zs = [torch.randn(23, 3) for _ in range(3)]
    whole_level, whole_prob = predict_module.decode_layers(model, zs, slice(2, 21))
    monkeypatch.setattr(predict_module, "DECODE_ROWS", 4)
    level, prob = predict_module.decode_layers(model, zs, slice(2, 21))
    assert level.shape == prob.shape == (19, 12)
    torch.testing.assert_close(torch.as_tensor(level), torch.as_tensor(whole_level))
    torch.testing.assert_close(torch.as_tensor(prob), torch.as_tensor(whole_prob))
    with torch.no_grad():  # the mean over draws of each cell's output
        h = [model.decode_hidden(z[2:21]) for z in zs]
        expected = sum(model.decode_all(x) for x in h) / 3
        expected_prob = sum(model.detect_all(x) for x in h) / 3
    torch.testing.assert_close(torch.as_tensor(level), expected)
    torch.testing.assert_close(torch.as_tensor(prob), expected_prob)
