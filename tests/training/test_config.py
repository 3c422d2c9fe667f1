"""The training configuration: the device that `--device` resolves to."""

import torch

from gnnimpute.training.config import resolve_device


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        try:
            resolve_device("cuda")
        except RuntimeError as exc:
            assert "no CUDA device" in str(exc)
        else:
            raise AssertionError("cuda without a device must fail")
