"""What a training run is told (`TrainConfig`), what it returns (`TrainResult`), and where it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..errors import InputError
from ..nn.model import GNNImputeModel
from ..options import TrainingOptions


@dataclass(frozen=True, kw_only=True)
class TrainConfig(TrainingOptions):
    """The training loop's options: the user's, with the batch and loss cells resolved to counts."""

    min_epochs: int = 50
    progress: bool = True
    batch_cells: int = 0  # > 0: mini-batches of this many seed cells (minibatch.py)
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


def parse_cell_count(choice, name: str) -> int:
    """A non-negative whole number of cells from an option (int or its text); else an input error."""
    whole = isinstance(choice, int | str) and not isinstance(choice, bool)
    try:
        value = int(choice) if whole else None
    except ValueError:
        value = None
    if value is None:
        raise InputError(f"{name} must be an integer, 0 or 'auto', got {choice!r}")
    if value < 0:
        raise InputError(f"{name} must be >= 0, got {value}")
    return value
