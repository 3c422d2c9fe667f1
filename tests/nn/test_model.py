import pytest
import torch

from gnnimpute.nn.model import GNNImputeModel


def _graph(n):
    src = torch.arange(n)
    ring = torch.stack([torch.cat([src, src, src]), torch.cat([src, (src + 1) % n, (src - 1) % n])])
    return ring


@pytest.mark.parametrize("layer_type", ["gat", "gcn"])
def test_shapes_and_non_negative_output(layer_type):
    torch.manual_seed(0)
    model = GNNImputeModel(12, 30, hidden=(16, 4), heads=3, layer_type=layer_type)
    x = torch.randn(20, 12)
    out, z = model(x, _graph(20))
    assert out.shape == (20, 30) and z.shape == (20, 4)
    assert torch.all(out >= 0)


def test_decode_genes_matches_dense_output():
    torch.manual_seed(0)
    model = GNNImputeModel(8, 25, hidden=(16, 4)).eval()
    h = model.decode_hidden(model.encode(torch.randn(10, 8), _graph(10)))
    genes = torch.tensor([3, 0, 24])
    torch.testing.assert_close(model.decode_genes(h, genes), model.decode_all(h)[:, genes])


def test_attention_uses_the_graph():
    torch.manual_seed(0)
    model = GNNImputeModel(5, 7, hidden=(8, 3)).eval()
    x = torch.randn(6, 5)
    alone = torch.stack([torch.arange(6), torch.arange(6)])
    out_graph, _ = model(x, _graph(6))
    out_alone, _ = model(x, alone)
    assert not torch.allclose(out_graph, out_alone)


def test_heads_are_averaged_not_concatenated():
    model = GNNImputeModel(5, 7, hidden=(8, 3), heads=4)
    assert model.conv1.heads == 4 and model.conv1.concat is False
    assert model.conv1.out_channels == 8


def test_reset_parameters_and_repr():
    model = GNNImputeModel(5, 7, hidden=(8, 3), layer_type="gcn")
    before = model.out.weight.detach().clone()
    model.reset_parameters()
    assert not torch.equal(before, model.out.weight)
    assert "5 -> 8 -> 3 -> 8 -> 7" in repr(model) and "gcn" in repr(model)


@pytest.mark.parametrize(
    "kwargs", [dict(layer_type="sage"), dict(hidden=(8,)), dict(hidden=(8, 0)), dict(heads=0)]
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        GNNImputeModel(5, 7, **kwargs)


def test_detection_head_and_attention_dropout():
    torch.manual_seed(0)
    model = GNNImputeModel(6, 9, hidden=(8, 4), heads=2, attn_dropout=0.6, detection=True).eval()
    assert model.conv1.dropout == 0.6 and model.conv2.dropout == 0.6
    x = torch.randn(5, 6)
    ei = torch.tensor([[0, 1, 2, 3, 4, 1], [1, 0, 3, 2, 0, 4]])
    with torch.no_grad():
        h = model.decode_hidden(model.encode(x, ei))
        p = model.detect_all(h)
    assert p.shape == (5, 9) and float(p.min()) > 0 and float(p.max()) < 1
    genes = torch.tensor([7, 2])
    torch.testing.assert_close(torch.sigmoid(model.detect_genes(h, genes)), p[:, genes])
    assert GNNImputeModel(6, 9, hidden=(8, 4)).det is None


def test_start_at_sets_each_genes_level_and_detection_rate():
    import numpy as np

    model = GNNImputeModel(12, 4, hidden=(16, 4), detection=True)
    level = np.array([1.0, 2.5, 7.0, 0.5], dtype=np.float32)
    rate = np.array([0.5, 0.9, 0.0, 1.0])  # 0 and 1 are clipped: a finite logit
    model.start_at(level=level, detection_rate=rate)
    np.testing.assert_array_equal(model.gene_scale.numpy(), level)
    bias = model.det.bias.detach().numpy()
    assert np.all(np.isfinite(bias))
    np.testing.assert_allclose(1 / (1 + np.exp(-bias)), [0.5, 0.9, 1e-4, 1 - 1e-4], rtol=1e-4)
    plain = GNNImputeModel(12, 4, hidden=(16, 4))
    plain.start_at(level=level, detection_rate=rate)  # no detection head: the level alone
    np.testing.assert_array_equal(plain.gene_scale.numpy(), level)
